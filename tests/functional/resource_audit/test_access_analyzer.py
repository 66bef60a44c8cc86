"""IAM Access Analyzer per region through the whole task: ListAnalyzers (not in moto) served as AWS answers it,
every page followed; no active external access analyzer fails; a listing that cannot be read is ERROR."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.faults import ErrorOn
from tests.functional.resource_audit.estate import BUCKET, AccessAnalyzers, analyzer, audit, read_report
from tests.helpers import REGION

PAYLOAD = {"report_bucket": BUCKET, "notify_on": "never", "regions": [REGION], "checks": ["access-analyzer-off"]}


def _run(**kw: Any) -> list[tuple[str, str]]:
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    audit(PAYLOAD, **kw)
    return [(f["status"], f["evidence"]) for f in read_report()["findings"] if f["check_id"] == "access-analyzer-off"]


def test_the_active_analyzer_on_the_second_page_passes(aws: None) -> None:
    served = AccessAnalyzers([analyzer("unused", "ACCOUNT_UNUSED_ACCESS"), analyzer("org", "ORGANIZATION")], page=1)
    assert _run(analyzers=served) == [("PASS", "analyzer org (ORGANIZATION) active")]
    assert [q.get("nextToken") for q in served.requests] == [None, ["1"]]  # one listing, both pages


@pytest.mark.parametrize(
    ("analyzers", "evidence"),
    [
        ([analyzer("old", status="DISABLED")], "no active external access analyzer: old ACCOUNT DISABLED"),
        ([], "no analyzer"),
    ],
)
def test_no_active_external_access_analyzer_fails(aws: None, analyzers: list[dict[str, Any]], evidence: str) -> None:
    assert _run(analyzers=AccessAnalyzers(analyzers)) == [("FAIL", evidence)]


def test_a_denied_listing_is_error_never_pass(aws: None) -> None:
    denied = ErrorOn(lambda op, params: op == "ListAnalyzers", "AccessDeniedException", status=403)
    [(status, evidence)] = _run(attach=denied)
    assert status == "ERROR"
    assert "AccessDeniedException" in evidence
