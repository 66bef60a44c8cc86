"""Log every object uploaded to the configured buckets: one structured line per object, and EMF metrics."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit

from functions.s3_upload_logger.models import UploadLoggerSettings
from shared.observability import logger, metrics
from shared.s3events import BadRecord, S3ObjectEvent

NAME = "s3-upload-logger"

PERMISSIONS = frozenset({"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"})
"""The IAM actions of this function: only those of the SQS event source mapping that polls the upload queue (the
code itself calls no AWS API: it reads the events it is given)."""

USES_RUNNER = False
"""No run report, notification or other account: the shared runner's permissions are not granted."""


@dataclass
class Tally:
    """What one invocation logged, emitted as metrics at the end."""

    objects: int = 0
    bytes: int = 0
    ignored: int = 0
    rejected: int = 0

    def emit(self) -> None:
        metrics.add_metric(name="ObjectsUploaded", unit=MetricUnit.Count, value=self.objects)
        metrics.add_metric(name="BytesUploaded", unit=MetricUnit.Bytes, value=self.bytes)
        if self.ignored:
            metrics.add_metric(name="EventsIgnored", unit=MetricUnit.Count, value=self.ignored)
        if self.rejected:
            metrics.add_metric(name="RecordsRejected", unit=MetricUnit.Count, value=self.rejected)

    def as_dict(self) -> dict[str, int]:
        return {"uploads": self.objects, "bytes": self.bytes, "ignored": self.ignored, "rejected": self.rejected}


def wanted(event: S3ObjectEvent, settings: UploadLoggerSettings) -> str | None:
    """Why an event is not logged as an upload, or None when it is."""
    if not event.created:
        return f"{event.event_name} is not an ObjectCreated event"
    if settings.buckets and event.bucket.lower() not in settings.buckets:
        return f"bucket {event.bucket} is not configured"
    if settings.prefixes and not any(event.key.startswith(p) for p in settings.prefixes):
        return "key outside the configured prefixes"
    return None


def log_uploads(
    events: Iterable[S3ObjectEvent | BadRecord],
    settings: UploadLoggerSettings,
    tally: Tally,
    *,
    message_id: str | None = None,
) -> None:
    """One log line per uploaded object (bucket, key, size, ETag, version, time, principal, source IP); one ERROR
    line per record that cannot be read (its index, the reason, the record itself), counted as rejected."""
    for event in events:
        if isinstance(event, BadRecord):
            logger.error("record rejected", **event.log_fields(), message_id=message_id)
            tally.rejected += 1
            continue
        reason = wanted(event, settings)
        if reason is not None:
            logger.info("event ignored", reason=reason, bucket=event.bucket, key=event.key, event_name=event.event_name)
            tally.ignored += 1
            continue
        logger.info("object uploaded", **event.log_fields())
        tally.objects += 1
        tally.bytes += event.size or 0
