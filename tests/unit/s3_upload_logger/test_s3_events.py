"""Reading S3 notifications: AWS's documented shapes, encoded keys, test events, SNS envelopes, EventBridge
events, and records that cannot be read (each on its own)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.errors import InputError
from shared.s3events import (
    BadRecord,
    S3ObjectEvent,
    is_s3_notification,
    is_sqs_batch,
    notification_of_body,
    object_events,
    read_records,
)
from tests.helpers import load_event


def test_documented_put_event_gives_every_field() -> None:
    (event,) = object_events(load_event("s3_upload_logger/s3_object_created_put.json"))
    assert event.created
    assert event.bucket == "amzn-s3-demo-bucket"
    assert event.key == "HappyFace.jpg"
    assert event.size == 1024
    assert event.etag == "d41d8cd98f00b204e9800998ecf8427e"
    assert event.version_id == "096fKKXTRTtl3on89fVO.nfljtsv6qko"
    assert event.event_time == datetime(1970, 1, 1, tzinfo=UTC)
    assert event.principal == "AIDAJDPLRKLG7UEXAMPLE"
    assert event.source_ip == "127.0.0.1"
    assert event.request_id == "C3D13FE58DE4C810"


def test_keys_are_url_decoded_once() -> None:
    events = object_events(load_event("s3_upload_logger/s3_multi_records_encoded_keys.json"))
    assert [e.key for e in events] == [
        "builds/web app/release+1/résumé (1).tar.gz",
        "docs/read me.txt",
        "old/file.txt",
    ]
    assert [e.created for e in events] == [True, True, False]


def test_optional_fields_may_be_missing() -> None:
    doc = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": "a%2Fb"}}}]}
    (event,) = object_events(doc)
    assert (event.key, event.size, event.principal, event.source_ip) == ("a/b", None, None, None)
    assert event.log_fields() == {"event_name": "ObjectCreated:Put", "bucket": "b", "key": "a/b"}


def test_the_setup_test_event_carries_no_object() -> None:
    assert object_events(load_event("s3_upload_logger/s3_test_event.json")) == []


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"foo": 1}, "no Records"),
        ({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}}}]}, "s3.object"),
        (
            {
                "Records": [
                    {
                        "eventName": "x",
                        "eventSource": "aws:sqs",
                        "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}},
                    }
                ]
            },
            "aws:sqs",
        ),
    ],
)
def test_documents_that_are_not_s3_notifications_are_refused(doc: dict[str, object], where: str) -> None:
    with pytest.raises(InputError, match=where):
        object_events(doc)


def test_sns_envelope_is_unwrapped() -> None:
    put = load_event("s3_upload_logger/s3_object_created_put.json")
    body = json.dumps({"Type": "Notification", "Message": json.dumps(put)})
    assert notification_of_body(body) == put


@pytest.mark.parametrize("body", ["not json", "[1, 2]", ""])
def test_unreadable_bodies_are_refused(body: str) -> None:
    with pytest.raises(InputError):
        notification_of_body(body)


def test_sqs_batches_are_told_from_direct_notifications() -> None:
    assert is_sqs_batch(load_event("s3_upload_logger/sqs_s3_notifications.json"))
    assert not is_sqs_batch(load_event("s3_upload_logger/s3_object_created_put.json"))
    assert not is_sqs_batch({"Records": []})
    assert not is_sqs_batch(None)


@pytest.mark.parametrize("records", [["x"], [None], [7, {"eventName": "x"}]])
def test_records_that_are_not_objects_are_refused_naming_the_record(records: list[object]) -> None:
    with pytest.raises(InputError, match="S3 event record 0 is not a JSON object"):
        object_events({"Records": records})
    bad = read_records({"Records": records})
    assert [b.index for b in bad if isinstance(b, BadRecord)] == list(range(len(records)))


def test_one_bad_record_leaves_the_others_readable() -> None:
    good = load_event("s3_upload_logger/s3_object_created_put.json")["Records"][0]
    first, second, third = read_records({"Records": [good, None, good | {"s3": {"object": {"key": "k"}}}]})
    assert isinstance(first, S3ObjectEvent)
    assert first.key == "HappyFace.jpg"
    assert isinstance(second, BadRecord)
    assert second.reason == "S3 event record 1 is not a JSON object (got NoneType)"
    assert second.raw == "null"
    assert isinstance(third, BadRecord)
    assert "s3.bucket" in third.reason


@pytest.mark.parametrize("event", [{"Records": ["x"]}, {"Records": [None]}, [None], None, {"Records": "x"}, "x"])
def test_event_shapes_are_told_apart_without_reading_records(event: object) -> None:
    assert not is_sqs_batch(event)
    assert is_s3_notification(event) == (isinstance(event, dict) and isinstance(event.get("Records"), list))


def test_an_eventbridge_object_created_event_gives_every_field() -> None:
    event = load_event("s3_upload_logger/eventbridge_object_created.json")
    assert is_s3_notification(event)
    assert not is_sqs_batch(event)
    (found,) = object_events(event)
    assert found.created
    assert found.event_name == "ObjectCreated:Put"
    assert (found.bucket, found.key, found.size) == ("amzn-s3-demo-bucket1", "example-key", 5)
    assert (found.etag, found.version_id) == ("b1946ac92492d2347c6235b4d2611184", "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e")
    assert found.sequencer == "617f08299329d189"
    assert found.event_time == datetime(2021, 11, 12, tzinfo=UTC)
    assert (found.region, found.principal, found.source_ip) == ("ca-central-1", "123456789012", "1.2.3.4")
    assert found.request_id == "N4N7GDK58NMKJ12R"


def test_eventbridge_keys_are_decoded_and_other_detail_types_are_not_uploads() -> None:
    event = load_event("s3_upload_logger/eventbridge_object_created.json")
    event["detail"]["object"]["key"] = "a+dir/b%2B1.txt"
    event["detail"]["reason"] = "CompleteMultipartUpload"
    (created,) = object_events(event)
    assert (created.key, created.event_name) == ("a dir/b+1.txt", "ObjectCreated:CompleteMultipartUpload")
    deleted = event | {"detail-type": "Object Deleted"}
    deleted["detail"] = event["detail"] | {"reason": "DeleteObject", "deletion-type": "Delete Marker Created"}
    (removed,) = object_events(deleted)
    assert (removed.event_name, removed.created) == ("ObjectRemoved:DeleteMarkerCreated", False)


@pytest.mark.parametrize(
    "obj", [{"size": 5}, {"key": ""}, {"key": "k", "size": -1}, {"key": "k", "size": "5"}, "k"], ids=repr
)
def test_an_eventbridge_event_without_a_readable_object_is_a_bad_record(obj: object) -> None:
    event = load_event("s3_upload_logger/eventbridge_object_created.json")
    event["detail"]["object"] = obj
    (bad,) = read_records(event)
    assert isinstance(bad, BadRecord)
    assert bad.reason.startswith("EventBridge 'Object Created' event from aws.s3: ")
