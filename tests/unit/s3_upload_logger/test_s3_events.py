"""Reading S3 notifications: AWS's documented shapes, encoded keys, test events, SNS envelopes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.errors import InputError
from shared.s3events import is_sqs_batch, notification_of_body, object_events
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
