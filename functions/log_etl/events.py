"""The S3 trigger: ``ObjectCreated`` notifications through SQS (partial batch failures), or delivered directly.

Each SQS message carries one S3 notification (or the ``s3:TestEvent`` sent when notifications are set up, which
is acknowledged and ignored). A message succeeds when every object it announces is loaded, skipped with a reason,
or quarantined as unreadable; otherwise its id is returned in ``batchItemFailures`` and SQS delivers it again,
then to the dead-letter queue. Loading is idempotent, so redelivery never duplicates rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from functions.log_etl.models import LogEtlInput, SourceObject
from functions.log_etl.plan import decide
from functions.log_etl.task import NAME, Loader, make_loader, policy_of, require_lake
from shared.aws import Clients
from shared.clock import TimeBudget, utcnow
from shared.observability import logger
from shared.report import RunReport, UnitResult, response_of
from shared.runner import check_destinations, finish, parse_run_input, start_run
from shared.s3events import S3ObjectEvent, is_s3_notification, is_sqs_batch, notification_of_body, object_events

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class MessageFailed(Exception):
    """Some object of the message was not loaded; SQS delivers the message again."""


def is_event_trigger(event: Any) -> bool:
    """Whether the event comes from the S3 trigger (SQS batch or direct notification) rather than a run input."""
    return (
        is_sqs_batch(event)
        or is_s3_notification(event)
        or (isinstance(event, Mapping) and event.get("Event") == "s3:TestEvent")
    )


def _account_of(event: Mapping[str, Any]) -> str:
    records = event.get("Records")
    first = records[0] if isinstance(records, list) and records and isinstance(records[0], Mapping) else {}
    arn = str(first.get("eventSourceARN", ""))
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 and parts[4] else "self"


def _load_events(events: list[S3ObjectEvent], loader: Loader, budget: TimeBudget) -> list[str]:
    """Load the objects of one notification; the URIs that failed."""
    failed = []
    policy = policy_of(loader.params)
    for event in events:
        if not event.created:
            loader.result.count("events_ignored")
            logger.info("event ignored", reason="not an ObjectCreated event", **event.log_fields())
            continue
        obj = SourceObject(event.bucket, event.key, event.etag, event.version_id, event.size, event.event_time)
        if budget.exhausted():
            loader.result.complete = False
            failed.append(obj.uri)
            continue
        decision = decide(obj, policy, loaded=loader.manifest_exists(obj))
        if decision.action == "skip":
            loader.skip(decision)
        elif loader.params.dry_run:
            loader.plan_only(decision)
        elif not loader.load(decision):
            failed.append(obj.uri)
    return failed


def run_events(
    event: Mapping[str, Any],
    context: Any = None,
    *,
    clients: Clients | None = None,
    clock: Callable[[], datetime] = utcnow,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Load the objects announced by an SQS batch (returns ``batchItemFailures``) or a direct S3 notification
    (returns the run report, raises :class:`shared.errors.RunFailed` when an object failed)."""
    run_id = start_run(context)
    params = parse_run_input(None, LogEtlInput, env=env)
    require_lake(params)
    clients = clients or Clients()
    now = clock()
    region = clients.default_region
    budget = TimeBudget.from_context(context, params.time_margin_seconds, params.max_seconds)
    report = RunReport(task=NAME, run_id=run_id, dry_run=params.dry_run, started_at=now, complete=False)
    checked = check_destinations(report, params, clients)
    if not checked.ok:  # nothing is loaded; the invocation fails, so every message is delivered again
        report.finished_at = clock()
        finish(report, params, clients, checked=checked)
    result = UnitResult(account=_account_of(event), region=region)
    report.units = [result]
    loader = make_loader(params, clients, region, result, now)

    if not is_sqs_batch(event):
        failed = _load_events(object_events(event), loader, budget)
        report.complete = result.complete
        report.finished_at = clock()
        finish(report, params, clients)
        logger.info("notification processed", failed=len(failed))
        return response_of(report)

    def record_handler(record: SQSRecord) -> None:
        try:
            events = object_events(notification_of_body(record.body))
        except Exception as exc:
            result.fail("read-message", exc, resource=record.message_id)
            raise
        result.count("messages")
        failed = _load_events(events, loader, budget)
        if failed:
            raise MessageFailed(f"message {record.message_id}: {len(failed)} object(s) not loaded: {failed[0]}")

    response: dict[str, Any] = dict(
        process_partial_response(event=dict(event), record_handler=record_handler, processor=processor, context=context)
    )
    result.count("messages_failed", len(response.get("batchItemFailures", [])))
    report.complete = result.complete
    report.finished_at = clock()
    finish(report, params, clients, raise_on_failure=False)
    return response
