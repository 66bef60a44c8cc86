"""The upload logger's handler: one log line and metrics per upload, per-message failures for SQS batches."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from cli.sqs import lambda_sqs_event
from functions.s3_upload_logger.handler import handler
from shared.errors import InputError
from shared.observability import logger, metrics
from tests.helpers import REGION, FakeContext, load_event


class Output:
    """What the function printed: JSON log lines (Powertools Logger's stream) and EMF blobs (stdout)."""

    def __init__(self, logs: io.StringIO, capsys: pytest.CaptureFixture[str]) -> None:
        self._logs, self._capsys = logs, capsys

    def lines(self) -> list[dict[str, Any]]:
        return _lines(self._logs.getvalue() + "\n" + self._capsys.readouterr().out)


@pytest.fixture
def output(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Output]:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)  # set by local CLI runs in other tests
    metrics.clear_metrics()  # metrics added outside a handler by other tests are not this test's
    stream = io.StringIO()
    handler: Any = logger.registered_handler
    previous = handler.stream  # swapped without setStream, which flushes a stream other tests may have closed
    handler.stream = stream
    level = logger.log_level
    logger.setLevel("INFO")  # other tests (local CLI runs) quieten the shared logger
    yield Output(stream, capsys)
    handler.stream = previous
    logger.setLevel(level)


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _uploads(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("message") == "object uploaded"]


def _metrics(lines: list[dict[str, Any]]) -> dict[str, Any]:
    (emf,) = [line for line in lines if "_aws" in line]
    values = {m["Name"]: emf[m["Name"]] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    return {name: sum(v) if isinstance(v, list) else v for name, v in values.items()}


def test_direct_notification_logs_each_upload_with_its_origin(output: Output) -> None:
    result = handler(load_event("s3_upload_logger/s3_object_created_put.json"), FakeContext())

    assert result == {"uploads": 1, "bytes": 1024, "ignored": 0, "rejected": 0}
    lines = output.lines()
    (line,) = _uploads(lines)
    assert line["bucket"] == "amzn-s3-demo-bucket"
    assert line["key"] == "HappyFace.jpg"
    assert line["size"] == 1024
    assert line["etag"] == "d41d8cd98f00b204e9800998ecf8427e"
    assert line["version_id"] == "096fKKXTRTtl3on89fVO.nfljtsv6qko"
    assert line["event_time"] == "1970-01-01T00:00:00+00:00"
    assert line["principal"] == "AIDAJDPLRKLG7UEXAMPLE"
    assert line["source_ip"] == "127.0.0.1"
    assert _metrics(lines) == {"ObjectsUploaded": 1.0, "BytesUploaded": 1024.0}


def test_removals_are_not_uploads_and_keys_are_decoded(output: Output) -> None:
    result = handler(load_event("s3_upload_logger/s3_multi_records_encoded_keys.json"), FakeContext())

    assert result == {"uploads": 2, "bytes": 73400320, "ignored": 1, "rejected": 0}
    lines = output.lines()
    assert [u["key"] for u in _uploads(lines)] == ["builds/web app/release+1/résumé (1).tar.gz", "docs/read me.txt"]
    assert _metrics(lines)["EventsIgnored"] == 1.0


def test_uploads_outside_the_configured_buckets_and_prefixes_are_ignored(
    output: Output, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVOPS_TASKS_BUCKETS", "other-bucket")
    assert handler(load_event("s3_upload_logger/s3_object_created_put.json"), FakeContext())["uploads"] == 0
    monkeypatch.setenv("DEVOPS_TASKS_BUCKETS", "Amzn-S3-Demo-Bucket")
    monkeypatch.setenv("DEVOPS_TASKS_PREFIXES", "builds/")
    result = handler(load_event("s3_upload_logger/s3_multi_records_encoded_keys.json"), FakeContext())
    assert result == {"uploads": 1, "bytes": 73400320, "ignored": 2, "rejected": 0}


def test_sqs_batch_reports_only_the_unreadable_message(output: Output) -> None:
    event = load_event("s3_upload_logger/sqs_s3_notifications.json")

    result = handler(event, FakeContext())

    assert result == {"batchItemFailures": [{"itemIdentifier": "6a1f0e2c-22a4-4bd0-8f57-9f4b8a3c7d55"}]}
    lines = output.lines()
    assert [u["key"] for u in _uploads(lines)] == ["HappyFace.jpg", "HappyFace.jpg"]
    assert _metrics(lines) == {"ObjectsUploaded": 2.0, "BytesUploaded": 2048.0}


def test_a_batch_of_only_bad_messages_reports_each_of_them() -> None:
    event = load_event("s3_upload_logger/sqs_s3_notifications.json")
    for record in event["Records"]:
        record["body"] = "{}"
    result = handler(event, FakeContext())
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [r["messageId"] for r in event["Records"]]


def test_a_malformed_direct_event_fails_the_invocation() -> None:
    with pytest.raises(InputError, match="no Records"):
        handler({"hello": "world"}, FakeContext())


@pytest.mark.usefixtures("aws")
def test_notifications_delivered_by_s3_through_sqs_are_logged(output: Output) -> None:
    s3, sqs = boto3.client("s3", region_name=REGION), boto3.client("sqs", region_name=REGION)
    s3.create_bucket(Bucket="uploads", CreateBucketConfiguration={"LocationConstraint": REGION})
    queue = sqs.create_queue(QueueName="uploads")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket="uploads",
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    s3.put_object(Bucket="uploads", Key="a dir/r+d (1).txt", Body=b"x" * 10)
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    event = lambda_sqs_event(messages, arn, REGION)

    result = handler(event, FakeContext())

    assert result == {"batchItemFailures": []}
    (line,) = _uploads(output.lines())
    assert (line["bucket"], line["key"], line["size"]) == ("uploads", "a dir/r+d (1).txt", 10)


def _sqs(*bodies: Any) -> dict[str, Any]:
    """An SQS batch (as Lambda delivers it) of messages with these bodies (JSON-encoded unless strings)."""
    template = load_event("s3_upload_logger/sqs_s3_notifications.json")["Records"][0]
    return {
        "Records": [
            template | {"messageId": f"m-{i}", "body": b if isinstance(b, str) else json.dumps(b)}
            for i, b in enumerate(bodies)
        ]
    }


def test_an_eventbridge_object_created_event_is_logged(output: Output) -> None:
    result = handler(load_event("s3_upload_logger/eventbridge_object_created.json"), FakeContext())

    assert result == {"uploads": 1, "bytes": 5, "ignored": 0, "rejected": 0}
    (line,) = _uploads(output.lines())
    assert (line["event_name"], line["bucket"], line["key"], line["size"]) == (
        "ObjectCreated:Put",
        "amzn-s3-demo-bucket1",
        "example-key",
        5,
    )
    assert (line["principal"], line["source_ip"], line["request_id"]) == ("123456789012", "1.2.3.4", "N4N7GDK58NMKJ12R")


def test_eventbridge_events_through_sqs_are_logged(output: Output) -> None:
    created = load_event("s3_upload_logger/eventbridge_object_created.json")
    deleted = created | {"detail-type": "Object Deleted"}

    result = handler(_sqs(created, deleted), FakeContext())

    assert result == {"batchItemFailures": []}
    lines = output.lines()
    assert [u["key"] for u in _uploads(lines)] == ["example-key"]
    assert _metrics(lines) == {"ObjectsUploaded": 1.0, "BytesUploaded": 5.0, "EventsIgnored": 1.0}


def test_a_bad_record_is_rejected_and_counted_and_the_good_ones_are_logged(output: Output) -> None:
    good = load_event("s3_upload_logger/s3_object_created_put.json")["Records"][0]

    result = handler({"Records": [good, "x", good | {"s3": {}}, good]}, FakeContext())

    assert result == {"uploads": 2, "bytes": 2048, "ignored": 0, "rejected": 2}
    lines = output.lines()
    assert len(_uploads(lines)) == 2
    rejected = [line for line in lines if line.get("message") == "record rejected"]
    assert [(r["level"], r["record"]) for r in rejected] == [("ERROR", 1), ("ERROR", 2)]
    assert rejected[0]["reason"] == "S3 event record 1 is not a JSON object (got str)"
    assert rejected[0]["raw"] == '"x"'
    assert _metrics(lines)["RecordsRejected"] == 2.0


@pytest.mark.parametrize("records", [["x"], [None]])
def test_a_notification_of_unreadable_records_rejects_each_without_crashing(output: Output, records: list[Any]) -> None:
    assert handler({"Records": records}, FakeContext())["rejected"] == 1
    assert _metrics(output.lines())["RecordsRejected"] == 1.0
    assert handler(_sqs({"Records": records}), FakeContext()) == {"batchItemFailures": []}
    assert _metrics(output.lines())["RecordsRejected"] == 1.0


def test_a_bad_record_in_a_message_does_not_fail_it_or_its_good_records(output: Output) -> None:
    good = load_event("s3_upload_logger/s3_object_created_put.json")["Records"][0]

    result = handler(_sqs({"Records": [good, None]}, {"Records": [good]}), FakeContext())

    assert result == {"batchItemFailures": []}  # retrying would log the good one again, and fail the bad one again
    lines = output.lines()
    assert len(_uploads(lines)) == 2
    (rejected,) = [line for line in lines if line.get("message") == "record rejected"]
    assert (rejected["message_id"], rejected["record"]) == ("m-0", 1)
    assert _metrics(lines)["RecordsRejected"] == 1.0
