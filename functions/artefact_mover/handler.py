"""Lambda entry point of the artefact mover.

Three triggers: S3 notifications (or EventBridge S3 events) for build marker files, in SQS batches or direct (each
marker runs the configured ``operation`` on its build; a failed run fails only its message), an EventBridge
schedule (``retain``), and a manual payload naming the source and destination.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.artefact_mover.models import ArtefactMoverInput
from functions.artefact_mover.task import TASK
from shared.errors import InputError, RunFailed
from shared.inputs import env_defaults
from shared.observability import logger, metrics, tracer
from shared.runner import execute
from shared.s3events import BadRecord, is_s3_notification, is_sqs_batch, notification_of_body, read_records

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def marker_name(env: Mapping[str, str]) -> str:
    default = ArtefactMoverInput.model_fields["marker_name"].default
    return str(env_defaults(ArtefactMoverInput, env).get("marker_name", default))


def run_markers(notification: Mapping[str, Any], context: Any, env: Mapping[str, str]) -> list[dict[str, Any]]:
    """One run per marker object created in the notification, each on its own; raises RunFailed after all ran if
    any failed.

    Refused before any AWS call: a record that cannot be read, and a marker in a bucket other than the configured
    builds bucket (``bucket``, ``DEVOPS_TASKS_BUCKET``). A run that stopped early (time budget, or a build still
    uploading) counts as failed too: its build is not done, and only a failed message (or invocation) is delivered
    again to finish it.
    """
    name = marker_name(env)
    configured = str(env_defaults(ArtefactMoverInput, env).get("bucket") or "").strip().lower()
    reports: list[dict[str, Any]] = []
    failed: list[str] = []

    def refuse(where: str, why: str) -> None:
        logger.error("marker refused", marker=where, reason=why)
        reports.append({"marker": where, "status": "refused", "error": why})
        failed.append(f"{where}: {why}")

    for index, event in enumerate(read_records(notification)):
        if isinstance(event, BadRecord):
            refuse(f"record {index}", event.reason)
            continue
        where = f"s3://{event.bucket}/{event.key}"
        if not event.created or posixpath.basename(event.key) != name:
            logger.info("event ignored", bucket=event.bucket, key=event.key, event_name=event.event_name)
            continue
        if event.bucket.lower() != configured:
            refuse(where, f"bucket {event.bucket} is not the configured builds bucket {configured or '(none)'}")
            continue
        try:
            report = execute(TASK, {"bucket": event.bucket, "marker_key": event.key}, context, env=env)
        except RunFailed as exc:
            reports.append(exc.report)
            failed.append(str(exc))
            continue
        except InputError as exc:  # this marker names no build that can be moved; the others go on
            refuse(where, str(exc))
            continue
        reports.append(report)
        if report.get("status") == "incomplete":
            failed.append(f"run for {where} is incomplete")
    if failed:
        raise RunFailed(f"{len(failed)} marker run(s) failed; first: {failed[0]}", report={"runs": reports})
    return reports


def run(event: Any, context: Any = None, *, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if env is None else env
    if is_sqs_batch(event):

        def record_handler(record: SQSRecord) -> None:
            run_markers(notification_of_body(record.body), context, env)

        return dict(
            process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
        )
    if is_s3_notification(event):
        return {"runs": run_markers(event, context, env)}
    return execute(TASK, event, context, env=env)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run(event, context)
