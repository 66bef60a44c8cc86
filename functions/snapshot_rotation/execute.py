"""The only module that changes AWS: creates, deletes and copies snapshots, one call per snapshot.

Every mutation runs on a bounded thread pool, honours ``dry_run`` and the time budget, and records its outcome
in the unit's result. A failure of one snapshot is recorded and the others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from functions.snapshot_rotation.models import (
    MANAGED_TAG,
    POLICY_TAG,
    SOURCE_REGION_TAG,
    SOURCE_SNAPSHOT_TAG,
    TAG_PREFIX,
    VOLUME_TAG,
    Policy,
    VolumeView,
)
from functions.snapshot_rotation.plan import Decision, period_key
from shared.aws import error_code
from shared.clock import TimeBudget
from shared.observability import logger
from shared.pacing import is_throttling
from shared.progress import advance, expect
from shared.report import Action, UnitResult

MAX_TAGS = 50
MAX_TAG_VALUE = 256
PAST = {"create": "created", "delete": "deleted", "copy": "copied"}
LEFT_FOR_NEXT_RUN = {
    # per-volume limits on snapshot creation: the volume is tried again on the next run
    "create": ("SnapshotCreationPerVolumeRateExceeded", "ConcurrentSnapshotLimitExceeded"),
    # the per-region limit on concurrent copies: the copy waits for a run with free slots
    "copy": ("ResourceLimitExceeded",),
}


def snapshot_tags(volume: VolumeView, policy: Policy, now: datetime) -> list[dict[str, str]]:
    """Tags of a new snapshot: the volume's (less ``aws:*`` and our own), a Name, and the ownership tags."""
    suffix = f" {period_key(now, policy.period, policy.retention.zone)}"
    name = (volume.tags.get("Name") or volume.volume_id)[: MAX_TAG_VALUE - len(suffix)] + suffix
    own = {MANAGED_TAG: "true", POLICY_TAG: policy.name, VOLUME_TAG: volume.volume_id, "Name": name}
    inherited = {
        k: v
        for k, v in sorted(volume.tags.items())
        if not k.startswith("aws:") and not k.startswith(TAG_PREFIX) and k not in own
    }
    merged = dict(list(inherited.items())[: MAX_TAGS - len(own)]) | own
    return [{"Key": k, "Value": v} for k, v in merged.items()]


def copy_tags(source_tags: Mapping[str, str], source_id: str, source_region: str) -> list[dict[str, str]]:
    """Tags of a DR copy: the source's ownership tags, where it came from, then as many other tags as fit."""
    own = {k: v for k, v in source_tags.items() if k.startswith(TAG_PREFIX)}
    own |= {SOURCE_SNAPSHOT_TAG: source_id, SOURCE_REGION_TAG: source_region}
    inherited = sorted((k, v) for k, v in source_tags.items() if not k.startswith(("aws:", TAG_PREFIX)))
    tags = dict(inherited[: MAX_TAGS - len(own)]) | own
    return [{"Key": k, "Value": v} for k, v in tags.items()]


class Mutator:
    """Runs a unit's mutations: dry run, time budget, one call per snapshot, outcomes into the result."""

    def __init__(self, result: UnitResult, *, dry_run: bool, budget: TimeBudget, max_workers: int) -> None:
        self.result = result
        self.dry_run = dry_run
        self.budget = budget
        self.max_workers = max_workers

    def record(self, decisions: Iterable[Decision], region: str) -> None:
        """Record the decisions that need no call (keep, skip)."""
        for d in decisions:
            verb = "kept" if d.action == "keep" else "skipped"
            self.result.add(
                Action(
                    action=d.action,
                    resource=d.resource,
                    reason=d.reason,
                    status="done",
                    detail={"volume_id": d.volume_id, "region": region},
                )
            )
            self.result.count(verb)

    def run(self, decisions: Sequence[Decision], region: str, call: Callable[[Decision], dict[str, Any]]) -> None:
        """Carry out mutating decisions with ``call`` (one AWS call each), at most ``max_workers`` at a time."""
        if not decisions:
            return
        if self.dry_run:
            for d in decisions:
                self.result.add(
                    Action(
                        action=d.action,
                        resource=d.resource,
                        reason=d.reason,
                        status="planned",
                        detail={"volume_id": d.volume_id, "region": region},
                    )
                )
                self.result.count(f"{d.action}_planned")
            return
        label = f"snapshots to {decisions[0].action}"
        expect(label, len(decisions))

        def one(d: Decision) -> None:
            self._one(d, region, call)
            advance(label)

        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="mutate") as pool:
            list(pool.map(one, decisions))

    def _one(self, d: Decision, region: str, call: Callable[[Decision], dict[str, Any]]) -> None:
        detail: dict[str, Any] = {"volume_id": d.volume_id, "region": region}
        if self.budget.exhausted():
            self._defer(d, detail, "not started: time budget exhausted")
            return
        try:
            detail |= call(d)
        except ClientError as exc:
            code = error_code(exc)
            if d.action == "delete" and code == "InvalidSnapshot.NotFound":
                detail["note"] = "already gone"
            elif code in LEFT_FOR_NEXT_RUN.get(d.action, ()):
                self._defer(d, detail | {"error_code": code}, f"{code}: left for the next run")
                return
            elif is_throttling(exc):
                why = f"{code}: still throttled after botocore's retries; left for the next run"
                self._defer(d, detail | {"error_code": code}, why)
                return
            elif d.action == "delete" and code == "InvalidSnapshot.InUse":
                reason = "in use (an AMI registered since the plan was made)"
                self.result.add(
                    Action(action=d.action, resource=d.resource, status="skipped", reason=reason, detail=detail)
                )
                self.result.count("skipped")
                return
            else:
                self._failed(d, region, detail, exc)
                return
        except Exception as exc:  # noqa: BLE001 - one snapshot's failure is recorded; the others go on
            self._failed(d, region, detail, exc)
            return
        logger.info("snapshot action done", action=d.action, resource=d.resource, **detail)
        self.result.add(Action(action=d.action, resource=d.resource, reason=d.reason, status="done", detail=detail))
        self.result.count(PAST[d.action])

    def _defer(self, d: Decision, detail: dict[str, Any], why: str) -> None:
        """Not done this run, by design: the unit is incomplete and the next run's plan picks the item up again."""
        logger.info("snapshot action deferred", action=d.action, resource=d.resource, why=why, **detail)
        self.result.complete = False
        self.result.add(
            Action(action=d.action, resource=d.resource, status="skipped", reason=f"{d.reason}; {why}", detail=detail)
        )
        self.result.count("deferred")

    def _failed(self, d: Decision, region: str, detail: dict[str, Any], exc: Exception) -> None:
        code = error_code(exc)
        logger.warning("snapshot action failed", action=d.action, resource=d.resource, error_code=code, **detail)
        self.result.add(
            Action(
                action=d.action,
                resource=d.resource,
                reason=d.reason,
                status="failed",
                detail=detail | {"error_code": code},
            )
        )
        self.result.fail(d.action, exc, resource=f"{region}/{d.resource}")


def creator(
    ec2: Any, volumes: Mapping[str, VolumeView], policy: Policy, now: datetime
) -> Callable[[Decision], dict[str, Any]]:
    def create(d: Decision) -> dict[str, Any]:
        volume = volumes[d.volume_id]
        resp = ec2.create_snapshot(
            VolumeId=d.volume_id,
            Description=f"devops-tasks policy {policy.name}: {d.reason}",
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": snapshot_tags(volume, policy, now)}],
        )
        return {"snapshot_id": resp["SnapshotId"]}

    return create


def deleter(ec2: Any) -> Callable[[Decision], dict[str, Any]]:
    def delete(d: Decision) -> dict[str, Any]:
        ec2.delete_snapshot(SnapshotId=d.resource)
        return {}

    return delete


def copier(
    dr_ec2: Any, policy: Policy, source_region: str, source_tags: Mapping[str, Mapping[str, str]]
) -> Callable[[Decision], dict[str, Any]]:
    assert policy.dr is not None

    def copy(d: Decision) -> dict[str, Any]:
        params: dict[str, Any] = {
            "SourceRegion": source_region,
            "SourceSnapshotId": d.resource,
            "Description": f"devops-tasks policy {policy.name}: DR copy of {d.resource} from {source_region}",
            "TagSpecifications": [
                {"ResourceType": "snapshot", "Tags": copy_tags(source_tags[d.resource], d.resource, source_region)}
            ],
        }
        if policy.dr and policy.dr.kms_key_id:
            params |= {"Encrypted": True, "KmsKeyId": policy.dr.kms_key_id}
        resp = dr_ec2.copy_snapshot(**params)
        return {"copy_id": resp["SnapshotId"], "destination_region": policy.dr.region if policy.dr else ""}

    return copy
