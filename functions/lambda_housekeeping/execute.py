"""The only module that changes AWS: deletes function versions and layer versions, one call per deletion.

Every deletion runs on a bounded thread pool, honours ``dry_run`` and the time budget, and records its outcome in
the unit's result. One deletion's failure is recorded and the others go on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from functions.lambda_housekeeping.plan import Decision
from shared.aws import error_code
from shared.clock import TimeBudget
from shared.observability import logger
from shared.pacing import is_throttling
from shared.progress import advance, expect
from shared.report import Action, UnitResult

REPLICATED = "replicated function"
"""In the message of the InvalidParameterValueException AWS answers for a Lambda@Edge version that CloudFront
has replicated ("Lambda was unable to delete ... because it is a replicated function")."""


class RefusedCall(Exception):
    """A decision the deleter will not send to AWS (e.g. an unqualified function or ``$LATEST``)."""


def _message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message") or "")
    return str(exc)


class Deleter:
    """Carries out a unit's deletions: dry run, time budget, one call each, outcomes (and bytes freed) recorded."""

    def __init__(self, result: UnitResult, *, region: str, dry_run: bool, budget: TimeBudget, max_workers: int) -> None:
        self.result = result
        self.region = region
        self.dry_run = dry_run
        self.budget = budget
        self.max_workers = max_workers
        self.freed_bytes = 0
        self._lock = threading.Lock()

    def _detail(self, d: Decision) -> dict[str, Any]:
        detail: dict[str, Any] = {"kind": d.kind, "name": d.name, "region": self.region, "size": d.code_size}
        if d.version:
            detail["version"] = d.version
        return detail

    def record(self, decisions: Iterable[Decision]) -> None:
        """Record the decisions that need no call (keep, skip)."""
        for d in decisions:
            self.result.add(
                Action(action=d.action, resource=d.resource, reason=d.reason, status="done", detail=self._detail(d))
            )
            self.result.count("kept" if d.action == "keep" else "skipped")

    def run(self, decisions: Sequence[Decision], call: Callable[[Decision], None], what: str) -> None:
        """Carry out ``delete`` decisions with ``call`` (one AWS call each), at most ``max_workers`` at a time."""
        if not decisions:
            return
        if self.dry_run:
            for d in decisions:
                self.result.add(Action(action=d.action, resource=d.resource, reason=d.reason, detail=self._detail(d)))
                self.result.count("delete_planned")
            return
        expect(what, len(decisions))

        def one(d: Decision) -> None:
            self._one(d, call)
            advance(what)

        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="delete") as pool:
            list(pool.map(one, decisions))

    def _one(self, d: Decision, call: Callable[[Decision], None]) -> None:
        detail = self._detail(d)
        if self.budget.exhausted():
            self._defer(d, detail, "not started: time budget exhausted")
            return
        try:
            call(d)
        except ClientError as exc:
            code, message = error_code(exc), _message(exc)
            if code == "ResourceNotFoundException":
                detail["note"] = "already gone"
            elif code == "ResourceConflictException":  # an alias moved to it since the plan, or an update in flight
                self._skip(d, detail | {"error_code": code}, f"in use or busy, left as it is: {message}", "skipped")
                return
            elif code == "InvalidParameterValueException" and REPLICATED in message:
                why = "refused by AWS: a Lambda@Edge replica exists (CloudFront still uses it)"
                self._skip(d, detail | {"error_code": code}, why, "refused")
                return
            elif is_throttling(exc):  # the rate limit clears by itself: the item waits for the next run
                why = f"{code}: still throttled after botocore's retries; left for the next run"
                self._defer(d, detail | {"error_code": code}, why)
                return
            else:
                self._failed(d, detail, exc)
                return
        except Exception as exc:  # noqa: BLE001 - one deletion's failure is recorded; the others go on
            self._failed(d, detail, exc)
            return
        logger.info(
            "lambda housekeeping deletion done", resource=d.resource, region=self.region, note=detail.get("note")
        )
        self.result.add(Action(action=d.action, resource=d.resource, reason=d.reason, status="done", detail=detail))
        self.result.count("deleted")
        with self._lock:
            self.freed_bytes += d.code_size

    def _skip(self, d: Decision, detail: dict[str, Any], why: str, counter: str) -> None:
        logger.info("lambda housekeeping deletion skipped", resource=d.resource, region=self.region, why=why)
        self.result.add(
            Action(action=d.action, resource=d.resource, status="skipped", reason=f"{d.reason}; {why}", detail=detail)
        )
        self.result.count(counter)

    def _defer(self, d: Decision, detail: dict[str, Any], why: str) -> None:
        """Not done this run, by design: the unit is incomplete and the next run's plan picks the item up again."""
        self.result.complete = False
        self._skip(d, detail, why, "deferred")

    def _failed(self, d: Decision, detail: dict[str, Any], exc: Exception) -> None:
        code = error_code(exc)
        logger.warning("lambda housekeeping deletion failed", resource=d.resource, region=self.region, error_code=code)
        self.result.add(
            Action(
                action=d.action,
                resource=d.resource,
                reason=d.reason,
                status="failed",
                detail=detail | {"error_code": code},
            )
        )
        self.result.fail("delete", exc, resource=f"{self.region}/{d.resource}")


def version_deleter(lam: Any) -> Callable[[Decision], None]:
    """DeleteFunction with a version number as the qualifier: only ever that version, never the function."""

    def delete(d: Decision) -> None:
        if d.kind != "version" or not d.version.isdigit() or not d.resource.endswith(f":{d.version}"):
            raise RefusedCall(f"not a published version: {d.resource}")
        lam.delete_function(FunctionName=d.resource.rsplit(":", 1)[0], Qualifier=d.version)

    return delete


def layer_deleter(lam: Any) -> Callable[[Decision], None]:
    def delete(d: Decision) -> None:
        if d.kind != "layer-version" or not d.version.isdigit() or not d.resource.endswith(f":{d.version}"):
            raise RefusedCall(f"not a layer version: {d.resource}")
        lam.delete_layer_version(LayerName=d.resource.rsplit(":", 1)[0], VersionNumber=int(d.version))

    return delete
