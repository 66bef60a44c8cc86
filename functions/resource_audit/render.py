"""JSON and CSV renderings of the audit report (the HTML one is in ``html.py``). Pure functions of the model."""

from __future__ import annotations

import csv
import io

from functions.resource_audit.findings import AuditReport, Finding, sort_key

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


def ordered(report: AuditReport) -> list[tuple[str, Finding]]:
    """Findings in reading order with their change since the last report: new, still open, resolved, the rest.

    Resolved findings are the previous run's rows (as they were then) marked ``resolved``.
    """
    new = report.diff.new_keys
    had_previous = report.diff.previous_run_id is not None
    current = sorted(report.findings, key=sort_key)

    def change(f: Finding) -> str:
        if f.status != "FAIL":
            return ""
        if f.key in new:
            return "new"
        return "open" if had_previous else ""

    rows = [(change(f), f) for f in current]
    rank = {"new": 0, "open": 1, "": 3}
    rows.sort(key=lambda row: rank[row[0]])
    resolved = [("resolved", f) for f in sorted(report.diff.resolved, key=sort_key)]
    first = [r for r in rows if r[0] in ("new", "open")]
    rest = [r for r in rows if r[0] == ""]
    return first + resolved + rest


def to_csv(report: AuditReport) -> str:
    """One row per finding, for spreadsheets; the ``change`` column carries the diff (new / open / resolved)."""
    remediation = {c.id: c.remediation for c in report.checks}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for change, f in ordered(report):
        writer.writerow(
            [
                change,
                f.status if change != "resolved" else "",
                f.severity,
                f.category,
                f.check_id,
                f.title,
                f.account,
                f.region,
                f.resource_type,
                f.resource,
                f.arn or "",
                f.evidence if change != "resolved" else f"was: {f.evidence}",
                "" if f.monthly_saving_usd is None else f"{f.monthly_saving_usd:.2f}",
                f.suppressed_by or "",
                remediation.get(f.check_id, ""),
            ]
        )
    return out.getvalue()
