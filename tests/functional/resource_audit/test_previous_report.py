"""The previous report is only the diff's baseline: when it cannot be fetched or read, the audit is still written
(without a diff) and every format says why, rather than passing for a first report."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.faults import ErrorOn
from tests.functional.resource_audit.estate import BUCKET, audit, read_report
from tests.helpers import REGION

LATEST = "reports/resource-audit/latest.json"
PAYLOAD = {"report_bucket": BUCKET, "notify_on": "never", "regions": [REGION], "checks": ["ebs-volume-unattached"]}


def _estate() -> Any:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    boto3.client("ec2", region_name=REGION).create_volume(AvailabilityZone=f"{REGION}a", Size=1)
    return s3


def _html() -> str:
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key="reports/resource-audit/latest.html")
    text: str = body["Body"].read().decode()
    return text


@pytest.mark.parametrize("body", [b"{not json", b'{"schema": "devops-tasks/resource-audit"}', b"\xff\xfe"])
def test_an_unreadable_previous_report_leaves_the_audit_written_and_says_so(aws: None, body: bytes) -> None:
    _estate().put_object(Bucket=BUCKET, Key=LATEST, Body=body)
    response = audit(PAYLOAD)
    assert response["status"] == "succeeded"
    diff = read_report()["diff"]
    assert diff["previous_run_id"] is None
    assert "could not be read" in diff["previous_problem"]
    assert [f["resource"] for f in diff["new"]]  # every failure counts as new, and the report says why
    assert any("could not be read" in line for line in response["notes"])
    assert "could not be read" in _html()
    assert "first report" not in _html()


def test_a_previous_report_that_cannot_be_fetched_leaves_the_audit_written_and_says_so(aws: None) -> None:
    s3 = _estate()
    audit(PAYLOAD)
    first = read_report()["run_id"]
    denied = ErrorOn(lambda op, params: op == "GetObject" and params.get("Key") == LATEST, "AccessDenied", status=403)
    response = audit(PAYLOAD, attach=denied)
    assert denied.hits
    assert response["status"] == "succeeded"
    report = read_report()
    assert report["run_id"] != first  # the new report moved latest
    assert "AccessDenied" in report["diff"]["previous_problem"]
    assert "AccessDenied" in _html()
    assert s3.head_object(Bucket=BUCKET, Key="reports/resource-audit/latest.csv")


def test_no_previous_report_is_a_first_report_with_no_problem(aws: None) -> None:
    _estate()
    audit(PAYLOAD)
    assert read_report()["diff"]["previous_problem"] is None
    assert "first report" in _html()
