"""The check framework: a check is a pure function from an inventory to outcomes, with its metadata.

Checks never call AWS and never read the clock: the inventory holds what the listings returned (or the error that
stopped a listing), and ``now`` comes in through :class:`CheckEnv`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from functions.resource_audit.models import Category, ResourceAuditInput, Severity
from functions.resource_audit.prices import SHIPPED, PriceTable

OutcomeStatus = Literal["FAIL", "PASS", "ERROR"]
Scope = Literal["region", "account"]
"""``region``: runs on every (account, region) inventory. ``account``: once per account (IAM, S3, CloudTrail)."""


@dataclass(frozen=True)
class SourceError:
    """Why a listing (or one resource's read) did not come back: its AWS error code and message."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


@dataclass
class Inventory:
    """What the listings of one scope returned, by source name, and the sources that failed."""

    account: str
    region: str
    partition: str = "aws"
    data: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, SourceError] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.data[name]

    def arn(self, service: str, resource: str, *, account: bool = True, region: bool = True) -> str:
        acct = self.account if account else ""
        where = self.region if region else ""
        return f"arn:{self.partition}:{service}:{where}:{acct}:{resource}"


@dataclass(frozen=True)
class CheckEnv:
    """What a check may read besides the inventory: the run's settings, its "now" and its price table."""

    params: ResourceAuditInput
    now: datetime
    prices: PriceTable = SHIPPED


@dataclass(frozen=True)
class Outcome:
    """A check's verdict on one resource, before suppressions are applied."""

    resource: str
    resource_type: str
    status: OutcomeStatus
    evidence: str
    arn: str | None = None
    saving: float | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    region: str | None = None
    """Where the resource lives when it is not the inventory's region (S3 buckets of an account-scope check)."""


Runner = Callable[[Inventory, CheckEnv], Iterable[Outcome]]
Needs = tuple[str, ...] | Callable[[ResourceAuditInput], tuple[str, ...]]


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    category: Category
    severity: Severity
    scope: Scope
    needs: Needs
    looks_at: str
    remediation: str
    run: Runner
    link: str = ""
    """The AWS documentation page that shows how to fix it."""
    cis: tuple[str, ...] = ()
    """CIS AWS Foundations Benchmark v3.0.0 controls it covers (none: the benchmark has no such control)."""
    prowler: tuple[str, ...] = ()
    """The nearest Prowler check ids (none: Prowler has no such check)."""

    def sources(self, params: ResourceAuditInput) -> tuple[str, ...]:
        """The inventory sources this check reads with these settings."""
        return self.needs(params) if callable(self.needs) else self.needs


REGISTRY: list[Check] = []


def check(
    *,
    id: str,
    title: str,
    category: Category,
    severity: Severity,
    scope: Scope,
    needs: Needs,
    looks_at: str,
    remediation: str,
    link: str,
    cis: tuple[str, ...] = (),
    prowler: tuple[str, ...] = (),
) -> Callable[[Runner], Runner]:
    """Declare a check: its metadata and the sources it reads. The order of declaration is the report's order."""

    def register(fn: Runner) -> Runner:
        if any(c.id == id for c in REGISTRY):
            raise ValueError(f"duplicate check id {id}")
        REGISTRY.append(
            Check(id, title, category, severity, scope, needs, looks_at, remediation, fn, link, cis, prowler)
        )
        return fn

    return register


def tags_of(raw: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    """EC2-style ``[{"Key": k, "Value": v}]`` as a dict."""
    return {t["Key"]: t.get("Value", "") for t in raw or []}


def as_utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def age_days(then: datetime | str, now: datetime) -> int:
    return (now - as_utc(then)).days


def parse_time(value: object) -> datetime | None:
    """A timestamp as AWS returns it (a datetime, or ISO 8601 text); None when it is missing or unreadable, which
    a check reports as ERROR, never as PASS."""
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, str) and value:
        try:
            return as_utc(value)
        except ValueError:
            return None
    return None


_STOP_TIME = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?:GMT|UTC)\)")


def stopped_at(reason: str | None) -> datetime | None:
    """When an instance stopped, from ``StateTransitionReason`` ("User initiated (2024-01-02 03:04:05 GMT)")."""
    match = _STOP_TIME.search(reason or "")
    if not match:
        return None
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def flag(value: object) -> bool | None:
    """A credential report's ``true``/``false`` (or a summary's 1/0); None for anything else (not reported)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value == 1 if value in (0, 1) else None
    text = str(value or "").strip().lower()
    return {"true": True, "false": False}.get(text)


def money(value: float) -> float:
    return round(value, 2)
