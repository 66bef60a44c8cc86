"""Findings in the AWS Security Finding Format (ASFF), for Security Hub's BatchImportFindings. Pure: no AWS call.

What is sent: every FAIL finding as ACTIVE (Compliance FAILED), and every finding the diff calls resolved (failing
in the previous report; now passing, suppressed or gone, in a scope this run audited cleanly) as ARCHIVED
(Compliance PASSED). PASS findings are not sent (Security Hub would hold one per resource and check); ERROR
findings are not sent either, so what Security Hub holds for a resource this run could not see stays as the last
run that could see it left it (the diff calls such findings unknown, never resolved).

Ids are stable: the same check on the same resource in the same account and region has the same Id in every
run, so a re-run updates a finding instead of adding one. Security Hub lets only the account a finding belongs
to import it under the default product, so findings go out grouped by account (see :func:`by_account`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from functions.resource_audit.findings import AuditReport, CheckInfo, Finding
from shared.partitions import partition_of as _partition_of

SCHEMA_VERSION = "2018-10-08"
BATCH = 100
"""BatchImportFindings takes at most 100 findings a call."""
GENERATOR = "devops-tasks/resource-audit"
ID_MAX = 512
TITLE_MAX = 256
DESCRIPTION_MAX = 1024
RECOMMENDATION_MAX = 512
LABELS = {"critical": "CRITICAL", "high": "HIGH", "medium": "MEDIUM", "low": "LOW", "info": "INFORMATIONAL"}
TYPES = {
    "security": "Software and Configuration Checks/AWS Security Best Practices",
    "reliability": "Software and Configuration Checks/AWS Security Best Practices",
    "cost": "Effects/Resource Consumption",
}
"""ASFF's ``namespace/category`` of each category (the classifier is the check id); ASFF has no cost or
reliability category, so reliability is a best practice and cost a resource consumption."""
RESOURCE_TYPES = {
    "instance": "AwsEc2Instance",
    "volume": "AwsEc2Volume",
    "security-group": "AwsEc2SecurityGroup",
    "elastic-ip": "AwsEc2Eip",
    "bucket": "AwsS3Bucket",
    "iam-user": "AwsIamUser",
    "lambda-function": "AwsLambdaFunction",
    "lambda-layer-version": "AwsLambdaLayerVersion",
    "trail": "AwsCloudTrailTrail",
    "account-setting": "AwsAccount",
    "password-policy": "AwsAccount",
    "root-user": "AwsAccount",
    "region-setting": "AwsAccount",
}
"""The ASFF resource type of each of the audit's resource types; the others (snapshots, AMIs, log groups...) are
``Other``, as ASFF has no type for them."""

RecordState = Literal["ACTIVE", "ARCHIVED"]


def finding_id(finding: Finding) -> str:
    """The finding's Id, the same in every run: ``devops-tasks/resource-audit/<check>/<account>/<region>/<resource>``
    (a hash of it past ASFF's 512 characters)."""
    readable = f"{GENERATOR}/{finding.check_id}/{finding.account}/{finding.region}/{finding.resource}"
    if len(readable) <= ID_MAX:
        return readable
    digest = hashlib.sha256(finding.key.encode()).hexdigest()
    return f"{GENERATOR}/{finding.check_id}/{finding.account}/{finding.region}/sha256:{digest}"


def partition_of(region: str) -> str:
    return _partition_of(region) or "aws"


def product_arn(account: str, region: str) -> str:
    """The account's own (default) product in the region the findings are imported into."""
    return f"arn:{partition_of(region)}:securityhub:{region}:{account}:product/{account}/default"


def iso(at: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``, as ASFF's examples write it."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.astimezone(UTC).microsecond // 1000:03d}Z"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def to_asff(
    finding: Finding,
    *,
    region: str,
    at: datetime,
    state: RecordState,
    check: CheckInfo | None = None,
    run_id: str = "",
) -> dict[str, Any]:
    """One finding in ASFF, imported into ``region`` (Security Hub's region for the finding's account)."""
    label = LABELS[finding.severity]
    types = [f"{TYPES[finding.category]}/{finding.check_id}"]
    resource: dict[str, Any] = {
        "Type": RESOURCE_TYPES.get(finding.resource_type, "Other"),
        "Id": finding.arn or finding.resource,
        "Partition": partition_of(region),
    }
    if finding.region != "global":
        resource["Region"] = finding.region
    if resource["Type"] == "Other":
        resource["Details"] = {"Other": {"devops-tasks/resource-type": _cut(finding.resource_type, 1023)}}
    fields = {"devops-tasks/check": finding.check_id, "devops-tasks/category": finding.category}
    if run_id:
        fields["devops-tasks/run_id"] = run_id
    if finding.monthly_saving_usd is not None:
        fields["devops-tasks/monthly_saving_usd"] = f"{finding.monthly_saving_usd:.2f}"
    if finding.suppressed_by:
        fields["devops-tasks/suppressed_by"] = _cut(finding.suppressed_by, 1023)
    out: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(finding),
        "ProductArn": product_arn(finding.account, region),
        "GeneratorId": f"{GENERATOR}/{finding.check_id}",
        "AwsAccountId": finding.account,
        "Types": types,
        "CreatedAt": iso(at),
        "UpdatedAt": iso(at),
        "Severity": {"Label": label, "Original": finding.severity},
        "FindingProviderFields": {"Severity": {"Label": label, "Original": finding.severity}, "Types": types},
        "Title": _cut(finding.title, TITLE_MAX),
        "Description": _cut(finding.evidence or finding.title, DESCRIPTION_MAX),
        "Resources": [resource],
        "Compliance": {"Status": "FAILED" if state == "ACTIVE" else "PASSED"},
        "RecordState": state,
        "ProductFields": fields,
    }
    if check is not None:
        out["Remediation"] = {"Recommendation": {"Text": _cut(check.remediation, RECOMMENDATION_MAX)}}
    return out


def planned(report: AuditReport, region: str) -> list[dict[str, Any]]:
    """What the run sends: its FAIL findings (ACTIVE) and the diff's resolved ones (ARCHIVED) that are not failing
    again under the same Id, for import into ``region`` of each finding's account."""
    checks = {c.id: c for c in report.checks}
    at, run_id = report.generated_at, report.run_id
    active = [f for f in report.findings if f.status == "FAIL"]
    ids = {finding_id(f) for f in active}
    out = [
        to_asff(f, region=region, at=at, state="ACTIVE", check=checks.get(f.check_id), run_id=run_id) for f in active
    ]
    out += [
        to_asff(f, region=region, at=at, state="ARCHIVED", check=checks.get(f.check_id), run_id=run_id)
        for f in report.diff.resolved
        if finding_id(f) not in ids
    ]
    return out


def by_account(findings: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """ASFF findings grouped by their account: each account imports its own (default product)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        out.setdefault(f["AwsAccountId"], []).append(f)
    return out


def batches(findings: Sequence[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    """Consecutive batches of at most ``size`` (BatchImportFindings' limit of 100)."""
    if not 1 <= size <= BATCH:
        raise ValueError(f"a batch holds 1 to {BATCH} findings, not {size}")
    for start in range(0, len(findings), size):
        yield list(findings[start : start + size])
