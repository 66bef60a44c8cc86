"""The common flow of every handler: input -> units -> work -> report -> metrics -> notify -> raise or return.

A task supplies its input model and a ``work(params, unit, result, ctx)`` function; handlers stay a few lines.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
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
from shared.units import Unit, account_leaders, resolve_units, run_units

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
    leaders: frozenset[str] | None = None
    """The units (``account/region``) that also do their account's account-wide work: the first unit of each
    account in the run's unit order (:func:`shared.units.account_leaders`). None: the first unit to ask."""

    def leads(self, unit: Unit) -> bool:
        """Whether ``unit`` does its account's account-wide work (exactly one unit of each account does)."""
        if self.leaders is not None:
            return unit.label in self.leaders
        with self.lock:
            claimed: set[str] = self.state.setdefault("runner:leaders", set())
            if unit.account in claimed:
                return False
            claimed.add(unit.account)
            return True


@dataclass(frozen=True)
class Task(Generic[P]):
    """A task: its name (as in reports, metrics and the CLI), its input model and its per-unit work."""

    name: str
    params_model: type[P]
    work: Callable[[P, Unit, UnitResult, RunContext], None]
    finalize: Callable[[P, RunContext], None] | None = None
    """Called once after every unit and before the run report is written (e.g. to build a run-wide artefact).

    An exception escaping it is recorded as a run failure."""
    keep: Callable[[P, Unit, RunContext], Any] | None = None
    """What a fanned-out unit's work left in its context for ``finalize`` (JSON-able): written once with the
    unit's result, in the same object, so that no unit is reported without it (docs/scaling.md)."""
    restore: Callable[[P, RunContext, Mapping[str, list[Any]]], None] | None = None
    """Puts what the reported units kept (by unit, one entry per continuation) into the closing context, before
    ``finalize``; units that never reported have no entry."""
    prepare: Callable[[P, RunContext], Any] | None = None
    """Run-wide reads of a fanned-out run, made once by the dispatcher (JSON-able, kept in the run's manifest)."""
    adopt: Callable[[P, RunContext, Any], None] | None = None
    """Puts what ``prepare`` read into a unit worker's context, instead of the unit reading it again."""


def execute(
    task: Task[P],
    event: Any,
    context: Any = None,
    *,
    clients: Clients | None = None,
    clock: Callable[[], datetime] = utcnow,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    dispatch: Dispatch | None = None,
) -> dict[str, Any]:
    """Run a task end to end and return its report; raise :class:`RunFailed` at the end if anything failed.

    Input is validated first: an invalid event raises :class:`shared.errors.InputError` before any AWS call.
    ``dispatch`` (:func:`shared.fanout.dispatch`) may hand the units to workers instead: the run's report then
    says so, and the final report is written when the last unit reports.
    """
    run_id = start_run(context)
    params = parse_run_input(event, task.params_model, env=env, overrides=overrides)
    clients = clients or Clients()
    clients.name_sessions(run_id)
    clients.pace(params.rate_limits)
    now = clock()
    budget = TimeBudget.from_context(context, params.time_margin_seconds, params.max_seconds)
    report = RunReport(task=task.name, run_id=run_id, dry_run=params.dry_run, started_at=now, complete=False)
    if params.approval is not None:
        report.approval = params.approval.model_dump()
        logger.append_keys(plan_id=params.approval.plan_id, approved_by=params.approval.approved_by)
    logger.info("run started", task=task.name, dry_run=params.dry_run)

    checked = check_destinations(report, params, clients)
    dispatched = False
    if checked.ok:
        units, unreachable = resolve_units(params, clients)
        ctx = RunContext(now=now, budget=budget, report=report, clients=clients, leaders=account_leaders(units))
        try:
            dispatched = dispatch is not None and dispatch(task, params, units, unreachable, ctx)
        except Exception as exc:  # noqa: BLE001 - recorded; some units may be queued already: none run inline
            logger.exception("dispatch failed", task=task.name)
            report.units.append(_run_failure("dispatch", exc, task.name))
            dispatched = True
    if checked.ok and not dispatched:
        report.units = unreachable + run_units(
            units,
            lambda unit, result: task.work(params, unit, result, ctx),
            max_workers=params.max_workers,
            budget=budget,
        )
        report.complete = all(u.complete for u in report.units)
        finalize(task, params, ctx)
    report.finished_at = clock()
    finish(report, params, clients, checked=checked, totals=not dispatched)
    return response_of(report)


def finalize(task: Task[P], params: P, ctx: RunContext, kept: Mapping[str, list[Any]] | None = None) -> None:
    """The task's run-wide step, once per run (``kept``: what a fanned-out run's units kept, restored first). An
    exception escaping it is recorded as the run's failure (``finalize``), and the run fails in :func:`finish`."""
    if task.finalize is None:
        return
    try:
        if kept is not None and task.restore is not None:
            task.restore(params, ctx, kept)
        task.finalize(params, ctx)
    except Exception as exc:  # noqa: BLE001 - recorded, and the run fails in finish()
        logger.exception("finalize failed", task=task.name)
        ctx.report.units.append(_run_failure("finalize", exc, task.name))


Dispatch = Callable[[Task[Any], Any, Sequence[Unit], Sequence[UnitResult], RunContext], bool]
"""Given the run's task, input, units, unreachable accounts' results and context: True if it took the units."""


@dataclass(frozen=True)
class Destinations:
    """Whether the run's report bucket and notification topic answered the checks made before its work."""

    report: bool = True
    topic: bool = True

    @property
    def ok(self) -> bool:
        return self.report and self.topic


def check_destinations(report: RunReport, params: TaskSettings, clients: Clients) -> Destinations:
    """Prove, before any mutation, that the run can say what it did: write the report at its key (as incomplete:
    what a run killed later leaves behind) and look the topic up (GetTopicAttributes) if the run may notify.

    A failed check is recorded in the report; the caller then does no work and :func:`finish` tells the other
    destination (if it works) why, and raises. Checking by writing is the only proof S3 gives of a write
    permission (HeadBucket needs ListBucket, which the roles do not have, and proves nothing about PutObject).
    """
    report_ok = topic_ok = True
    if params.report_bucket:
        key = report.dated_key(params.report_prefix)
        try:
            _write_report(report, params.report_bucket, key, clients)
        except Exception as exc:  # noqa: BLE001 - recorded; the run does nothing and fails in finish()
            logger.exception("report bucket not writable", bucket=params.report_bucket, key=key)
            report.units.append(_run_failure("check-report-bucket", exc, f"s3://{params.report_bucket}/{key}"))
            report_ok = False
    if params.notify_topic_arn and params.notify_on != "never":
        try:
            _sns(clients, params.notify_topic_arn).get_topic_attributes(TopicArn=params.notify_topic_arn)
        except Exception as exc:  # noqa: BLE001 - recorded; the run does nothing and fails in finish()
            logger.exception("notify topic not found", topic=params.notify_topic_arn)
            report.units.append(_run_failure("check-notify-topic", exc, params.notify_topic_arn))
            topic_ok = False
    return Destinations(report=report_ok, topic=topic_ok)


def _write_report(report: RunReport, bucket: str, key: str, clients: Clients) -> None:
    clients.client("s3", clients.default_region).put_object(
        Bucket=bucket, Key=key, Body=report.to_json().encode(), ContentType="application/json"
    )


def _sns(clients: Clients, topic_arn: str) -> Any:
    """SNS in the topic's own region (SNS refuses a topic of another region)."""
    return clients.client("sns", topic_arn.split(":")[3])


_invocation_runs: dict[str, int] = {}
_invocation_lock = threading.Lock()


def run_id_for(request_id: str) -> str:
    """Lambda's request id for the first run of an invocation, ``<request id>-<n>`` for its n-th (an SQS batch
    of several markers runs one task per marker): every run has its own id, hence its own report key, even when
    two start in the same second. A warm container remembers only its latest request."""
    with _invocation_lock:
        n = _invocation_runs.get(request_id, 0) + 1
        _invocation_runs.clear()
        _invocation_runs[request_id] = n
    return request_id if n == 1 else f"{request_id}-{n}"


def start_run(context: Any) -> str:
    """The run's id: Lambda's request id (see :func:`run_id_for`; a new id outside Lambda). It goes on every log
    line that follows (as ``run_id`` and as the correlation id), in the report, the SNS summary and the metrics'
    metadata."""
    request_id = str(getattr(context, "aws_request_id", "") or "")
    run_id = run_id_for(request_id) if request_id else str(uuid.uuid4())
    logger.remove_keys(["policy", "schedule_execution_id", "plan_id", "approved_by"])
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


def finish(
    report: RunReport,
    params: TaskSettings,
    clients: Clients,
    *,
    raise_on_failure: bool = True,
    checked: Destinations | None = None,
    totals: bool = True,
    heartbeat: bool = True,
) -> None:
    """Write the report, emit metrics, notify; then raise if the run failed (unless ``raise_on_failure`` is off:
    event-driven handlers report failed items to their event source instead, e.g. SQS batch item failures).

    A destination that failed its check (``checked``, from :func:`check_destinations`) is not tried again; a run
    stopped by such a check always raises.

    A fanned-out run is counted and notified once: its dispatch (``totals`` off) counts only the schedule's
    heartbeat and notifies only a failure of its own; its final report (``heartbeat`` off) counts the totals."""
    checked = checked or Destinations()
    if params.report_bucket and checked.report:
        key = report.dated_key(params.report_prefix)
        try:
            _write_report(report, params.report_bucket, key, clients)
            report.location = f"s3://{params.report_bucket}/{key}"
        except Exception as exc:  # noqa: BLE001 - recorded, and the run fails below
            logger.exception("report not written", bucket=params.report_bucket, key=key)
            report.units.append(_run_failure("write-report", exc, f"s3://{params.report_bucket}/{key}"))

    summed = report.totals
    counts = summed | {"failed": summed.get("failed", 0), "incomplete": int(not report.complete)} if totals else {}
    if params.schedule is not None and heartbeat:
        # Also per policy (a handful of names, a low-cardinality dimension): its heartbeat alarm watches
        # scheduled_runs, which every scheduled run that gets this far adds, failed or not.
        metrics.add_dimensions(service=report.task, policy=params.schedule.policy)
        counts["scheduled_runs"] = 1
    count_metrics(counts)
    notify = should_notify(report, params.notify_on) if totals else report.failed
    if params.notify_topic_arn and checked.topic and notify:
        try:
            publish(_sns(clients, params.notify_topic_arn), params.notify_topic_arn, report)
        except Exception as exc:  # noqa: BLE001 - recorded, and the run fails below
            logger.exception("notification not sent", topic=params.notify_topic_arn)
            report.units.append(_run_failure("notify", exc, params.notify_topic_arn))

    logger.info("run finished", **report.summary())
    if report.failed and (raise_on_failure or not checked.ok):
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
