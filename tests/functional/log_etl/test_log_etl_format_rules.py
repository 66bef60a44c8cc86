"""The format rules end to end: rejects reach the quarantine with their reason, skips reach the manifest and the
run report with theirs, configured VPC log formats apply per source prefix, CloudTrail JSON lines load."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from functions.log_etl.handler import handler
from tests.functional.log_etl.conftest import KEYS, LAKE, Lake, fixture, sqs_event
from tests.helpers import FakeContext

ALB_LINES = fixture("alb/awsdocs-elb-alb-guide_2023-06_examples.joined.log").splitlines()
VPC_RECORDS = fixture("vpc_flow/vector-vrl_parse_aws_vpc_flow_log_records.log").splitlines()
V5_FORMAT = " ".join(
    "${" + name.replace("_", "-") + "}"
    for name in fixture("vpc_flow/vector-vrl_parse_aws_vpc_flow_log_formats.txt").decode().splitlines()[2].split()
)


def _manifest(lake: Lake, key: str) -> dict[str, Any]:
    (manifest_key,) = [k for k in lake.keys("manifests/") if key in k]
    return json.loads(lake.s3.get_object(Bucket=LAKE, Key=manifest_key)["Body"].read())


def test_malformed_quoting_is_quarantined_with_its_reason_and_the_row_is_not_loaded(lake: Lake) -> None:
    bad = ALB_LINES[0].replace(b'"-" "-" 0 ', b'"-" "-"0 ')
    obj = lake.put(KEYS["alb"], b"\n".join([*ALB_LINES, bad]) + b"\n", gz=True)

    assert handler(sqs_event([obj]), FakeContext()) == {"batchItemFailures": []}

    assert lake.table("alb").num_rows == 7
    (record,) = lake.quarantine()
    assert (record["line_number"], record["raw"]) == (8, bad.decode())
    assert record["reason"] == "field chosen_cert_arn: malformed quoting: closing quote not followed by a space"


def test_an_elb_test_object_under_a_log_key_is_skipped_with_its_reason(lake: Lake, monkeypatch) -> None:
    lake.s3.create_bucket(Bucket="reports", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    monkeypatch.setenv("DEVOPS_TASKS_REPORT_BUCKET", "reports")
    obj = lake.put(KEYS["alb"], b"Enable AccessLog for ELB: my-loadbalancer at 2026-11-27T13:00:00.000Z", gz=True)

    assert handler(sqs_event([obj]), FakeContext()) == {"batchItemFailures": []}

    assert lake.keys("quarantine/") == []
    manifest = _manifest(lake, KEYS["alb"])
    assert (manifest["lines_in"], manifest["lines_skipped"], manifest["rows_out"]) == (1, 1, 0)
    assert manifest["skip_reasons"] == {"ELB access-log test object": 1}
    (report_key,) = [o["Key"] for o in lake.s3.list_objects_v2(Bucket="reports")["Contents"]]
    report = json.loads(lake.s3.get_object(Bucket="reports", Key=report_key)["Body"].read())
    (action,) = report["units"][0]["actions"]
    assert action["detail"]["skip_reasons"] == {"ELB access-log test object": 1}


def test_configured_vpc_log_formats_apply_per_source_prefix(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = KEYS["vpc_flow"].rsplit("/", 4)[0] + "/"  # AWSLogs/<acct>/vpcflowlogs/<region>/
    monkeypatch.setenv(
        "DEVOPS_TASKS_CUSTOM_FORMATS", json.dumps([{"format": "vpc_flow", "prefix": prefix, "log_format": V5_FORMAT}])
    )
    configured = lake.put(KEYS["vpc_flow"], VPC_RECORDS[2] + b"\n", gz=True)
    elsewhere_key = "other/" + KEYS["vpc_flow"].rsplit("/", 1)[1].replace("0a1b2c3d", "9f8e7d6c")
    elsewhere = lake.put(elsewhere_key, VPC_RECORDS[2] + b"\n", gz=True)

    assert handler(sqs_event([configured], [elsewhere]), FakeContext()) == {"batchItemFailures": []}

    (row,) = lake.table("vpc_flow").to_pylist()
    assert (row["srcport"], row["packets"], row["flow_direction"], row["extra_fields"]) == (80, 14, "ingress", None)
    (record,) = lake.quarantine()
    assert record["source_key"] == elsewhere_key
    assert record["reason"] == (
        "too many fields: 29 > 14 of the default format (no header line and no configured log format)"
    )


def test_cloudtrail_json_lines_load_as_records(lake: Lake) -> None:
    published = fixture("cloudtrail/grafana-loki_lambda-promtail_cloudtrail-log-file.json.gz")
    records = json.loads(gzip.decompress(published))
    data = b"\n".join(json.dumps(r).encode() for r in records["Records"]) + b"\n"
    obj = lake.put(KEYS["cloudtrail"], data, gz=True)

    assert handler(sqs_event([obj]), FakeContext()) == {"batchItemFailures": []}

    assert [r["eventName"] for r in lake.table("cloudtrail").to_pylist()] == ["AssumeRole", "BatchGetImage"]
    manifest = _manifest(lake, KEYS["cloudtrail"])
    assert (manifest["lines_in"], manifest["rows_out"], manifest["lines_skipped"]) == (2, 2, 0)


def test_cloudwatch_logs_from_firehose_load_one_row_per_event_under_their_configured_prefix(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "DEVOPS_TASKS_SOURCE_FORMATS", json.dumps([{"prefix": "firehose/app-logs/", "format": "cloudwatch_logs"}])
    )
    kinesis = json.loads(fixture("cloudwatch_subscription/powertools-python_kinesisStreamCloudWatchLogsEvent.json"))
    records = [base64.b64decode(r["kinesis"]["data"]) for r in kinesis["Records"]]  # gzip(JSON), as Firehose gets
    control = {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
               "subscriptionFilters": [], "logEvents": []}  # fmt: skip
    truncated = gzip.decompress(records[0])[:100]
    body = b"".join([records[0], gzip.compress(json.dumps(control).encode()), gzip.compress(truncated), records[1]])
    key = KEYS["cloudwatch_logs"]
    obj = lake.put(key, body)  # Firehose without S3 compression: the records one after the other

    assert handler(sqs_event([obj]), FakeContext()) == {"batchItemFailures": []}

    rows = lake.table("cloudwatch_logs").to_pylist()
    events = [e for r in records for e in json.loads(gzip.decompress(r))["logEvents"]]
    assert [(r["id"], r["message"]) for r in rows] == [(e["id"], e["message"]) for e in events]
    assert {r["log_group"] for r in rows} == {"/aws/lambda/pt-1488-DummyLogDataFunction-gnWXPvL6jJyG"}
    assert lake.partitions("cloudwatch_logs") == [["2022-11-10", "15"]]
    (record,) = lake.quarantine()
    assert (record["line_number"], record["raw"]) == (3, truncated.decode())
    assert record["reason"].startswith("payload is not valid JSON")
    manifest = _manifest(lake, key)
    assert (manifest["lines_in"], manifest["rows_out"], manifest["rows_rejected"]) == (len(events) + 2, len(events), 1)
    assert manifest["skip_reasons"] == {"CloudWatch Logs CONTROL_MESSAGE (destination check, no log events)": 1}
