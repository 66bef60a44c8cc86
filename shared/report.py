"""The run report: one typed model per run, returned by the handler and written as JSON to S3."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, computed_field

SCHEMA_VERSION = 1

ActionStatus = Literal["planned", "done", "failed", "skipped"]


class Action(BaseModel):
    """One decision about one resource, with the reason for it."""

    model_config = ConfigDict(extra="forbid")

    action: str
    resource: str
    reason: str
    status: ActionStatus = "planned"
    detail: dict[str, Any] = Field(default_factory=dict)


class Failure(BaseModel):
    """One item that failed. The run goes on; the invocation fails at the end."""

    model_config = ConfigDict(extra="forbid")

    operation: str
    resource: str | None = None
    error_code: str
    message: str


class UnitResult(BaseModel):
    """What happened in one (account, region)."""

    model_config = ConfigDict(extra="forbid")

    account: str
    region: str
    complete: bool = True
    counts: dict[str, int] = Field(default_factory=dict)
    actions: list[Action] = Field(default_factory=list)
    failures: list[Failure] = Field(default_factory=list)

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def label(self) -> str:
        return f"{self.account}/{self.region}"

    def add(self, action: Action) -> Action:
        """Record an action (thread-safe)."""
        with self._lock:
            self.actions.append(action)
        return action

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def fail(
        self, operation: str, exc: BaseException | str, resource: str | None = None, *, code: str = "Error"
    ) -> Failure:
        """Record a failure of one item (thread-safe); ``code`` is the error code of a failure given as text."""
        from shared.aws import error_code

        if isinstance(exc, str):
            failure = Failure(operation=operation, resource=resource, error_code=code, message=exc)
        else:
            failure = Failure(operation=operation, resource=resource, error_code=error_code(exc), message=str(exc))
        with self._lock:
            self.failures.append(failure)
            self.counts["failed"] = self.counts.get("failed", 0) + 1
        return failure


class RunReport(BaseModel):
    """The whole run: every unit's actions and failures, and whether the run got through everything."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    task: str
    run_id: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None = None
    complete: bool = True
    units: list[UnitResult] = Field(default_factory=list)
    location: str | None = None
    approval: dict[str, Any] | None = Field(default=None, description="who asked for and approved this run (ChatOps)")
    notes: list[str] = Field(default_factory=list, description="headline lines a task adds for people (SNS, CLI)")
    links: dict[str, str] = Field(
        default_factory=dict, description="other artefacts of the run, by name; may hold presigned URLs: never logged"
    )

    @property
    def failures(self) -> list[Failure]:
        return [f for unit in self.units for f in unit.failures]

    @property
    def failed(self) -> bool:
        return bool(self.failures)

    @property
    def totals(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for unit in self.units:
            total.update(unit.counts)
        return dict(sorted(total.items()))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> Literal["succeeded", "failed", "incomplete"]:
        if self.failed:
            return "failed"
        return "succeeded" if self.complete else "incomplete"

    def dated_key(self, prefix: str) -> str:
        """``<prefix>/<task>/YYYY/MM/DD/<HHMMSS>Z-<run id>.json``: sorts by time, one key per run."""
        at = self.started_at
        head = f"{prefix}/" if prefix else ""
        return f"{head}{self.task}/{at:%Y/%m/%d}/{at:%H%M%S}Z-{self.run_id}.json"

    def summary(self) -> dict[str, Any]:
        """The report without per-item actions: small enough for logs, SNS and a Lambda response."""
        return {
            "task": self.task,
            "run_id": self.run_id,
            "status": self.status,
            "dry_run": self.dry_run,
            "complete": self.complete,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "totals": self.totals,
            "units": [
                {"unit": u.label, "complete": u.complete, "counts": u.counts, "failures": len(u.failures)}
                for u in self.units
            ],
            "failures": [f.model_dump() for f in self.failures[:20]],
            "location": self.location,
            "approval": self.approval,
            "notes": self.notes,
        }

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> RunReport:
        """A report as :meth:`to_json` wrote it (its computed ``status`` is computed again, not read)."""
        data = json.loads(text)
        return cls.model_validate({k: v for k, v in data.items() if k not in cls.model_computed_fields})


UnitStatus = Literal["ok", "failed", "incomplete"]


def unit_status(unit: UnitResult) -> UnitStatus:
    """A unit with a failure failed; one without that did not get through everything is incomplete; else ok."""
    if unit.failures:
        return "failed"
    return "ok" if unit.complete else "incomplete"


class AccountTotals(BaseModel):
    """One account's units of a run, added up: how many ended in each status, their counts and failures."""

    model_config = ConfigDict(extra="forbid")

    account: str
    regions: list[str] = Field(default_factory=list)
    units: int = 0
    ok: int = 0
    failed: int = 0
    incomplete: int = 0
    failures: int = 0
    counts: dict[str, int] = Field(default_factory=dict)

    def add(self, unit: UnitResult) -> None:
        if unit.region not in self.regions:
            self.regions = sorted([*self.regions, unit.region])
        self.units += 1
        status = unit_status(unit)
        setattr(self, status, getattr(self, status) + 1)
        self.failures += len(unit.failures)
        counts = Counter(self.counts)
        counts.update(unit.counts)  # (update, not +: a count of 0 stays in the row)
        self.counts = dict(sorted(counts.items()))


def by_account(units: Iterable[UnitResult]) -> list[AccountTotals]:
    """The units grouped by account (in account order), each unit in exactly one row."""
    rows: dict[str, AccountTotals] = {}
    for unit in units:
        rows.setdefault(unit.account, AccountTotals(account=unit.account)).add(unit)
    return [rows[a] for a in sorted(rows)]


def total_of(rows: Iterable[AccountTotals], account: str = "total") -> AccountTotals:
    """The sum of ``rows``: units, statuses, failures and counts added up, the regions of any row."""
    total = AccountTotals(account=account)
    counts: Counter[str] = Counter()
    regions: set[str] = set()
    for row in rows:
        total.units += row.units
        total.ok += row.ok
        total.failed += row.failed
        total.incomplete += row.incomplete
        total.failures += row.failures
        counts.update(row.counts)
        regions.update(row.regions)
    total.counts = dict(sorted(counts.items()))
    total.regions = sorted(regions)
    return total


def response_of(report: RunReport, max_bytes: int = 5_000_000) -> dict[str, Any]:
    """What the handler returns: the full report, or its summary if it would not fit a Lambda response."""
    full: dict[str, Any] = report.model_dump(mode="json")
    if len(json.dumps(full)) <= max_bytes:
        return full
    summary = report.summary()
    summary["actions_omitted"] = True
    return summary
