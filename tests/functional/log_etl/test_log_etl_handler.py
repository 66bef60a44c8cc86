"""The log ETL handler end to end under moto: S3 events through SQS, the lake read back, the catalog."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from functions.log_etl.catalog import Catalog
from functions.log_etl.handler import handler
from shared.errors import RunFailed
from tests.functional.log_etl.conftest import FIXTURES, KEYS, LAKE, SOURCE, Lake, fixture, sqs_event
from tests.helpers import FakeContext, load_event

ALB_DOC = fixture("alb/awsdocs-elb-alb-guide_2023-06_examples.joined.log")
VPC_CUSTOM = (
    b"version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport "
    b"pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status\n"
    b"3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 "
    b"123456789010 IPv4 52.213.180.42 10.0.0.62 43416 5001 52.213.180.42 10.0.0.62 6 568 8 1566848875 "
    b"1566848933 ACCEPT 2 OK\n"
)


def run(*messages: list[dict[str, object]]) -> dict[str, object]:
    return handler(sqs_event(*messages), FakeContext())


def test_alb_objects_land_as_typed_parquet_partitioned_by_event_hour(lake: Lake) -> None:
    obj = lake.put(KEYS["alb"], ALB_DOC + b"not a log line\n", gz=True)

    assert run([obj]) == {"batchItemFailures": []}

    table = lake.table("alb")
    assert table.num_rows == 7
    https = next(r for r in table.to_pylist() if r["type"] == "https")
    assert https["time"] == datetime(2018, 7, 2, 22, 23, 0, 186641, tzinfo=UTC)
    assert (https["client_ip"], https["client_port"], https["elb_status_code"]) == ("192.168.131.39", 2817, 200)
    assert (https["received_bytes"], https["sent_bytes"], https["target_processing_time"]) == (0, 57, 0.048)
    dirs = {k.rsplit("/", 1)[0] for k in lake.keys("lake/")}
    assert dirs == {"lake/format=alb/dt=2018-07-02/hour=22", "lake/format=alb/dt=2018-11-30/hour=22"}
    assert lake.partitions("alb") == [["2018-07-02", "22"], ["2018-11-30", "22"]]
    (rejected,) = lake.quarantine()
    assert rejected == {
        "source_bucket": SOURCE,
        "source_key": KEYS["alb"],
        "line_number": 8,
        "reason": "too few fields: 4 < 18",
        "raw": "not a log line",
    }


@pytest.mark.parametrize(
    ("log_format", "data", "rows", "check"),
    [
        (
            "s3_access",
            fixture("s3_access/awsdocs-s3-userguide_2023-06_LogFormat_example.log"),
            5,
            lambda r: r["time"].date() == date(2019, 2, 6) and r["time"] == r["event_time"] and r["http_status"] > 0,
        ),
        (
            "vpc_flow",
            VPC_CUSTOM,
            1,
            lambda r: (
                (r["vpc_id"], r["tcp_flags"], r["bytes"], r["flow_direction"])
                == ("vpc-abcdefab012345678", 2, 568, None)
            ),
        ),
        (
            "cloudfront",
            fixture("cloudfront/awsdocs-cloudfront-guide_2023-06_example.log"),
            6,
            lambda r: (r["date"], r["sc_status"]) in {(date(2019, 12, 4), 200), (date(2019, 12, 13), 502)},
        ),
        (
            "cloudtrail",
            gzip.decompress(fixture("cloudtrail/grafana-loki_lambda-promtail_cloudtrail-log-file.json.gz")),
            2,
            lambda r: r["eventName"] in ("AssumeRole", "BatchGetImage") and r["event_time"] == r["eventTime"],
        ),
        (
            "nlb",
            gzip.decompress(fixture("nlb/grafana-loki_lambda-promtail_nlbaccesslog.log.gz")),
            2,
            lambda r: r["type"] == "tls" and r["time"] == r["event_time"] and r["destination_port"] == 443,
        ),
        (
            "waf",
            (FIXTURES.parent / "waf" / "web-acl-traffic-examples.jsonl").read_bytes(),
            2,
            lambda r: (
                r["httpRequest"]["headers"][0]["name"] in ("Host", "dogname") and r["timestamp"] == r["event_time"]
            ),
        ),
        (
            "classic_elb",
            fixture("classic_elb/awsdocs-elb-classic-guide_2023-06_examples.log"),
            4,
            lambda r: r["elb"] == "my-loadbalancer" and r["timestamp"] == r["event_time"],
        ),
    ],
)
def test_every_format_is_loaded_end_to_end(lake: Lake, log_format, data, rows, check) -> None:
    obj = lake.put(KEYS[log_format], data, gz=log_format not in ("s3_access", "classic_elb"))

    assert run([obj]) == {"batchItemFailures": []}

    table = lake.table(log_format)
    assert table.num_rows == rows
    assert all(check(r) for r in table.to_pylist())
    assert lake.partitions(log_format)
    assert not lake.quarantine()
    glue = lake.glue.get_table(DatabaseName="devops_tasks_logs", Name=log_format)["Table"]["StorageDescriptor"]
    assert [c["Name"] for c in glue["Columns"]] == [name.lower() for name in table.schema.names]


def test_conservation_and_outputs_are_in_the_run_report(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    lake.s3.create_bucket(Bucket="reports", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    monkeypatch.setenv("DEVOPS_TASKS_REPORT_BUCKET", "reports")
    obj = lake.put(KEYS["alb"], b"Enable AccessLog\n" + ALB_DOC + b"\xff broken\n", gz=True)

    run([obj])

    (key,) = [o["Key"] for o in lake.s3.list_objects_v2(Bucket="reports")["Contents"]]
    assert key.startswith("reports/log-etl/")
    saved = json.loads(lake.s3.get_object(Bucket="reports", Key=key)["Body"].read())
    (unit,) = saved["units"]
    assert unit["counts"].items() >= {"lines_in": 9, "rows_out": 7, "rows_rejected": 1, "lines_skipped": 1}.items()
    (action,) = unit["actions"]
    assert action["detail"]["balanced"] is True
    assert action["detail"]["reject_reasons"] == {"invalid UTF-8": 1}
    assert action["detail"]["skip_reasons"] == {"ELB access-log test object": 1}
    assert len(action["detail"]["files"]) == 2


def test_retry_of_the_same_object_writes_identical_files_and_no_duplicates(lake: Lake) -> None:
    obj = lake.put(KEYS["alb"], ALB_DOC + b"junk\n", gz=True)
    run([obj])
    first = lake.objects("lake/") | lake.objects("quarantine/")

    lake.s3.delete_object(Bucket=LAKE, Key=next(iter(lake.keys("manifests/"))))  # the retry runs in full
    run([obj])
    run([obj])  # a duplicate delivery after the manifest exists: skipped

    assert lake.objects("lake/") | lake.objects("quarantine/") == first
    assert lake.table("alb").num_rows == 7
    assert lake.partitions("alb") == [["2018-07-02", "22"], ["2018-11-30", "22"]]


def test_duplicate_delivery_is_skipped_once_the_manifest_exists(lake: Lake) -> None:
    obj = lake.put(KEYS["alb"], ALB_DOC, gz=True)
    run([obj])
    before = lake.keys()

    resp = handler(sqs_event([obj]), FakeContext())

    assert resp == {"batchItemFailures": []}
    assert lake.keys() == before
    manifest = json.loads(lake.objects("manifests/")[lake.keys("manifests/")[0]])
    assert (manifest["lines_in"], manifest["rows_out"], manifest["balanced"]) == (7, 7, True)


def test_partial_batch_failure_reports_exactly_the_failing_messages(lake: Lake) -> None:
    good = lake.put(KEYS["alb"], ALB_DOC, gz=True)
    missing = {"key": KEYS["alb"].replace("2n3g4h5i", "deleted0"), "size": 10, "eTag": "0" * 32}
    other = lake.put(KEYS["cloudfront"], fixture("cloudfront/awsdocs-cloudfront-guide_2023-06_example.log"), gz=True)

    resp = run([good], [missing], [other], [good, missing])

    assert resp == {"batchItemFailures": [{"itemIdentifier": "msg-1"}, {"itemIdentifier": "msg-3"}]}
    assert lake.table("alb").num_rows == 7
    assert lake.table("cloudfront").num_rows == 6


def test_unreadable_message_body_fails_only_that_message(lake: Lake) -> None:
    event = sqs_event([lake.put(KEYS["alb"], ALB_DOC, gz=True)], [])
    event["Records"][1]["body"] = "this is not json"

    assert handler(event, FakeContext()) == {"batchItemFailures": [{"itemIdentifier": "msg-1"}]}


def test_s3_test_event_in_sqs_is_acknowledged_and_ignored(lake: Lake) -> None:
    assert handler(load_event("log_etl/sqs_s3_test_event.json"), FakeContext()) == {"batchItemFailures": []}
    assert lake.keys() == []


def test_keys_with_spaces_and_plus_signs_are_decoded(lake: Lake) -> None:
    key = "my logs/2026-11-27-13-05-01-5A2B3C4D5E6F7A8B"
    obj = lake.put(key, fixture("s3_access/awsdocs-s3-userguide_2023-06_LogFormat_example.log"))

    assert run([obj]) == {"batchItemFailures": []}
    assert lake.table("s3_access").num_rows == 5
    assert any(k.startswith("manifests/amzn-s3-demo-logs/my logs/") for k in lake.keys("manifests/"))


def test_corrupt_gzip_is_quarantined_as_one_unreadable_object(lake: Lake) -> None:
    good = gzip.compress(ALB_DOC * 20)
    corrupt = good[:30] + bytes(b ^ 0x5A for b in good[30:60]) + good[60:]
    obj = lake.put(KEYS["alb"], corrupt)

    assert run([obj]) == {"batchItemFailures": []}

    assert lake.keys("lake/") == []
    (record,) = lake.quarantine()
    assert record["line_number"] == 0
    assert record["reason"].startswith("object unreadable: corrupt gzip data")


def test_empty_objects_are_skipped_or_load_nothing(lake: Lake) -> None:
    empty = lake.put(KEYS["alb"], b"")
    empty_gz = lake.put(KEYS["cloudtrail"], b"", gz=True)

    assert run([empty], [empty_gz]) == {"batchItemFailures": []}
    assert lake.keys("lake/") == []
    assert lake.keys("quarantine/") == []


def test_huge_lines_are_quarantined_and_the_rest_loads(lake: Lake) -> None:
    lines = ALB_DOC.splitlines(keepends=True)
    huge = b"http " + b"x" * (600 << 10) + b"\n"
    obj = lake.put(KEYS["alb"], lines[0] + huge + b"".join(lines[1:]), gz=True)

    assert run([obj]) == {"batchItemFailures": []}

    assert lake.table("alb").num_rows == 7
    (record,) = lake.quarantine()
    assert (record["line_number"], record["reason"]) == (2, "line longer than 262144 bytes")
    assert len(record["raw"]) == 262144


def test_non_log_objects_and_lake_output_are_skipped(lake: Lake) -> None:
    test_file = lake.put(f"AWSLogs/{KEYS['alb'].split('/')[1]}/ELBAccessLogTestFile", b"Enable AccessLog\n")
    unknown = lake.put("random/notes.txt", b"hello\n")
    lake.s3.put_object(Bucket=LAKE, Key="lake/format=alb/x.parquet", Body=b"PAR1")
    own = {"key": "lake/format=alb/x.parquet", "size": 4, "eTag": "1" * 32}
    event = sqs_event([test_file, unknown])
    body = json.loads(event["Records"][0]["body"])
    own_record = json.loads(json.dumps(body["Records"][0]))
    own_record["s3"]["bucket"]["name"] = LAKE
    own_record["s3"]["object"] |= own
    body["Records"].append(own_record)
    event["Records"][0]["body"] = json.dumps(body)

    assert handler(event, FakeContext()) == {"batchItemFailures": []}
    assert lake.keys("manifests/") == []


def test_partition_registration_is_idempotent_across_objects_and_runs(lake: Lake) -> None:
    first = lake.put(KEYS["alb"], ALB_DOC, gz=True)
    second = lake.put(KEYS["alb"].replace("2n3g4h5i", "9z8y7x6w"), ALB_DOC, gz=True)

    run([first])
    run([second])
    run([first, second])

    assert lake.partitions("alb") == [["2018-07-02", "22"], ["2018-11-30", "22"]]
    assert lake.table("alb").num_rows == 14
    table = lake.glue.get_table(DatabaseName="devops_tasks_logs", Name="alb")["Table"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["dt", "hour"]
    columns = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    assert columns["time"] == "timestamp"
    assert columns["elb_status_code"] == "int"
    assert columns["extra_fields"] == "array<string>"
    assert table["StorageDescriptor"]["Location"] == f"s3://{LAKE}/lake/format=alb/"


def test_backfill_loads_a_prefix_within_the_date_range(lake: Lake) -> None:
    lake.put(KEYS["alb"], ALB_DOC, gz=True)
    lake.put(KEYS["cloudfront"], fixture("cloudfront/awsdocs-cloudfront-guide_2023-06_example.log"), gz=True)
    event = {"source_bucket": SOURCE, "prefix": "AWSLogs/", "start": "2020-01-01", "end": "2100-01-01"}

    resp = handler(event, FakeContext())

    counts = resp["units"][0]["counts"]
    assert (counts["objects_listed"], counts["objects_loaded"], counts["rows_out"]) == (1, 1, 7)
    assert lake.keys("lake/format=cloudfront/") == []
    again = handler(event, FakeContext())
    assert again["units"][0]["counts"]["objects_skipped"] == 1


def test_backfill_outside_the_window_loads_nothing(lake: Lake) -> None:
    lake.put(KEYS["alb"], ALB_DOC, gz=True)

    resp = handler({"start": "2001-01-01", "end": "2001-01-02"}, FakeContext())

    assert resp["units"][0]["counts"]["objects_outside_window"] == 1
    assert lake.keys() == []


def test_manual_run_loads_the_listed_keys_and_fails_on_missing_ones(lake: Lake) -> None:
    lake.put(KEYS["cloudtrail"], fixture("cloudtrail/awsdocs-cloudtrail-guide_2023-06_example-01-StartInstances.json"))

    with pytest.raises(RunFailed) as raised:
        handler({"keys": [KEYS["cloudtrail"], "AWSLogs/missing.json.gz"]}, FakeContext())

    report_ = raised.value.report
    assert report_["units"][0]["counts"]["objects_loaded"] == 1
    assert [f["operation"] for f in report_["units"][0]["failures"]] == ["head"]
    (row,) = lake.table("cloudtrail").to_pylist()
    assert row["eventName"] == "StartInstances"


def test_dry_run_plans_without_writing(lake: Lake) -> None:
    lake.put(KEYS["alb"], ALB_DOC, gz=True)

    resp = handler({"prefix": "AWSLogs/", "dry_run": True, "start": "2020-01-01"}, FakeContext())

    (action,) = resp["units"][0]["actions"]
    assert (action["action"], action["status"], action["detail"]["format"]) == ("load", "planned", "alb")
    assert lake.keys() == []


def test_a_catalog_failure_fails_the_message_and_the_retry_registers_the_partitions(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    register = Catalog.register
    calls = []

    def throttled_once(self: Catalog, log_format: str, partitions: Iterable[tuple[str, str]]) -> int:
        calls.append(log_format)
        if len(calls) == 1:
            raise RuntimeError("ThrottlingException: Rate exceeded")
        return register(self, log_format, partitions)

    monkeypatch.setattr(Catalog, "register", throttled_once)
    obj = lake.put(KEYS["alb"], ALB_DOC, gz=True)

    assert run([obj]) == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}
    assert run([obj]) == {"batchItemFailures": []}  # SQS delivers the message again

    assert lake.partitions("alb") == [["2018-07-02", "22"], ["2018-11-30", "22"]]
    assert lake.table("alb").num_rows == 7


def test_in_a_versioned_bucket_the_backfill_skips_objects_already_loaded(lake: Lake) -> None:
    lake.s3.put_bucket_versioning(Bucket=SOURCE, VersioningConfiguration={"Status": "Enabled"})
    obj = lake.put(KEYS["alb"], ALB_DOC, gz=True)
    version = lake.s3.head_object(Bucket=SOURCE, Key=KEYS["alb"])["VersionId"]
    assert run([obj | {"versionId": version}]) == {"batchItemFailures": []}  # S3 events carry the version
    backfill = {"prefix": "AWSLogs/", "start": "2020-01-01", "end": "2100-01-01"}

    first = handler(backfill, FakeContext())["units"][0]["counts"]
    second = handler(backfill, FakeContext())["units"][0]["counts"]

    assert (first.get("objects_loaded"), first.get("objects_skipped")) == (None, 1)
    assert (second.get("objects_loaded"), second.get("objects_skipped")) == (None, 1)
    assert lake.table("alb").num_rows == 7


def test_an_object_whose_lines_do_not_add_up_is_not_marked_loaded_and_its_message_fails(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    import functions.log_etl.execute as execute

    real_open = execute.open_parser

    class LosingALine:
        """The real parser, but one line is counted in and never accounted for."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __iter__(self) -> Iterator[Any]:
            yield from self.inner
            self.inner.counts.lines_in += 1

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    def losing_a_line(body: Any, log_format: str, **options: Any) -> Any:
        return LosingALine(real_open(body, log_format, **options))

    monkeypatch.setattr(execute, "open_parser", losing_a_line)
    obj = lake.put(KEYS["alb"], ALB_DOC, gz=True)

    resp = run([obj])

    assert resp == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}
    assert lake.keys("manifests/") == []
