"""S3 event notifications, as delivered to Lambda directly, through SQS, or through SNS then SQS.

S3 URL-encodes object keys in notifications (a space arrives as ``+``, ``/`` sometimes as ``%2F``): keys are
decoded here, once, with ``unquote_plus``. Records are read leniently: S3 omits fields in some deliveries (and
emulators omit more), and a missing optional field must not drop an upload from the log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import InputError

TEST_EVENT = "s3:TestEvent"


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


def object_events(notification: Mapping[str, Any]) -> list[S3ObjectEvent]:
    """The object events of one S3 notification; none for the ``s3:TestEvent`` sent when notifications are set up.

    Raises :class:`InputError` when the document is not an S3 notification.
    """
    if notification.get("Event") == TEST_EVENT:
        return []
    raw = notification.get("Records")
    if not isinstance(raw, list):
        raise InputError("not an S3 event notification: no Records list")
    events = []
    for index, item in enumerate(raw):
        try:
            record = _Record.model_validate(item)
        except ValidationError as exc:
            raise InputError.from_validation(f"S3 event record {index}", exc) from exc
        if record.event_source not in (None, "aws:s3"):
            raise InputError(f"S3 event record {index}: event source is {record.event_source}, not aws:s3")
        obj = record.s3.object
        events.append(
            S3ObjectEvent(
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
        )
    return events


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
    return bool(records) and isinstance(records, list) and records[0].get("eventSource") == "aws:sqs"
