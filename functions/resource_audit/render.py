"""JSON and CSV renderings of the audit report (the HTML one is in ``html.py``). Pure functions of the model."""

from __future__ import annotations

import csv
import io
from typing import NamedTuple

from functions.resource_audit.findings import AuditReport, Finding, sort_key
from functions.resource_audit.models import SEVERITIES, STATUSES

CSV_COLUMNS = (
    "change",
    "status",
    "severity",
    "category",
    "check_id",
    "title",
    "account",
    "region",
    "resource_type",
    "resource",
    "arn",
    "evidence",
    "monthly_saving_usd",
    "suppressed_by",
    "remediation",
)


def to_json(report: AuditReport) -> str:
    return report.to_json() + "\n"


class Row(NamedTuple):
    """One row of the CSV and HTML findings tables."""

    change: str
    """``new``, ``open``, ``unknown``, ``resolved``, or empty (not failing, or no previous report)."""
    finding: Finding
    previous: bool = False
    """The previous report's row, as it was then: resolved now, or unknown now (this run could not see it)."""


def ordered(report: AuditReport) -> list[Row]:
    """Findings in reading order with their change since the last report: new, still open, unknown, resolved,
    then the previous report's failures this run could not see, then the rest."""
    d = report.diff
    new, unknown = d.new_keys, {f.key for f in d.unknown}
    had_previous = d.previous_run_id is not None
    current = sorted(report.findings, key=sort_key)

    def change(f: Finding) -> str:
        if f.status != "FAIL":
            return ""
        if f.key in new:
            return "new"
        if f.key in unknown:
            return "unknown"
        return "open" if had_previous else ""

    rows = [Row(change(f), f) for f in current]
    failing = {f.key for f in current if f.status == "FAIL"}
    first = [r for c in ("new", "open", "unknown") for r in rows if r.change == c]
    resolved = [Row("resolved", f, previous=True) for f in sorted(d.resolved, key=sort_key)]
    unseen = [Row("unknown", f, previous=True) for f in sorted(d.unknown, key=sort_key) if f.key not in failing]
    rest = [r for r in rows if r.change == ""]
    return first + resolved + unseen + rest


ACCOUNT_COLUMNS = (
    "account",
    "regions",
    *(f"findings_{s.lower()}" for s in STATUSES),
    *(f"fail_{s}" for s in SEVERITIES),
    "checks_in_error",
    "new",
    "unaudited",
)


def accounts_csv(report: AuditReport) -> str:
    """The per-account summary, one row per account (regions and checks in error joined with spaces)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ACCOUNT_COLUMNS)
    for row in report.per_account:
        writer.writerow(
            [
                row.account,
                " ".join(row.regions),
                *(row.by_status.get(s, 0) for s in STATUSES),
                *(row.by_severity.get(s, 0) for s in SEVERITIES),
                " ".join(row.checks_in_error),
                row.new,
                row.unaudited,
            ]
        )
    return out.getvalue()


def to_csv(report: AuditReport) -> str:
    """One row per finding, for spreadsheets; the ``change`` column carries the diff (new / open / unknown /
    resolved); the previous report's rows (resolved, or unknown now) have no status and say ``was: ...``."""
    remediation = {c.id: c.remediation for c in report.checks}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for change, f, previous in ordered(report):
        writer.writerow(
            [
                change,
                "" if previous else f.status,
                f.severity,
                f.category,
                f.check_id,
                f.title,
                f.account,
                f.region,
                f.resource_type,
                f.resource,
                f.arn or "",
                f"was: {f.evidence}" if previous else f.evidence,
                "" if f.monthly_saving_usd is None else f"{f.monthly_saving_usd:.2f}",
                f.suppressed_by or "",
                remediation.get(f.check_id, ""),
            ]
        )
    return out.getvalue()
