"""Lambda entry point of the log ETL: S3 events through SQS, or a backfill/manual run input."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.log_etl.events import is_event_trigger, run_events
from functions.log_etl.task import TASK
from shared.observability import logger, metrics, tracer
from shared.runner import execute


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_event_trigger(event):
        return run_events(event, context)
    return execute(TASK, event, context)
