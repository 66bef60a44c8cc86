"""S3 event notifications, as delivered to Lambda directly, through SQS, or through SNS then SQS; and S3 events
through EventBridge ("Object Created", directly or through SQS).

S3 URL-encodes object keys in notifications (a space arrives as ``+``, ``/`` sometimes as ``%2F``): keys are
decoded here, once, with ``unquote_plus``. Records are read leniently: S3 omits fields in some deliveries (and
emulators omit more), and a missing optional field must not drop an upload from the log. Each record is read on
its own: one that cannot be read is a :class:`BadRecord` with the reason, and the others are still read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventBridgeNotificationEvent
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import InputError

TEST_EVENT = "s3:TestEvent"
RAW_CHARS = 2000
EVENTBRIDGE_REASONS = {
    "PutObject": "Put",
    "POST Object": "Post",
    "CopyObject": "Copy",
    "CompleteMultipartUpload": "CompleteMultipartUpload",
}
"""EventBridge's ``reason`` of an "Object Created" event, as the event name of an S3 notification says it."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Object(_Lenient):
    key: str = Field(min_length=1)
    size: int | None = Field(default=None, ge=0)
    etag: str | None = Field(default=None, alias="eTag")
    version_id: str | None = Field(default=None, alias="versionId")
    sequencer: str | None = None


class _Bucket(_Lenient):
    name: str = Field(min_length=1)


class _S3(_Lenient):
    bucket: _Bucket
    object: _Object


class _Identity(_Lenient):
    principal_id: str | None = Field(default=None, alias="principalId")


class _Request(_Lenient):
    source_ip: str | None = Field(default=None, alias="sourceIPAddress")


class _Record(_Lenient):
    event_source: str | None = Field(default=None, alias="eventSource")
    event_name: str = Field(alias="eventName")
    event_time: datetime | None = Field(default=None, alias="eventTime")
    region: str | None = Field(default=None, alias="awsRegion")
    user_identity: _Identity | None = Field(default=None, alias="userIdentity")
    request_parameters: _Request | None = Field(default=None, alias="requestParameters")
    response_elements: dict[str, str] | None = Field(default=None, alias="responseElements")
    s3: _S3


@dataclass(frozen=True)
class S3ObjectEvent:
    """One object event of a notification, with the key decoded."""

    event_name: str
    bucket: str
    key: str
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None
    event_time: datetime | None = None
    region: str | None = None
    principal: str | None = None
    source_ip: str | None = None
    request_id: str | None = None

    @property
    def created(self) -> bool:
        return self.event_name.startswith("ObjectCreated:")

    def log_fields(self) -> dict[str, Any]:
        """The event as structured log fields (absent values left out)."""
        fields: dict[str, Any] = {
            "event_name": self.event_name,
            "bucket": self.bucket,
            "key": self.key,
            "size": self.size,
            "etag": self.etag,
            "version_id": self.version_id,
            "sequencer": self.sequencer,
            "event_time": self.event_time.isoformat() if self.event_time else None,
            "region": self.region,
            "principal": self.principal,
            "source_ip": self.source_ip,
            "request_id": self.request_id,
        }
        return {k: v for k, v in fields.items() if v is not None}


@dataclass(frozen=True)
class BadRecord:
    """A record that cannot be read: where it is, why, and the record itself (JSON, cut at 2,000 characters)."""

    index: int
    reason: str
    raw: str

    def log_fields(self) -> dict[str, Any]:
        return {"record": self.index, "reason": self.reason, "raw": self.raw}


def read_records(notification: Mapping[str, Any]) -> list[S3ObjectEvent | BadRecord]:
    """Every record of one S3 notification (or the one object of an EventBridge S3 event), each read on its own.

    None for the ``s3:TestEvent`` sent when notifications are set up. Raises :class:`InputError` only when the
    document as a whole is no S3 notification; a record that cannot be read is a :class:`BadRecord`.
    """
    if notification.get("Event") == TEST_EVENT:
        return []
    if is_eventbridge_s3(notification):
        return [_eventbridge_record(notification)]
    raw = notification.get("Records")
    if not isinstance(raw, list):
        raise InputError("not an S3 event notification: no Records list (nor an EventBridge event from aws.s3)")
    return [_record(index, item) for index, item in enumerate(raw)]


def object_events(notification: Mapping[str, Any]) -> list[S3ObjectEvent]:
    """The object events of one S3 notification, all or nothing: raises :class:`InputError` naming the first
    record that cannot be read (or when the document is not an S3 notification)."""
    events = []
    for item in read_records(notification):
        if isinstance(item, BadRecord):
            raise InputError(item.reason)
        events.append(item)
    return events


def _raw(item: Any) -> str:
    try:
        text = json.dumps(item, default=str)
    except (TypeError, ValueError):
        text = repr(item)
    return text[:RAW_CHARS]


def _record(index: int, item: Any) -> S3ObjectEvent | BadRecord:
    where = f"S3 event record {index}"
    if not isinstance(item, Mapping):
        return BadRecord(index, f"{where} is not a JSON object (got {type(item).__name__})", _raw(item))
    try:
        record = _Record.model_validate(item)
    except ValidationError as exc:
        return BadRecord(index, str(InputError.from_validation(where, exc)), _raw(item))
    if record.event_source not in (None, "aws:s3"):
        return BadRecord(index, f"{where}: event source is {record.event_source}, not aws:s3", _raw(item))
    obj = record.s3.object
    return S3ObjectEvent(
        event_name=record.event_name,
        bucket=record.s3.bucket.name,
        key=unquote_plus(obj.key),
        size=obj.size,
        etag=obj.etag.strip('"') if obj.etag else None,
        version_id=obj.version_id,
        sequencer=obj.sequencer,
        event_time=record.event_time,
        region=record.region,
        principal=record.user_identity.principal_id if record.user_identity else None,
        source_ip=record.request_parameters.source_ip if record.request_parameters else None,
        request_id=(record.response_elements or {}).get("x-amz-request-id"),
    )


def _eventbridge_record(doc: Mapping[str, Any]) -> S3ObjectEvent | BadRecord:
    """An S3 event delivered by EventBridge, read with Powertools' data class; bucket and key are required."""
    event = S3EventBridgeNotificationEvent(dict(doc))
    try:
        bucket, key, size, time = _required(event)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        where = f"EventBridge {event.get('detail-type')!r} event from aws.s3"
        return BadRecord(0, f"{where}: {type(exc).__name__}: {exc}", _raw(doc))
    detail, obj = event.detail, event.detail.object
    return S3ObjectEvent(
        event_name=_event_name(str(event.detail_type), detail.reason, detail.deletion_type),
        bucket=bucket,
        key=key,
        size=size,
        etag=obj.etag.strip('"') or None,
        version_id=obj.get("version-id"),
        sequencer=obj.get("sequencer"),
        event_time=time,
        region=event.get("region"),
        principal=detail.get("requester"),
        source_ip=detail.source_ip_address,
        request_id=detail.get("request-id"),
    )


def _required(event: S3EventBridgeNotificationEvent) -> tuple[str, str, int | None, datetime | None]:
    """Bucket, key (decoded), size and time of an EventBridge S3 event; raises when one cannot be read."""
    bucket, obj = event.detail.bucket.name, event.detail.object
    key, size = obj.key, obj.size
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise ValueError("detail.bucket.name and detail.object.key must be non-empty strings")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise ValueError(f"detail.object.size must be a non-negative integer, not {size!r}")
    time = datetime.fromisoformat(event.time.replace("Z", "+00:00")) if event.get("time") else None
    return bucket, key, size, time


def _event_name(detail_type: str, reason: str | None, deletion_type: str | None) -> str:
    """The S3 notification event name of an EventBridge S3 event (``Object Created`` + ``PutObject`` ->
    ``ObjectCreated:Put``); other detail types keep their own name (they are not uploads)."""
    if detail_type == "Object Created":
        return "ObjectCreated:" + EVENTBRIDGE_REASONS.get(reason or "", reason or "Unknown")
    if detail_type == "Object Deleted":
        return "ObjectRemoved:" + ("DeleteMarkerCreated" if deletion_type == "Delete Marker Created" else "Delete")
    return detail_type


def is_eventbridge_s3(event: Any) -> bool:
    """Whether a document is an EventBridge event from S3 (``source`` ``aws.s3``, with a ``detail``)."""
    return (
        isinstance(event, Mapping)
        and event.get("source") == "aws.s3"
        and "detail-type" in event
        and isinstance(event.get("detail"), Mapping)
    )


def is_s3_notification(event: Any) -> bool:
    """Whether a Lambda event is delivered by S3 itself: a notification (a Records list that is not an SQS batch,
    whatever its records hold), the set-up test event, or an EventBridge event from S3."""
    if not isinstance(event, Mapping):
        return False
    records = event.get("Records")
    return (
        (isinstance(records, list) and bool(records) and not is_sqs_batch(event))
        or event.get("Event") == TEST_EVENT
        or is_eventbridge_s3(event)
    )


def notification_of_body(body: str | None) -> dict[str, Any]:
    """The S3 notification carried by an SQS message body, unwrapping an SNS envelope (S3 -> SNS -> SQS)."""
    try:
        doc = json.loads(body or "")
    except json.JSONDecodeError as exc:
        raise InputError("SQS message body is not JSON") from exc
    if not isinstance(doc, dict):
        raise InputError("SQS message body is not a JSON object")
    if doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):
        return notification_of_body(doc["Message"])
    return doc


def is_sqs_batch(event: Any) -> bool:
    """Whether a Lambda event is a batch of SQS messages (rather than a direct S3 notification)."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    return (
        isinstance(records, list)
        and bool(records)
        and isinstance(records[0], Mapping)
        and records[0].get("eventSource") == "aws:sqs"
    )
