"""The real Lambda handler against moto server over HTTP: schedule-shaped event, reports in S3, diff on rerun."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from cli.demo.resource_audit import moto_audit_shims, seed_account, seed_region
from functions.resource_audit.handler import handler
from tests.functional.resource_audit.estate import AccessAnalyzers, analyzer
from tests.helpers import REGION, FakeContext, load_event

pytestmark = pytest.mark.integration

BUCKET = "audit-reports"


def _client(service: str, region: str) -> Any:
    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


def test_handler_over_http_writes_reports_and_diffs_the_second_run(
    moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    # ListAnalyzers, which moto does not implement, answered as AWS would: an active analyzer (hardened account)
    with moto_audit_shims({account: (True, False)}), AccessAnalyzers([analyzer("external")]).serving():
        seed_region(_client, account, REGION, now)
        seed_account(_client, account, REGION, now, hardened=True)
        _client("s3", REGION).create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        monkeypatch.setenv("DEVOPS_TASKS_REPORT_BUCKET", BUCKET)
        monkeypatch.setenv("DEVOPS_TASKS_REGIONS", REGION)
        first = handler(load_event("resource_audit/scheduled.json"), FakeContext())  # type: ignore[arg-type]
        _client("logs", REGION).create_log_group(logGroupName="/new/without-retention")
        second = handler(load_event("resource_audit/scheduled.json"), FakeContext())  # type: ignore[arg-type]

    assert first["status"] == second["status"] == "succeeded"
    s3 = _client("s3", REGION)
    latest = json.loads(s3.get_object(Bucket=BUCKET, Key="reports/resource-audit/latest.json")["Body"].read())
    assert latest["run_id"] == second["run_id"]
    assert latest["diff"]["previous_run_id"] == first["run_id"]
    assert [(f["check_id"], f["resource"]) for f in latest["diff"]["new"]] == [
        ("logs-group-no-retention", "/new/without-retention")
    ]
    assert latest["summary"]["checks_in_error"] == []
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="reports/resource-audit/")["Contents"]}
    assert sum(k.endswith(".audit.html") for k in keys) == 2
    assert {"reports/resource-audit/latest.csv", "reports/resource-audit/latest.html"} <= keys
