"""Lambda entry point of the lake compaction (scheduled, or invoked by hand)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.log_compaction.task import TASK
from shared.observability import logger, metrics, tracer
from shared.runner import execute


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return execute(TASK, event, context)
