"""The audit report: one typed, versioned model that the JSON, CSV and HTML renderings all come from."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from functions.resource_audit.models import CATEGORIES, SEVERITIES, STATUSES, Category, Severity, Status

SCHEMA = "devops-tasks/resource-audit"
SCHEMA_VERSION = 1
"""Bumped on any change a reader of the JSON would notice (renamed or removed fields); new fields keep it."""


class CheckInfo(BaseModel):
    """What a check is: shipped in every report so a reader needs nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    category: Category
    severity: Severity
    scope: str
    remediation: str
    link: str = Field(default="", description="the AWS documentation page on fixing it")
    cis: list[str] = Field(default_factory=list, description="CIS AWS Foundations Benchmark v3.0.0 controls")
    prowler: list[str] = Field(default_factory=list, description="the nearest Prowler check ids")


class Finding(BaseModel):
    """One check on one resource (or on one scope, for account and region settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check_id: str
    title: str
    category: Category
    severity: Severity
    status: Status
    account: str
    region: str
    resource_type: str
    resource: str
    arn: str | None = None
    evidence: str
    monthly_saving_usd: float | None = None
    suppressed_by: str | None = None

    @property
    def key(self) -> str:
        """Identity across runs: the same check on the same resource in the same place."""
        return f"{self.check_id}|{self.account}|{self.region}|{self.resource}"

    @property
    def scope(self) -> tuple[str, str, str]:
        return (self.check_id, self.account, self.region)


class ExpiredSuppression(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    check: str
    resource: str
    reason: str
    expires: date
    matched: int = Field(description="findings it would have suppressed")


class Diff(BaseModel):
    """What changed since the previous report: what an on-call person reads first."""

    model_config = ConfigDict(extra="forbid")

    previous_run_id: str | None = None
    previous_generated_at: datetime | None = None
    previous_problem: str | None = Field(
        default=None, description="why there is no diff although a previous report may exist (it could not be read)"
    )
    new: list[Finding] = Field(default_factory=list, description="failing now, not failing last time")
    resolved: list[Finding] = Field(default_factory=list, description="failing last time (as it was), not now")
    unknown: list[Finding] = Field(
        default_factory=list,
        description="failing now (as it is) or last time (as it was), in a check scope or on a resource that was in "
        "ERROR, or not audited, in the other report: neither new nor resolved",
    )
    still_open: int = 0

    @property
    def new_keys(self) -> set[str]:
        return {f.key for f in self.new}


class Summary(BaseModel):
    """Counts of failing findings (FAIL) by severity, category, region and account; statuses of all of them."""

    model_config = ConfigDict(extra="forbid")

    by_status: dict[str, int]
    by_severity: dict[str, int]
    by_category: dict[str, int]
    by_region: dict[str, int]
    by_account: dict[str, int]
    monthly_saving_usd: float
    checks_run: int
    checks_in_error: list[str]


class AccountSummary(BaseModel):
    """One account's part of the run: where it was audited, what fails there, what could not be checked."""

    model_config = ConfigDict(extra="forbid")

    account: str
    regions: list[str] = Field(description="regions where at least one check scope was audited cleanly")
    by_status: dict[str, int] = Field(description="every finding of the account by status")
    by_severity: dict[str, int] = Field(description="its failing findings (FAIL) by severity")
    checks_in_error: list[str] = Field(description="checks with an ERROR finding in the account")
    new: int = Field(description="failing findings new since the previous report")
    unaudited: int = Field(description="check scopes of the account this run did not audit cleanly")


def scope_parts(scope: str) -> tuple[str, str, str]:
    """``check|account|region`` (as in ``unaudited`` and the audited scopes) as its three parts."""
    check, account, region = scope.split("|", 2)
    return check, account, region


def summarize_accounts(
    accounts: Iterable[str],
    findings: Iterable[Finding],
    new: Iterable[Finding],
    audited: Iterable[str],
    unaudited: Iterable[str],
) -> list[AccountSummary]:
    """The per-account summary, one row per account of the run (and any other account a finding or an unaudited
    scope names), in
    account order: its rows add up to the run's summary (statuses, severities of FAIL, new findings)."""
    findings, new, unaudited = list(findings), list(new), list(unaudited)
    missing = Counter(scope_parts(scope)[1] for scope in unaudited)
    names = set(accounts) | {f.account for f in findings} | {f.account for f in new} | set(missing)
    regions: dict[str, set[str]] = {a: set() for a in names}
    for scope in audited:
        _, account, region = scope_parts(scope)
        if account in regions and region != "*":
            regions[account].add(region)
    new_by = Counter(f.account for f in new)
    rows = []
    for account in sorted(names):
        mine = [f for f in findings if f.account == account]
        statuses = Counter(f.status for f in mine)
        severities = Counter(f.severity for f in mine if f.status == "FAIL")
        rows.append(
            AccountSummary(
                account=account,
                regions=sorted(regions[account]),
                by_status={s: statuses.get(s, 0) for s in STATUSES},
                by_severity={s: severities.get(s, 0) for s in SEVERITIES},
                checks_in_error=sorted({f.check_id for f in mine if f.status == "ERROR"}),
                new=new_by.get(account, 0),
                unaudited=missing.get(account, 0),
            )
        )
    return rows


def worst(rows: Iterable[AccountSummary], n: int = 3) -> list[AccountSummary]:
    """The ``n`` accounts with the most severe failures (most critical, then high, ...), failing ones only."""
    failing = [r for r in rows if any(r.by_severity.values())]
    return sorted(failing, key=lambda r: (*(-r.by_severity.get(s, 0) for s in SEVERITIES), r.account))[:n]


class PriceSource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    as_of: str
    note: str
    refresh_problem: str | None = Field(
        default=None, description="why the asked-for Price List refresh did not happen (the shipped table is used)"
    )


class AuditReport(BaseModel):
    """The whole audit of one run. Field order is the reading order of the JSON: summary and diff first."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_name: str = Field(default=SCHEMA, alias="schema")
    schema_version: int = SCHEMA_VERSION
    run_id: str
    generated_at: datetime
    complete: bool = True
    accounts: list[str]
    regions: list[str]
    summary: Summary
    diff: Diff
    per_account: list[AccountSummary] = Field(
        default_factory=list, description="per account of the run: regions audited, findings, new, not audited"
    )
    expired_suppressions: list[ExpiredSuppression] = Field(default_factory=list)
    prices: PriceSource
    checks: list[CheckInfo]
    findings: list[Finding]
    unaudited: list[str] | None = Field(
        default=None,
        description="check scopes this run should have audited and did not audit cleanly (listing or check "
        "error, unit failed, time ran out): check|account|region, region * for account-wide checks, check * for "
        "an account that could not be reached; absent in reports written before it existed",
    )

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, by_alias=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> AuditReport:
        return cls.model_validate_json(raw)


def summarize(findings: list[Finding], checks_run: int) -> Summary:
    """Counts for the summary: statuses of every finding; severity, category, region, account of FAILs."""
    failing = [f for f in findings if f.status == "FAIL"]
    statuses = Counter(f.status for f in findings)
    severities = Counter(f.severity for f in failing)
    categories = Counter(f.category for f in failing)
    return Summary(
        by_status={s: statuses.get(s, 0) for s in STATUSES},
        by_severity={s: severities.get(s, 0) for s in SEVERITIES},
        by_category={c: categories.get(c, 0) for c in CATEGORIES},
        by_region=dict(sorted(Counter(f.region for f in failing).items())),
        by_account=dict(sorted(Counter(f.account for f in failing).items())),
        monthly_saving_usd=round(sum(f.monthly_saving_usd or 0.0 for f in failing), 2),
        checks_run=checks_run,
        checks_in_error=sorted({f.check_id for f in findings if f.status == "ERROR"}),
    )


def sort_key(finding: Finding) -> tuple[Any, ...]:
    """Failing first, then by severity, check, account, region, resource: a stable reading order."""
    return (
        STATUSES.index(finding.status),
        SEVERITIES.index(finding.severity),
        finding.check_id,
        finding.account,
        finding.region,
        finding.resource,
    )
