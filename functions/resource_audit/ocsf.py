"""Findings as OCSF 1.1.0 Detection Findings (class 2004), one JSON object a line, for Security Lake and SIEMs.
Pure: no AWS call.

OCSF is the Open Cybersecurity Schema Framework (https://schema.ocsf.io/1.1.0/classes/detection_finding). Each
line is one finding of this run with the ``cloud`` profile: FAIL findings (activity Create when new since the
previous report, else Update; status New), SUPPRESSED ones (Update, status Suppressed) and the diff's resolved
ones (Close, status Resolved). PASS and ERROR findings are not written: a check that could not run says nothing
about the resource, and the report, its metrics and alarm carry those.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from functions.resource_audit.asff import finding_id, partition_of
from functions.resource_audit.findings import AuditReport, CheckInfo, Finding
from shared import PROJECT, __version__

OCSF_VERSION = "1.1.0"
CLASS_UID = 2004
CLASS_NAME = "Detection Finding"
CATEGORY_UID = 2
CATEGORY_NAME = "Findings"
ACTIVITIES = {1: "Create", 2: "Update", 3: "Close"}
SEVERITY_IDS = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
SEVERITY_NAMES = {1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}
STATUSES = {1: "New", 3: "Suppressed", 4: "Resolved"}
ANALYTIC_RULE = 1
AWS_ACCOUNT = 10
"""``account.type_id`` 10: AWS Account."""


def _millis(report: AuditReport) -> int:
    return int(report.generated_at.timestamp() * 1000)


def _partition(finding: Finding, report: AuditReport) -> str:
    """The finding's partition: its region's, or for account-wide findings (region ``global``) the run's."""
    if finding.region != "global":
        return partition_of(finding.region)
    return partition_of(report.regions[0]) if report.regions else "aws"


def to_ocsf(
    finding: Finding, report: AuditReport, *, activity_id: int, status_id: int, check: CheckInfo | None = None
) -> dict[str, Any]:
    """One finding as an OCSF Detection Finding."""
    severity_id = SEVERITY_IDS[finding.severity]
    time = _millis(report)
    resource: dict[str, Any] = {
        "uid": finding.arn or finding.resource,
        "name": finding.resource,
        "type": finding.resource_type,
        "cloud_partition": _partition(finding, report),
    }
    cloud: dict[str, Any] = {"provider": "AWS", "account": {"uid": finding.account, "type_id": AWS_ACCOUNT,
                                                             "type": "AWS Account"}}  # fmt: skip
    if finding.region != "global":
        resource["region"] = finding.region
        cloud["region"] = finding.region
    info: dict[str, Any] = {
        "uid": finding_id(finding),
        "title": finding.title,
        "desc": finding.evidence,
        "types": [finding.category],
        "analytic": {"type_id": ANALYTIC_RULE, "type": "Rule", "uid": finding.check_id, "name": finding.check_id},
        "modified_time": time,
    }
    out: dict[str, Any] = {
        "class_uid": CLASS_UID,
        "class_name": CLASS_NAME,
        "category_uid": CATEGORY_UID,
        "category_name": CATEGORY_NAME,
        "activity_id": activity_id,
        "activity_name": ACTIVITIES[activity_id],
        "type_uid": CLASS_UID * 100 + activity_id,
        "type_name": f"{CLASS_NAME}: {ACTIVITIES[activity_id]}",
        "severity_id": severity_id,
        "severity": SEVERITY_NAMES[severity_id],
        "status_id": status_id,
        "status": STATUSES[status_id],
        "time": time,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "resource-audit", "vendor_name": PROJECT, "version": __version__},
            "profiles": ["cloud"],
            "uid": f"{report.run_id}/{finding_id(finding)}",
            "correlation_uid": report.run_id,
        },
        "finding_info": info,
        "resources": [resource],
        "cloud": cloud,
    }
    if check is not None:
        out["remediation"] = {"desc": check.remediation}
    if finding.monthly_saving_usd is not None or finding.suppressed_by:
        unmapped: dict[str, Any] = {}
        if finding.monthly_saving_usd is not None:
            unmapped["monthly_saving_usd"] = finding.monthly_saving_usd
        if finding.suppressed_by:
            unmapped["suppressed_by"] = finding.suppressed_by
        out["unmapped"] = unmapped
    return out


def events(report: AuditReport) -> Iterator[dict[str, Any]]:
    """The run's Detection Findings: failing (new ones Create, the others Update), suppressed, resolved (Close;
    one suppressed now has its Suppressed update only)."""
    checks = {c.id: c for c in report.checks}
    new = report.diff.new_keys
    suppressed = {f.key for f in report.findings if f.status == "SUPPRESSED"}
    for f in report.findings:
        if f.status == "FAIL":
            activity = 1 if f.key in new else 2
            yield to_ocsf(f, report, activity_id=activity, status_id=1, check=checks.get(f.check_id))
        elif f.status == "SUPPRESSED":
            yield to_ocsf(f, report, activity_id=2, status_id=3, check=checks.get(f.check_id))
    for f in report.diff.resolved:
        if f.key in suppressed:
            continue  # its Suppressed update above says what it is now
        yield to_ocsf(f, report, activity_id=3, status_id=4, check=checks.get(f.check_id))


def to_jsonl(report: AuditReport) -> str:
    """One compact JSON object a line (JSON Lines), ending with a newline; empty when nothing is to be said."""
    return "".join(json.dumps(e, separators=(",", ":"), ensure_ascii=False) + "\n" for e in events(report))
