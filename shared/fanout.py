"""Fan-out of a run's (account, region) units over SQS and Lambda.

A run with more units than ``fanout_above`` is dispatched instead of run inline: the scheduled invocation writes the
run manifest to the reports bucket, sends one message per unit to the task's unit queue (SendMessageBatch, 10 a
call) and a delayed "close" message, and returns. The same function consumes the queue through an event source
mapping (batch size 1, a maximum concurrency): each message runs one unit with the task's own ``work``, through
:func:`shared.units.run_units` as an inline run does, and writes the unit's result once (:mod:`shared.runstore`).
The worker that writes the last result composes the final run report (written once, by conditional write), which
is then written, counted and notified as an inline run's report is; a task with a run-wide step (``finalize``)
gets a "finalize" message instead, so that the step has an invocation of its own. The run is completed under a
lease and marked ``finished.json``. A unit that runs low on time or whose
mutations are deferred re-enqueues itself (a continuation, ``DelaySeconds``); the close message comes back until
the run's deadline, then closes the run with every unit that never reported as lost (or dead-lettered).

The units are whatever :func:`shared.units.resolve_units` found; how they were found does not matter here.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.aws import Clients, error_code
from shared.clock import TimeBudget, utcnow
from shared.inputs import TaskSettings
from shared.observability import count_metrics, logger
from shared.report import Action, RunReport, UnitResult
from shared.runner import RunContext, Task, execute, finalize, finish
from shared.runstore import Lease, Manifest, RunStore, StoredResult, merge, unit_key
from shared.s3events import is_sqs_batch
from shared.units import Unit, account_leaders, run_units

LAMBDA_MAX_SECONDS = 900
"""Lambda's longest timeout: no lease outlives the invocation that took it."""
MAX_DELAY_SECONDS = 900
"""SQS's longest DelaySeconds."""
MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 262_144
"""SendMessageBatch: at most 10 entries and 256 KiB of bodies a call (the smaller limit of older regions)."""
SEND_ATTEMPTS = 4
"""Tries of the entries a SendMessageBatch call reports failed by SQS's fault (the call itself succeeded)."""


class UnitBusy(RuntimeError):
    """Another delivery of the same message holds the unit's lease: this delivery is a batch item failure."""


class FanOutSettings(TaskSettings):
    """A task input whose runs may fan out (the tasks that iterate units subclass it instead of TaskSettings)."""

    model_config = ConfigDict(extra="forbid")

    fanout_above: int = Field(
        default=20, ge=1, le=100_000, description="more units than this are fanned out over the unit queue"
    )
    unit_queue_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]{1,1000}$",
        description="the task's unit queue (set by serverless.yml); null: every run runs inline",
    )
    continuation_delay_seconds: int = Field(
        default=60, ge=0, le=MAX_DELAY_SECONDS, description="delay of a unit's continuation message"
    )
    max_continuations: int = Field(
        default=10, ge=0, le=100, description="continuations of one unit; then it ends incomplete, with the reason"
    )
    run_deadline_seconds: int = Field(
        default=6 * 3600,
        ge=MAX_DELAY_SECONDS,
        le=86_400,
        description="a unit that has not reported this long after the dispatch is reported lost",
    )


class RunRef(BaseModel):
    """What every message of a run carries: the run, and its input as every unit runs it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    run_id: str
    started_at: datetime
    deadline: datetime
    units: int = Field(ge=1)
    input: dict[str, Any]


class UnitMessage(RunRef):
    """Run one unit (or continue it)."""

    kind: Literal["unit"] = "unit"
    account: str
    region: str
    role_arn: str | None = None
    external_id: str | None = None
    continuation: int = Field(default=0, ge=0)
    leads: bool = Field(default=False, description="the unit also does its account's account-wide work")

    @property
    def label(self) -> str:
        return unit_key(self.account, self.region)


class CloseMessage(RunRef):
    """Close the run once its deadline has passed (sent again, delayed, until then)."""

    kind: Literal["close"] = "close"


class FinalizeMessage(RunRef):
    """Run the task's run-wide step and publish the final report: sent by the worker that closed the run, so that
    the step has an invocation of its own (a whole time budget), not what is left of the last unit's."""

    kind: Literal["finalize"] = "finalize"


MESSAGE: TypeAdapter[UnitMessage | CloseMessage | FinalizeMessage] = TypeAdapter(
    Annotated[UnitMessage | CloseMessage | FinalizeMessage, Field(discriminator="kind")]
)

COMPLETION_GRACE_SECONDS = 3600
"""How long after its deadline a closed run's close message still comes back to complete it (then: an error)."""
FINALIZE = "finalize"
"""The lease name of a run's completion (no unit is named so: a unit is ``<account>.<region>``)."""


def handle(task: Task[Any], event: Any, context: Any = None, *, clients: Clients | None = None) -> dict[str, Any]:
    """A task function's entry: a batch from the unit queue is worked on, any other event is a run."""
    if is_sqs_batch(event):
        return work_batch(task, event, context, clients=clients)
    return execute(task, event, context, clients=clients, dispatch=dispatch)


def fans_out(params: TaskSettings, units: int) -> bool:
    """Whether a run of ``units`` units is dispatched (it needs a queue and a bucket for the unit results)."""
    return (
        isinstance(params, FanOutSettings)
        and params.unit_queue_url is not None
        and params.report_bucket is not None
        and units > params.fanout_above
    )


# ---- the dispatcher ---------------------------------------------------------------------------------------


def dispatch(
    task: Task[Any], params: TaskSettings, units: Sequence[Unit], unreachable: Sequence[UnitResult], ctx: RunContext
) -> bool:
    """Fan the run out if it is large enough; False (nothing done) for a run that runs inline.

    Units that could not be reached, or whose message SQS would not take, get their (failed) result written here,
    so the run still closes with every unit in its report.
    """
    if not isinstance(params, FanOutSettings) or not fans_out(params, len(units)):
        return False
    clients, report = ctx.clients, ctx.report
    store, queue = _store(task, params, clients, report.run_id), _queue(params)
    labels = [unit_key(r.account, r.region) for r in unreachable] + [unit_key(u.account, u.region) for u in units]
    ref = RunRef(
        task=task.name,
        run_id=report.run_id,
        started_at=ctx.now,
        deadline=ctx.now + timedelta(seconds=params.run_deadline_seconds),
        units=len(labels),
        input=params.model_dump(mode="json", exclude_unset=True),  # as given: validated again the same
    )
    prepared = task.prepare(params, ctx) if task.prepare is not None else None
    manifest = Manifest(**ref.model_dump(exclude={"units"}), units=labels, prepared=prepared)
    if not store.put_once(store.manifest_key, manifest.model_dump_json(indent=1)):
        logger.warning("run already dispatched", run_id=report.run_id)  # an invocation Lambda delivered twice
        report.notes.append("already dispatched by an earlier delivery of this invocation")
        return True
    leaders = account_leaders(units)
    for result in unreachable:
        store.put_once(store.result_key(unit_key(result.account, result.region)), result.model_dump_json())
    messages = [
        UnitMessage(
            **ref.model_dump(),
            account=u.account,
            region=u.region,
            role_arn=u.clients.role[0] if u.clients.role else None,
            external_id=u.clients.role[1] if u.clients.role else None,
            leads=u.label in leaders,
        )
        for u in units
    ]
    sqs = clients.client("sqs", clients.default_region)
    refused = send_all(sqs, queue, [m.model_dump_json() for m in messages])
    for index, why in sorted(refused.items()):
        unit = units[index]
        result = UnitResult(account=unit.account, region=unit.region, complete=False)
        result.fail("dispatch", why, resource=queue)
        store.put_once(store.result_key(unit_key(unit.account, unit.region)), result.model_dump_json())
    send_close(sqs, queue, CloseMessage(**ref.model_dump()), ctx.now)
    count_metrics({"units_dispatched": len(units) - len(refused)})
    report.notes.append(
        f"fanned out: {len(units) - len(refused)} of {len(labels)} units sent to the unit queue; the final report is "
        f"written when the last unit reports (s3://{store.bucket}/{store.final_key}), by "
        f"{ref.deadline.isoformat()} at the latest"
    )
    logger.info("run dispatched", units=len(labels), sent=len(units) - len(refused), refused=len(refused))
    close_if_done(task, store, ref, params, clients)
    return True


def _batches(bodies: Sequence[str]) -> Iterator[list[tuple[int, str]]]:
    """Entries of at most 10 messages and 256 KiB per call."""
    batch: list[tuple[int, str]] = []
    size = 0
    for index, body in enumerate(bodies):
        n = len(body.encode())
        if batch and (len(batch) == MAX_BATCH_ENTRIES or size + n > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append((index, body))
        size += n
    if batch:
        yield batch


def send_all(
    sqs: Any, queue_url: str, bodies: Sequence[str], *, sleep: Callable[[float], None] = time.sleep
) -> dict[int, str]:
    """Send every body with SendMessageBatch; the entries a call reports failed are sent again (with backoff)
    when SQS's fault, up to :data:`SEND_ATTEMPTS` tries. Returns the bodies (by index) that were not sent, why."""
    refused: dict[int, str] = {}
    for batch in _batches(bodies):
        pending = {str(index): body for index, body in batch}
        for attempt in range(SEND_ATTEMPTS):
            if attempt:
                sleep(0.1 * 2**attempt)
            try:
                resp = sqs.send_message_batch(
                    QueueUrl=queue_url, Entries=[{"Id": i, "MessageBody": b} for i, b in pending.items()]
                )
            except Exception as exc:  # noqa: BLE001 - after botocore's retries: these units fail, the others go on
                for i in pending:
                    refused[int(i)] = f"{error_code(exc)}: {exc}"
                pending = {}
                break
            again = {}
            for failed in resp.get("Failed", []):
                why = f"{failed.get('Code')}: {failed.get('Message')}"
                if failed.get("SenderFault") or attempt == SEND_ATTEMPTS - 1:
                    refused[int(failed["Id"])] = why
                else:
                    again[failed["Id"]] = pending[failed["Id"]]
            pending = again
            if not pending:
                break
        if pending:
            logger.warning("unit messages not sent", entries=len(pending))
    return refused


def send_close(sqs: Any, queue_url: str, close: CloseMessage, now: datetime) -> None:
    """The run's close message, due at its deadline (or in 15 minutes, SQS's longest delay, to look again)."""
    delay = min(MAX_DELAY_SECONDS, max(0, math.ceil((close.deadline - now).total_seconds())))
    sqs.send_message(QueueUrl=queue_url, MessageBody=close.model_dump_json(), DelaySeconds=delay)


# ---- the worker ---------------------------------------------------------------------------------------------


def work_batch(
    task: Task[Any],
    event: Any,
    context: Any = None,
    *,
    clients: Clients | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> dict[str, Any]:
    """Work on a batch from the unit queue: a message that raises is a batch item failure (SQS delivers it again,
    and after the queue's redrive count moves it to the dead-letter queue); the others are done."""
    base = clients or Clients()

    def record_handler(record: SQSRecord) -> None:
        message = MESSAGE.validate_json(record.body)
        logger.append_keys(run_id=message.run_id)
        logger.set_correlation_id(message.run_id)
        receives = int(record.attributes.approximate_receive_count or 1)
        if isinstance(message, UnitMessage):
            work_unit(task, message, base, context=context, receives=receives, clock=clock)
        elif isinstance(message, FinalizeMessage):
            complete_run(task, message, base, context=context, receives=receives, clock=clock)
        else:
            close_run(task, message, base, context=context, receives=receives, clock=clock)

    response: dict[str, Any] = dict(
        process_partial_response(
            event=event,
            record_handler=record_handler,
            # one per invocation: a processor keeps the batch's outcomes, and invocations run side by side in one
            # process when the demo or the tests work a queue (Lambda runs one at a time per environment)
            processor=BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False),
            context=context,
        )
    )
    return response


def _store(task: Task[Any], params: TaskSettings, clients: Clients, run_id: str) -> RunStore:
    if not params.report_bucket:
        raise ValueError("a fanned-out run needs report_bucket: its unit results are kept there")
    return RunStore.of(
        clients.client("s3", clients.default_region), params.report_bucket, params.report_prefix, task.name, run_id
    )


def _queue(params: TaskSettings) -> str:
    if not isinstance(params, FanOutSettings) or not params.unit_queue_url:
        raise ValueError("a fanned-out run needs unit_queue_url: its units are messages of that queue")
    return params.unit_queue_url


def _params(task: Task[Any], ref: RunRef, clients: Clients) -> TaskSettings:
    params: TaskSettings = task.params_model.model_validate(ref.input)
    clients.name_sessions(ref.run_id)
    clients.pace(params.rate_limits)
    return params


def _raised(result: UnitResult) -> bool:
    """Whether the unit's work itself failed (not one of its items): a continuation would fail the same way."""
    return any(f.operation in ("unit", "connect") for f in result.failures)


def work_unit(
    task: Task[Any],
    message: UnitMessage,
    base: Clients,
    *,
    context: Any = None,
    receives: int = 1,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Run one unit of a fanned-out run (or continue it), write its result once, and close the run if it was the
    last to report. A message delivered again after its result is written does nothing but that check."""
    params = _params(task, message, base)
    store = _store(task, params, base, message.run_id)
    label = message.label
    if store.exists(store.result_key(label)):
        logger.info("unit already reported", unit=label, continuation=message.continuation)
        close_if_done(task, store, message, params, base)
        return
    part = store.part_key(label, message.continuation)
    if store.exists(part):  # this continuation ran; only the next one's message may be missing
        logger.info("continuation already done", unit=label, continuation=message.continuation)
        _continue(base, params, message)
        return
    if not isinstance(params, FanOutSettings):
        raise TypeError(f"{type(params).__name__} has no fan-out settings")
    budget = TimeBudget.from_context(context, params.time_margin_seconds, params.max_seconds)
    now = clock()
    until = now + timedelta(seconds=min(budget.remaining_s(), LAMBDA_MAX_SECONDS))
    lease = Lease(until=until, continuation=message.continuation, receive_count=receives)
    if not store.lease(label, message.continuation, lease, now):
        # Another delivery of this message works on the unit: this one comes back after the visibility timeout,
        # when that one has written the result (or died, and its lease has expired).
        raise UnitBusy(f"unit {label} continuation {message.continuation} is leased by another delivery")
    report = RunReport(task=task.name, run_id=message.run_id, dry_run=params.dry_run, started_at=message.started_at)
    leaders = frozenset({f"{message.account}/{message.region}"} if message.leads else ())
    ctx = RunContext(now=message.started_at, budget=budget, report=report, clients=base, leaders=leaders)
    result = StoredResult(account=message.account, region=message.region)
    try:
        clients = base.assume(message.role_arn, external_id=message.external_id) if message.role_arn else base
    except Exception as exc:  # noqa: BLE001 - recorded as this unit's failure, as an inline run does
        logger.exception("account unreachable", account=message.account)
        result.complete = False
        result.fail("connect", exc, resource=message.account)
    else:
        if task.adopt is not None:
            manifest = Manifest.model_validate_json(store.get(store.manifest_key) or "{}")
            task.adopt(params, ctx, manifest.prepared)
        unit = Unit(message.account, message.region, clients)
        [ran] = run_units([unit], lambda u, r: task.work(params, u, r, ctx), max_workers=1, budget=budget)
        result = StoredResult.model_validate(ran.model_dump())
        if task.keep is not None:
            try:
                result.kept.append(task.keep(params, unit, ctx))
            except Exception as exc:  # noqa: BLE001 - recorded as this unit's failure: the run fails at the end
                logger.exception("unit state not kept", unit=label)
                result.fail("keep", exc, resource=label)

    more = not result.complete and not params.dry_run and not _raised(result)
    if more and message.continuation < params.max_continuations:
        if store.put_once(part, result.model_dump_json()):
            _continue(base, params, message)
            logger.info("unit continues", unit=label, continuation=message.continuation + 1)
        return
    if more:
        why = f"incomplete after {message.continuation} continuations (max_continuations): left for the next run"
        result.add(Action(action="continue", resource=label, reason=why, status="skipped"))
        result.count("continuations_exhausted")
    merged = merge(store.parts(label), result) if message.continuation else result
    if message.continuation:
        merged.count("continuations", message.continuation)
    if not store.put_once(store.result_key(label), merged.model_dump_json()):
        logger.info("unit result already written by another delivery", unit=label)
    close_if_done(task, store, message, params, base, budget=budget)


def _continue(base: Clients, params: TaskSettings, message: UnitMessage) -> None:
    if not isinstance(params, FanOutSettings):
        raise TypeError(f"{type(params).__name__} has no fan-out settings")
    follow = message.model_copy(update={"continuation": message.continuation + 1})
    base.client("sqs", base.default_region).send_message(
        QueueUrl=_queue(params), MessageBody=follow.model_dump_json(), DelaySeconds=params.continuation_delay_seconds
    )


def close_run(
    task: Task[Any],
    message: CloseMessage,
    base: Clients,
    *,
    context: Any = None,
    receives: int = 1,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """The run's close message: before the deadline it is sent again (delayed) unless the run is closed; after
    it, the run is closed with what has reported, and every other unit lost. A run closed but not completed (its
    finalize message lost, or the worker completing it died) is completed here."""
    params = _params(task, message, base)
    store = _store(task, params, base, message.run_id)
    if store.exists(store.finished_key):
        return
    if store.exists(store.final_key):
        try:
            complete_run(task, message, base, context=context, receives=receives, clock=clock)
        except UnitBusy:  # a worker completes it now: look again later, in case that one dies on every delivery
            now = clock()
            if now < message.deadline + timedelta(seconds=COMPLETION_GRACE_SECONDS):
                base.client("sqs", base.default_region).send_message(
                    QueueUrl=_queue(params), MessageBody=message.model_dump_json(), DelaySeconds=MAX_DELAY_SECONDS
                )
            else:
                logger.error("run closed but never completed", run_id=message.run_id)
        return
    now = clock()
    if now < message.deadline:
        send_close(base.client("sqs", base.default_region), _queue(params), message, now)
        return
    budget = TimeBudget.from_context(context, params.time_margin_seconds, params.max_seconds)
    close_if_done(task, store, message, params, base, sweep=True, now=now, budget=budget, receives=receives)


def complete_run(
    task: Task[Any],
    ref: RunRef,
    base: Clients,
    *,
    context: Any = None,
    receives: int = 1,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Complete a closed run (its ``final.json`` written): the task's run-wide step with what the units kept,
    then the report written, counted and notified, then ``finished.json``. Leased, so that two deliveries never
    complete a run side by side; a delivery after ``finished.json`` does nothing."""
    params = _params(task, ref, base)
    store = _store(task, params, base, ref.run_id)
    if store.exists(store.finished_key):
        logger.info("run already completed", run_id=ref.run_id)
        return
    text = store.get(store.final_key)
    if text is None:
        raise RuntimeError(f"run {ref.run_id} has no final report yet: it is completed only once closed")
    report = RunReport.from_json(text)
    kept: dict[str, list[Any]] = {}
    if task.finalize is not None and task.restore is not None:
        for label in sorted(store.reported()):
            found = store.result(label)
            if found is not None:
                kept[label] = found.kept
    budget = TimeBudget.from_context(context, params.time_margin_seconds, params.max_seconds)
    _complete(task, store, ref, params, base, report, kept, budget, clock(), receives)


def _complete(
    task: Task[Any],
    store: RunStore,
    ref: RunRef,
    params: TaskSettings,
    clients: Clients,
    report: RunReport,
    kept: dict[str, list[Any]],
    budget: TimeBudget,
    now: datetime,
    receives: int,
) -> None:
    until = now + timedelta(seconds=min(budget.remaining_s(), LAMBDA_MAX_SECONDS))
    if not store.lease(FINALIZE, 0, Lease(until=until, continuation=0, receive_count=receives), now):
        raise UnitBusy(f"run {ref.run_id} is being completed by another delivery")
    ctx = RunContext(now=ref.started_at, budget=budget, report=report, clients=clients)
    finalize(task, params, ctx, kept)
    finish(report, params, clients, raise_on_failure=False, heartbeat=False)
    store.put_once(store.finished_key, json.dumps({"run_id": ref.run_id, "finished_at": utcnow().isoformat()}))
    logger.info("run completed", run_id=ref.run_id, location=report.location)


def _max_receives(params: TaskSettings, clients: Clients) -> int | None:
    """The unit queue's redrive count (how many deliveries before the dead-letter queue), if it has one."""
    if not isinstance(params, FanOutSettings) or not params.unit_queue_url:
        return None
    attrs = clients.client("sqs", clients.default_region).get_queue_attributes(
        QueueUrl=params.unit_queue_url, AttributeNames=["RedrivePolicy"]
    )
    policy = attrs.get("Attributes", {}).get("RedrivePolicy")
    return int(json.loads(policy)["maxReceiveCount"]) if policy else None


def _missing(store: RunStore, label: str, max_receives: int | None) -> UnitResult:
    """The result of a unit that never reported: dead-lettered if its last delivery was the queue's last."""
    account, _, region = label.partition(".")
    result = UnitResult(account=account, region="*" if region == "account" else region, complete=False)
    lease = store.last_lease(label)
    if lease is None:
        result.fail("lost", "no result by the run's deadline: no worker ever started the unit", resource=label)
        return result
    receives, continuation = lease.receive_count, lease.continuation
    if max_receives is not None and receives >= max_receives:
        why = (
            f"continuation {continuation} was delivered {receives} times without a result (killed or timed out "
            "each time): its message is in the unit dead-letter queue"
        )
        result.fail("dead-lettered", why, resource=label)
    else:
        why = f"no result by the run's deadline: continuation {continuation} started (delivery {receives})"
        result.fail("lost", why, resource=label)
    return result


def close_if_done(
    task: Task[Any],
    store: RunStore,
    ref: RunRef,
    params: TaskSettings,
    clients: Clients,
    *,
    sweep: bool = False,
    now: datetime | None = None,
    budget: TimeBudget | None = None,
    receives: int = 1,
) -> bool:
    """Compose the final report if every unit has reported (or, with ``sweep``, in any case: the others are lost).
    Exactly one caller wins the conditional write of ``final.json`` and has the run completed (once)."""
    reported = store.reported()
    if len(reported) < ref.units and not sweep:
        return False
    if store.exists(store.final_key):
        return False
    manifest = Manifest.model_validate_json(store.get(store.manifest_key) or "{}")
    missing = [label for label in manifest.units if label not in reported]
    max_receives = _max_receives(params, clients) if missing else None
    units: list[UnitResult] = []
    kept: dict[str, list[Any]] = {}
    for label in manifest.units:
        found = store.result(label) if label in reported else None
        if found is None:
            units.append(_missing(store, label, max_receives))
            continue
        units.append(found.result())
        kept[label] = found.kept
    report = RunReport(
        task=task.name,
        run_id=ref.run_id,
        dry_run=params.dry_run,
        started_at=ref.started_at,
        finished_at=now or utcnow(),
        units=units,
        complete=all(u.complete for u in units),
    )
    report.notes.append(f"fanned out over {len(units)} units ({len(missing)} never reported)")
    if not store.put_once(store.final_key, report.to_json()):
        logger.info("final report already written by another worker")
        return False
    logger.info("run closed", units=len(units), lost=len(missing))
    # Only the winner of the conditional write goes on. A run-wide step gets an invocation of its own (the
    # finalize message), unless this is the close's sweep, which has a whole invocation for it.
    if task.finalize is not None and not sweep:
        finalizing = FinalizeMessage(**ref.model_dump(include=set(RunRef.model_fields)))
        clients.client("sqs", clients.default_region).send_message(
            QueueUrl=_queue(params), MessageBody=finalizing.model_dump_json()
        )
        logger.info("run-wide step sent to the unit queue", run_id=ref.run_id)
        return True
    _complete(task, store, ref, params, clients, report, kept, budget or TimeBudget.unlimited(), utcnow(), receives)
    return True
