"""Findings in ASFF hold to Security Hub's rules for imported findings, with stable ids and at most 100 a batch.

The rules checked here are the ASFF required attributes and their formats as the Security Hub User Guide states
them ("Required top-level attributes in ASFF", "ASFF syntax"): SchemaVersion 2018-10-08; Id, GeneratorId up to
512 characters; ProductArn ``arn:<partition>:securityhub:<region>:<account>:product/<account>/default`` for a
finding the account imports itself; AwsAccountId 12 digits; Types ``namespace/category/classifier`` in one of the
five namespaces; CreatedAt/UpdatedAt ISO 8601; Severity.Label one of five; Title up to 256 characters, Description
up to 1024; 1 to 32 Resources each with Type and Id; Recommendation.Text up to 512; RecordState and
Compliance.Status from their enums. moto checks only that Resources is a non-empty list.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from functions.resource_audit.asff import BATCH, batches, by_account, finding_id, planned, to_asff
from functions.resource_audit.findings import Diff
from tests.unit.resource_audit.reports import finding, sample

NAMESPACES = (
    "Software and Configuration Checks",
    "TTPs",
    "Effects",
    "Unusual Behaviors",
    "Sensitive Data Identifications",
)
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
LABELS = {"INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"}
REQUIRED = (
    "SchemaVersion",
    "Id",
    "ProductArn",
    "GeneratorId",
    "AwsAccountId",
    "Types",
    "CreatedAt",
    "UpdatedAt",
    "Severity",
    "Title",
    "Description",
    "Resources",
)


def asff_problems(f: dict[str, Any]) -> list[str]:
    """What breaks ASFF's rules for an imported finding (empty: none)."""
    bad = [f"missing {k}" for k in REQUIRED if not f.get(k)]
    if bad:
        return bad
    if f["SchemaVersion"] != "2018-10-08":
        bad.append("SchemaVersion")
    for key in ("Id", "GeneratorId"):
        if len(f[key]) > 512:
            bad.append(f"{key} longer than 512")
    arn = re.fullmatch(
        r"arn:(aws|aws-cn|aws-us-gov):securityhub:([a-z0-9-]+):(\d{12}):product/(\d{12})/default", f["ProductArn"]
    )
    if not arn or arn.group(3) != f["AwsAccountId"] or arn.group(4) != f["AwsAccountId"]:
        bad.append(f"ProductArn {f['ProductArn']}")
    if not re.fullmatch(r"\d{12}", f["AwsAccountId"]):
        bad.append("AwsAccountId")
    for t in f["Types"]:
        parts = t.split("/")
        if not 1 <= len(parts) <= 3 or parts[0] not in NAMESPACES:
            bad.append(f"Types {t}")
    for key in ("CreatedAt", "UpdatedAt"):
        if not ISO.fullmatch(f[key]):
            bad.append(key)
    if f["Severity"].get("Label") not in LABELS:
        bad.append("Severity.Label")
    if len(f["Title"]) > 256:
        bad.append("Title longer than 256")
    if len(f["Description"]) > 1024:
        bad.append("Description longer than 1024")
    if not 1 <= len(f["Resources"]) <= 32 or any(not r.get("Type") or not r.get("Id") for r in f["Resources"]):
        bad.append("Resources")
    if len(f.get("Remediation", {}).get("Recommendation", {}).get("Text", "")) > 512:
        bad.append("Recommendation.Text longer than 512")
    if f.get("RecordState", "ACTIVE") not in ("ACTIVE", "ARCHIVED"):
        bad.append("RecordState")
    if f.get("Compliance", {}).get("Status", "FAILED") not in ("PASSED", "WARNING", "FAILED", "NOT_AVAILABLE"):
        bad.append("Compliance.Status")
    return bad


def test_the_sample_reports_findings_hold_to_the_asff_rules() -> None:
    sent = planned(sample(), "eu-west-1")
    assert sent
    for f in sent:
        assert asff_problems(f) == [], f


def test_fail_findings_are_active_and_resolved_ones_archived_passes_and_errors_not_sent() -> None:
    report = sample()
    sent = {f["Id"]: f for f in planned(report, "eu-west-1")}
    failing = [f for f in report.findings if f.status == "FAIL"]
    assert {finding_id(f) for f in failing} | {finding_id(f) for f in report.diff.resolved} == set(sent)
    for f in failing:
        assert sent[finding_id(f)]["RecordState"] == "ACTIVE"
        assert sent[finding_id(f)]["Compliance"] == {"Status": "FAILED"}
    [old] = report.diff.resolved
    assert sent[finding_id(old)]["RecordState"] == "ARCHIVED"
    assert sent[finding_id(old)]["Compliance"] == {"Status": "PASSED"}


def test_a_resolved_finding_that_fails_again_under_the_same_id_is_only_active() -> None:
    report = sample()
    again = report.findings[0]
    report.diff = Diff(previous_run_id="run-1", resolved=[again])
    sent = [f for f in planned(report, "eu-west-1") if f["Id"] == finding_id(again)]
    assert [f["RecordState"] for f in sent] == ["ACTIVE"]


def test_ids_are_the_same_in_every_run_and_differ_between_resources() -> None:
    a = finding("ebs-volume-unattached", "FAIL", "vol-1")
    assert finding_id(a) == finding_id(finding("ebs-volume-unattached", "FAIL", "vol-1", evidence="other"))
    assert finding_id(a) != finding_id(finding("ebs-volume-unattached", "FAIL", "vol-2"))
    assert finding_id(a) != finding_id(finding("ebs-volume-unattached", "FAIL", "vol-1", region="us-east-1"))
    assert finding_id(a) != finding_id(finding("ebs-volume-unattached", "FAIL", "vol-1", account="111122223333"))
    r1 = to_asff(a, region="eu-west-1", at=datetime(2025, 1, 1, tzinfo=UTC), state="ACTIVE")
    r2 = to_asff(a, region="eu-west-1", at=datetime(2025, 1, 2, tzinfo=UTC), state="ACTIVE")
    assert r1["Id"] == r2["Id"]
    assert r1["ProductArn"] == r2["ProductArn"]


def test_long_names_and_texts_are_cut_to_asffs_limits() -> None:
    long = finding("logs-group-no-retention", "FAIL", "/a" * 400, title="t" * 400, evidence="e" * 3000)
    out = to_asff(long, region="eu-west-1", at=datetime(2025, 1, 1, tzinfo=UTC), state="ACTIVE")
    assert asff_problems(out) == []
    other = finding("logs-group-no-retention", "FAIL", "/a" * 400 + "/b")
    assert finding_id(long) != finding_id(other)


def test_the_product_arn_follows_the_import_region_and_its_partition() -> None:
    f = finding("ebs-volume-unattached", "FAIL", "vol-1", region="cn-north-1")
    out = to_asff(f, region="cn-north-1", at=datetime(2025, 1, 1, tzinfo=UTC), state="ACTIVE")
    assert out["ProductArn"] == "arn:aws-cn:securityhub:cn-north-1:123456789012:product/123456789012/default"
    assert out["Resources"][0]["Partition"] == "aws-cn"
    iam = finding("iam-root-mfa", "FAIL", "root", region="global", resource_type="root-user", arn=None)
    out = to_asff(iam, region="eu-west-1", at=datetime(2025, 1, 1, tzinfo=UTC), state="ACTIVE")
    assert "Region" not in out["Resources"][0]
    assert out["Resources"][0] == {"Type": "AwsAccount", "Id": "root", "Partition": "aws"}


def test_findings_go_out_by_account() -> None:
    a = finding("ebs-volume-unattached", "FAIL", "vol-1")
    b = finding("ebs-volume-unattached", "FAIL", "vol-1", account="111122223333")
    at = datetime(2025, 1, 1, tzinfo=UTC)
    grouped = by_account([to_asff(x, region="eu-west-1", at=at, state="ACTIVE") for x in (a, b)])
    assert sorted(grouped) == ["111122223333", "123456789012"]
    for account, items in grouped.items():
        assert all(i["AwsAccountId"] == account for i in items)
        assert all(i["ProductArn"].endswith(f":{account}:product/{account}/default") for i in items)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(min_value=0, max_value=450), size=st.integers(min_value=1, max_value=BATCH))
def test_batches_hold_at_most_100_and_keep_every_finding_once_in_order(n: int, size: int) -> None:
    items = [{"Id": str(i)} for i in range(n)]
    out = list(batches(items, size))
    assert all(1 <= len(b) <= size for b in out)
    assert [i for b in out for i in b] == items


def test_a_batch_of_more_than_100_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="1 to 100"):
        list(batches([{"Id": "x"}], 101))


def test_imports_are_paced_within_security_hubs_rate_limit() -> None:
    """Security Hub throttles BatchImportFindings at 10 per second per account and region, burst 30."""
    from shared.pacing import DEFAULT_RATES

    rate = DEFAULT_RATES["securityhub:BatchImportFindings"]
    assert rate.per_second <= 10
    assert rate.burst <= 30
