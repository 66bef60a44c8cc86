"""Lambda entry point of the S3 upload logger: S3 notifications and EventBridge S3 events, directly or through SQS
(partial batch failures)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.s3_upload_logger.models import UploadLoggerSettings
from functions.s3_upload_logger.task import Tally, log_uploads
from shared.inputs import parse_input
from shared.observability import logger, metrics, tracer
from shared.runner import start_run
from shared.s3events import is_sqs_batch, notification_of_body, read_records

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def run(event: Any, context: Any = None, *, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Log the uploads of an S3 notification (or EventBridge S3 event) or of a batch of SQS messages carrying them.

    A direct event that is no S3 notification at all raises :class:`shared.errors.InputError`; in an SQS batch, a
    message that cannot be read is reported as a batch item failure and the others are logged. A record that
    cannot be read is rejected on its own (an ERROR line with the reason and the record, the RecordsRejected
    metric and its alarm), and the other records of its notification are logged: delivering the notification
    again would not make the record readable, and would log its good records twice.
    """
    start_run(context)
    settings = parse_input(None, UploadLoggerSettings, env=env)
    tally = Tally()
    if is_sqs_batch(event):

        def record_handler(record: SQSRecord) -> None:
            records = read_records(notification_of_body(record.body))
            log_uploads(records, settings, tally, message_id=record.message_id)

        response: dict[str, Any] = dict(
            process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
        )
    else:
        log_uploads(read_records(event if isinstance(event, Mapping) else {}), settings, tally)
        response = tally.as_dict()
    tally.emit()
    return response


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run(event, context)
