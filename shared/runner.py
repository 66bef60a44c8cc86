"""The common flow of every handler: input -> units -> work -> report -> metrics -> notify -> raise or return.

A task supplies its input model and a ``work(params, unit, result, ctx)`` function; handlers stay a few lines.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from shared.aws import Clients
from shared.clock import TimeBudget, utcnow
from shared.errors import InputError, RunFailed
from shared.inputs import TaskSettings, parse_input
from shared.notify import publish, should_notify
from shared.observability import count_metrics, logger, metrics
from shared.report import RunReport, UnitResult, response_of
from shared.units import Unit, resolve_units, run_units

P = TypeVar("P", bound=TaskSettings)


@dataclass(frozen=True)
class RunContext:
    """What a unit of work may use besides its unit: the run's "now", its time budget and its report."""

    now: datetime
    budget: TimeBudget
    report: RunReport
    clients: Clients
    state: dict[str, Any] = field(default_factory=dict)
    """Run-wide scratch space for tasks whose units share results; guard read-modify-write with ``lock``."""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@dataclass(frozen=True)
class Task(Generic[P]):
    """A task: its name (as in reports, metrics and the CLI), its input model and its per-unit work."""

    name: str
    params_model: type[P]
    work: Callable[[P, Unit, UnitResult, RunContext], None]
    finalize: Callable[[P, RunContext], None] | None = None
    """Called once after every unit and before the run report is written (e.g. to build a run-wide artefact).

    An exception escaping it is recorded as a run failure."""


def execute(
    task: Task[P],
    event: Any,
    context: Any = None,
    *,
    clients: Clients | None = None,
    clock: Callable[[], datetime] = utcnow,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run a task end to end and return its report; raise :class:`RunFailed` at the end if anything failed.

    Input is validated first: an invalid event raises :class:`shared.errors.InputError` before any AWS call.
    """
    run_id = start_run(context)
    params = parse_run_input(event, task.params_model, env=env, overrides=overrides)
    clients = clients or Clients()
    clients.name_sessions(run_id)
    clients.pace(params.rate_limits)
    now = clock()
    budget = TimeBudget.from_context(context, params.time_margin_seconds, params.max_seconds)
    report = RunReport(task=task.name, run_id=run_id, dry_run=params.dry_run, started_at=now)
    logger.info("run started", task=task.name, dry_run=params.dry_run)

    units, unreachable = resolve_units(params, clients)
    ctx = RunContext(now=now, budget=budget, report=report, clients=clients)
    report.units = unreachable + run_units(
        units,
        lambda unit, result: task.work(params, unit, result, ctx),
        max_workers=params.max_workers,
        budget=budget,
    )
    report.complete = all(u.complete for u in report.units)
    if task.finalize is not None:
        try:
            task.finalize(params, ctx)
        except Exception as exc:  # noqa: BLE001 - recorded, and the run fails in finish()
            logger.exception("finalize failed", task=task.name)
            report.units.append(_run_failure("finalize", exc, task.name))
    report.finished_at = clock()
    finish(report, params, clients)
    return response_of(report)


def start_run(context: Any) -> str:
    """The run's id: Lambda's request id (a new id outside Lambda). It goes on every log line that follows (as
    ``run_id`` and as the correlation id), in the report, the SNS summary and the metrics' metadata."""
    run_id = str(getattr(context, "aws_request_id", "") or uuid.uuid4())
    logger.remove_keys(["policy", "schedule_execution_id"])
    logger.append_keys(run_id=run_id)
    logger.set_correlation_id(run_id)
    metrics.add_metadata(key="run_id", value=run_id)
    return run_id


def parse_run_input(
    event: Any,
    model: type[P],
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> P:
    """The run's validated input. A refused input is logged and counted (``invalid_input``) before it is raised."""
    try:
        params = parse_input(event, model, env=env, overrides=overrides)
    except InputError as exc:
        logger.error("input refused", problems=exc.problems)
        count_metrics({"invalid_input": 1})
        raise
    if params.schedule is not None:
        logger.append_keys(policy=params.schedule.policy, schedule_execution_id=params.schedule.execution_id)
    return params


def finish(report: RunReport, params: TaskSettings, clients: Clients, *, raise_on_failure: bool = True) -> None:
    """Write the report, emit metrics, notify; then raise if the run failed (unless ``raise_on_failure`` is off:
    event-driven handlers report failed items to their event source instead, e.g. SQS batch item failures)."""
    if params.report_bucket:
        key = report.dated_key(params.report_prefix)
        try:
            clients.client("s3", clients.default_region).put_object(
                Bucket=params.report_bucket,
                Key=key,
                Body=report.to_json().encode(),
                ContentType="application/json",
            )
            report.location = f"s3://{params.report_bucket}/{key}"
        except Exception as exc:  # noqa: BLE001 - recorded, and the run fails below
            logger.exception("report not written", bucket=params.report_bucket, key=key)
            report.units.append(_run_failure("write-report", exc, f"s3://{params.report_bucket}/{key}"))

    totals = report.totals
    counts = totals | {"failed": totals.get("failed", 0), "incomplete": int(not report.complete)}
    if params.schedule is not None:
        # Also per policy (a handful of names, a low-cardinality dimension): its heartbeat alarm watches
        # scheduled_runs, which every scheduled run that gets this far adds, failed or not.
        metrics.add_dimensions(service=report.task, policy=params.schedule.policy)
        counts["scheduled_runs"] = 1
    count_metrics(counts)
    if params.notify_topic_arn and should_notify(report, params.notify_on):
        try:
            publish(clients.client("sns", clients.default_region), params.notify_topic_arn, report)
        except Exception as exc:  # noqa: BLE001 - recorded, and the run fails below
            logger.exception("notification not sent", topic=params.notify_topic_arn)
            report.units.append(_run_failure("notify", exc, params.notify_topic_arn))

    logger.info("run finished", **report.summary())
    if report.failed and raise_on_failure:
        raise RunFailed(
            f"{report.task} run {report.run_id} failed: {len(report.failures)} failure(s); "
            f"first: {report.failures[0].operation} {report.failures[0].resource}: "
            f"{report.failures[0].error_code}",
            report=response_of(report),
        )


def _run_failure(operation: str, exc: BaseException, resource: str) -> UnitResult:
    result = UnitResult(account="*", region="*")
    result.fail(operation, exc, resource=resource)
    return result
