"""Lambda entry point of the S3 upload logger: S3 notifications, directly or through SQS (partial batch failures)."""

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
from shared.s3events import is_sqs_batch, notification_of_body, object_events

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def run(event: Any, context: Any = None, *, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Log the uploads of an S3 notification or of a batch of SQS messages carrying them.

    A direct notification that cannot be read raises :class:`shared.errors.InputError`; in an SQS batch, the
    message that cannot be read is reported as a batch item failure and the others are logged.
    """
    start_run(context)
    settings = parse_input(None, UploadLoggerSettings, env=env)
    tally = Tally()
    if is_sqs_batch(event):

        def record_handler(record: SQSRecord) -> None:
            log_uploads(object_events(notification_of_body(record.body)), settings, tally)

        response: dict[str, Any] = dict(
            process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
        )
    else:
        log_uploads(object_events(event if isinstance(event, Mapping) else {}), settings, tally)
        response = tally.as_dict()
    tally.emit()
    return response


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run(event, context)
