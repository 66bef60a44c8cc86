"""Fan-out under in-process moto: a snapshot rotation of five (account, region) units dispatched to its unit queue
and worked by the event source mapping (tests/sqs_mapping.py) with duplicates, reordering, killed workers, a unit
that raises, continuations and units that never report. Every run closes with exactly one final report, every
unit once in it with the right status, and the totals of an inline run of the same estate."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from moto import mock_aws

from functions.snapshot_rotation.task import TASK
from shared import fanout
from shared.aws import Clients
from shared.runner import execute
from tests.faults import CallLog, CrashAfter, ErrorOn
from tests.functional.snapshot_rotation import estate
from tests.helpers import FakeContext
from tests.sqs_mapping import EventSourceMapping

D0 = datetime(2024, 3, 1, 3, 15, tzinfo=UTC)
REGIONS = ["eu-west-1", "eu-west-2", "eu-west-3", "eu-north-1", "eu-south-1"]
RETENTION = {"keep_last": 2, "daily": 0, "weekly": 0, "monthly": 0}
MAX_RECEIVES = 3


@pytest.fixture
def frozen() -> Iterator[Any]:
    with mock_aws(), freeze_time(D0) as clock:
        yield clock


def seed() -> dict[str, list[str]]:
    """In every region: two tagged volumes, each with four owned daily snapshots (two of them past retention)."""
    volumes: dict[str, list[str]] = {}
    for region in REGIONS:
        ec2 = estate.ec2(region)
        volumes[region] = [estate.volume(ec2, name) for name in ("db", "web")]
        for vid in volumes[region]:
            estate.seed_snapshots(vid, [D0 - timedelta(days=d) for d in (1, 2, 3, 4)], region=region)
    return volumes


def queues() -> tuple[str, str]:
    sqs = estate.session().client("sqs")
    dlq = sqs.create_queue(QueueName="units-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)})
    attrs = {"VisibilityTimeout": "900", "RedrivePolicy": redrive}
    return sqs.create_queue(QueueName="units", Attributes=attrs)["QueueUrl"], dlq


def the_input(queue: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "regions": REGIONS,
        "report_bucket": estate.BUCKET,
        "unit_queue_url": queue,
        "fanout_above": 2,
        "policy": {"retention": RETENTION},
    } | extra


INLINE = {"created": 10, "deleted": 20, "kept": 20}
"""The totals of an inline run of the seeded estate (checked by the first test)."""


def _totals(report: dict[str, Any]) -> dict[str, int]:
    total: dict[str, int] = {}
    for unit in report["units"]:
        for name, n in unit["counts"].items():
            total[name] = total.get(name, 0) + n
    return total


def handler_with(
    hooks: Callable[[Any, dict[str, Any]], None] = lambda _s, _b: None,
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The function's handler with clients of a fresh session per invocation (as a new container would have),
    ``hooks(session, body)`` attaching faults to it for chosen messages."""

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        session = estate.session()
        body = json.loads(event["Records"][0]["body"]) if "Records" in event else {}
        hooks(session, body)
        return fanout.handle(TASK, event, context, clients=Clients(session))

    return handler


def final_of(run_id: str) -> dict[str, Any]:
    s3 = estate.session().client("s3")
    key = f"reports/snapshot-rotation/runs/{run_id}/final.json"
    data: dict[str, Any] = json.loads(s3.get_object(Bucket=estate.BUCKET, Key=key)["Body"].read())
    return data


def finals() -> list[str]:
    s3 = estate.session().client("s3")
    listed = s3.list_objects_v2(Bucket=estate.BUCKET, Prefix="reports/snapshot-rotation/runs/")
    return [o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith("/final.json")]


def run_fanned_out(
    frozen: Any, hooks: Callable[[Any, dict[str, Any]], None] = lambda _s, _b: None, **mapping: Any
) -> tuple[dict[str, Any], dict[str, Any], EventSourceMapping]:
    queue, _ = queues()
    handler = handler_with(hooks)
    dispatched = handler(the_input(queue, **mapping.pop("extra", {})), FakeContext())
    esm = EventSourceMapping(
        estate.session().client("sqs"), queue, handler, tick=lambda s: frozen.tick(timedelta(seconds=s)), **mapping
    )
    esm.drain()
    return dispatched, final_of(dispatched["run_id"]), esm


def labels(final: dict[str, Any]) -> list[str]:
    return [f"{u['account']}/{u['region']}" for u in final["units"]]


def snapshots_per_volume(volumes: dict[str, list[str]], *, new: bool = False) -> dict[str, int]:
    """How many snapshots each volume has (``new``: made by this run, at D0 or later; a duplicate creation would
    show as two)."""
    found = {}
    for region, vids in volumes.items():
        mine = estate.snapshots(estate.ec2(region))
        for vid in vids:
            found[vid] = sum(
                1
                for s in mine.values()
                if s["Tags"].get("devops-tasks:volume-id") == vid and (not new or s["StartTime"] >= D0)
            )
    return found


@pytest.fixture
def estate_of_five(frozen: Any) -> dict[str, list[str]]:
    estate.reports_bucket()
    return seed()


def test_an_inline_run_of_the_estate_has_the_totals_the_fanned_out_runs_are_held_to(
    estate_of_five: dict[str, list[str]],
) -> None:
    report = execute(TASK, the_input(), FakeContext())
    assert report["status"] == "succeeded"
    assert len(report["units"]) == 5
    assert _totals(report) == INLINE


def test_a_run_above_the_threshold_is_dispatched_and_its_last_unit_writes_the_one_final_report(
    frozen: Any, estate_of_five: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    counted: list[dict[str, int]] = []
    monkeypatch.setattr("shared.runner.count_metrics", counted.append)
    topic = estate.session().client("sns").create_topic(Name="alerts")["TopicArn"]
    published = CallLog()
    dispatched, final, esm = run_fanned_out(
        frozen,
        hooks=lambda session, _b: published.attach(session),
        extra={"notify_topic_arn": topic, "notify_on": "always"},
    )

    assert dispatched["status"] == "incomplete"
    assert dispatched["units"] == []
    assert any("fanned out: 5 of 5 units" in note for note in dispatched["notes"])
    assert finals() == [f"reports/snapshot-rotation/runs/{dispatched['run_id']}/final.json"]
    assert sorted(labels(final)) == sorted(f"{estate.ACCOUNT}/{r}" for r in REGIONS)
    assert final["status"] == "succeeded"
    assert _totals(final) == INLINE
    # the dated report (where an inline run's report goes) is the final one
    located = estate.report_from_s3(f"s3://{estate.BUCKET}/" + dated_key(dispatched))
    assert located["status"] == "succeeded"
    assert len(located["units"]) == 5
    # totals counted once, by the close (the dispatch counts none)
    assert [c for c in counted if "deleted" in c] == [_totals(final) | {"failed": 0, "incomplete": 0}]
    assert esm.outcomes == {"ok": 6}  # five units and the close message, which found the run closed
    assert published.operations("sns")["Publish"] == 1  # by the close, not by the dispatch (uncounted here)


def dated_key(report: dict[str, Any]) -> str:
    at = datetime.fromisoformat(report["started_at"])
    return f"reports/snapshot-rotation/{at:%Y/%m/%d}/{at:%H%M%S}Z-{report['run_id']}.json"


def test_small_runs_stay_inline(frozen: Any, estate_of_five: dict[str, list[str]]) -> None:
    queue, _ = queues()
    report = handler_with()(the_input(queue, fanout_above=5), FakeContext())
    assert report["status"] == "succeeded"
    assert len(report["units"]) == 5
    sqs = estate.session().client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"


def test_a_unit_delivered_twice_and_out_of_order_is_run_once_in_effect_and_reported_once(
    frozen: Any, estate_of_five: dict[str, list[str]]
) -> None:
    dispatched, final, esm = run_fanned_out(frozen, duplicate=lambda body: body["kind"] == "unit", reverse=True)
    assert esm.invocations >= 10
    assert finals() == [f"reports/snapshot-rotation/runs/{dispatched['run_id']}/final.json"]
    assert sorted(labels(final)) == sorted(f"{estate.ACCOUNT}/{r}" for r in REGIONS)
    assert final["status"] == "succeeded"
    assert _totals(final) == INLINE
    # one new snapshot per volume (4 seeded - 2 rotated + 1 created): no duplicate creation
    assert set(snapshots_per_volume(estate_of_five).values()) == {3}
    assert set(snapshots_per_volume(estate_of_five, new=True).values()) == {1}


def test_a_worker_killed_mid_unit_is_redelivered_and_converges(
    frozen: Any, estate_of_five: dict[str, list[str]]
) -> None:
    killed: list[str] = []

    def crash_first_delivery_of_eu_west_2(session: Any, body: dict[str, Any]) -> None:
        if body.get("region") == "eu-west-2" and not killed:
            killed.append("eu-west-2")
            CrashAfter(2).attach(session)  # two mutations done, then the process dies

    _dispatched, final, esm = run_fanned_out(frozen, hooks=crash_first_delivery_of_eu_west_2)
    assert esm.outcomes["killed"] == 1
    assert final["status"] == "succeeded"
    assert sorted(labels(final)) == sorted(f"{estate.ACCOUNT}/{r}" for r in REGIONS)
    assert set(snapshots_per_volume(estate_of_five, new=True).values()) == {1}
    west2 = next(u for u in final["units"] if u["region"] == "eu-west-2")
    # the redelivery planned again from what the killed one left: its two new snapshots are kept, the older
    # ones past retention deleted; nothing is done twice, and the other units are as inline
    assert west2["counts"] == {"kept": 4, "deleted": 6, "skipped": 2}  # skipped: this period's snapshot exists
    assert west2["complete"] is True


def test_a_unit_that_raises_is_reported_failed_and_the_others_succeed(
    frozen: Any, estate_of_five: dict[str, list[str]]
) -> None:
    def volumes_unreadable_in_eu_north_1(session: Any, body: dict[str, Any]) -> None:
        if body.get("region") == "eu-north-1":
            ErrorOn(lambda op, _p: op == "DescribeVolumes", "UnauthorizedOperation", status=403).attach(session)

    _dispatched, final, _ = run_fanned_out(frozen, hooks=volumes_unreadable_in_eu_north_1)
    status = {u["region"]: (u["complete"], tuple(f["error_code"] for f in u["failures"])) for u in final["units"]}
    assert status.pop("eu-north-1") == (False, ("UnauthorizedOperation",))
    assert set(status.values()) == {(True, ())}
    assert final["status"] == "failed"
    assert len(finals()) == 1


def test_a_unit_killed_on_every_delivery_is_dead_lettered_and_reported_failed_at_the_deadline(
    frozen: Any, estate_of_five: dict[str, list[str]]
) -> None:
    def killed_at_the_first_mutation_in_eu_west_3(session: Any, body: dict[str, Any]) -> None:
        if body.get("region") == "eu-west-3":
            CrashAfter(0).attach(session)

    _dispatched, final, esm = run_fanned_out(
        frozen, hooks=killed_at_the_first_mutation_in_eu_west_3, extra={"run_deadline_seconds": 3600}
    )
    assert esm.outcomes["killed"] == MAX_RECEIVES
    west3 = next(u for u in final["units"] if u["region"] == "eu-west-3")
    assert [f["operation"] for f in west3["failures"]] == ["dead-lettered"]
    assert "delivered 3 times" in west3["failures"][0]["message"]
    assert final["status"] == "failed"
    assert len(final["units"]) == 5
    assert [u["complete"] for u in final["units"]].count(True) == 4
    sqs = estate.session().client("sqs")
    dlq = sqs.get_queue_url(QueueName="units-dlq")["QueueUrl"]
    in_dlq = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert in_dlq["ApproximateNumberOfMessages"] == "1"
    # the run closed at its deadline, not before, and not later than one close interval after it
    closed_at = datetime.fromisoformat(final["finished_at"])
    started = datetime.fromisoformat(final["started_at"])
    assert timedelta(hours=1) <= closed_at - started <= timedelta(hours=1, seconds=fanout.MAX_DELAY_SECONDS + 60)


def test_a_unit_whose_message_never_arrives_is_reported_lost_once_the_deadline_passes(
    frozen: Any, estate_of_five: dict[str, list[str]]
) -> None:
    sqs = estate.session().client("sqs")
    queue, _ = queues()
    handler = handler_with()
    dispatched = handler(the_input(queue, run_deadline_seconds=3600), FakeContext())
    # one unit's message is lost on the way (here: deleted before any worker sees it)
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    assert len(got) == 5  # the close message is delayed
    [lost] = [m for m in got if json.loads(m["Body"]).get("region") == "eu-south-1"]
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=lost["ReceiptHandle"])
    EventSourceMapping(sqs, queue, handler, tick=lambda s: frozen.tick(timedelta(seconds=s))).drain()
    final = final_of(dispatched["run_id"])
    south = next(u for u in final["units"] if u["region"] == "eu-south-1")
    assert [f["operation"] for f in south["failures"]] == ["lost"]
    assert "no worker ever started the unit" in south["failures"][0]["message"]
    assert "1 never reported" in " ".join(final["notes"])
    assert len(finals()) == 1


def test_a_unit_deferred_by_throttling_continues_and_completes_in_a_later_invocation(
    frozen: Any, estate_of_five: dict[str, list[str]]
) -> None:
    throttled: list[str] = []

    def throttle_first_delivery_of_eu_west_1(session: Any, body: dict[str, Any]) -> None:
        if body.get("region") == "eu-west-1" and body.get("continuation") == 0:
            throttled.append("x")
            ErrorOn(lambda op, _p: op == "DeleteSnapshot", "RequestLimitExceeded", status=503).attach(session)

    _dispatched, final, esm = run_fanned_out(frozen, hooks=throttle_first_delivery_of_eu_west_1)
    west1 = next(u for u in final["units"] if u["region"] == "eu-west-1")
    assert west1["complete"] is True
    assert west1["counts"]["continuations"] == 1
    assert west1["counts"]["deferred"] == 4  # the first invocation's, kept in the merged result
    # the plan is made again: the first invocation's new snapshots are kept (and not made twice), the older ones
    # past retention deleted
    assert west1["counts"]["deleted"] == 6
    assert west1["counts"]["skipped"] == 2
    assert final["status"] == "succeeded"
    assert set(snapshots_per_volume(estate_of_five, new=True).values()) == {1}
    continued = [b for b in esm.bodies if b.get("continuation") == 1]
    assert [b["region"] for b in continued] == ["eu-west-1"]


def test_a_unit_out_of_continuations_ends_incomplete_with_the_reason(
    frozen: Any, estate_of_five: dict[str, list[str]]
) -> None:
    def always_throttled_in_eu_west_1(session: Any, body: dict[str, Any]) -> None:
        if body.get("region") == "eu-west-1":
            ErrorOn(lambda op, _p: op == "DeleteSnapshot", "RequestLimitExceeded", status=503).attach(session)

    _, final, esm = run_fanned_out(frozen, hooks=always_throttled_in_eu_west_1, extra={"max_continuations": 2})
    west1 = next(u for u in final["units"] if u["region"] == "eu-west-1")
    assert west1["complete"] is False
    assert west1["counts"]["continuations"] == 2
    assert west1["counts"]["continuations_exhausted"] == 1
    [why] = [a["reason"] for a in west1["actions"] if a["action"] == "continue"]
    assert "incomplete after 2 continuations" in why
    assert final["status"] == "incomplete"
    assert sorted(b.get("continuation") for b in esm.bodies if b.get("region") == "eu-west-1") == [0, 1, 2]


def test_unit_results_and_the_final_report_are_conditional_writes(
    frozen: Any, estate_of_five: dict[str, list[str]]
) -> None:
    """moto honours If-None-Match on PutObject (MOTO_NOTES): the request carries it, and a second write is refused."""
    seen: list[tuple[str, str | None]] = []

    def record_puts(session: Any, _body: dict[str, Any]) -> None:
        def before(params: dict[str, Any], **_: Any) -> None:
            seen.append((params["Key"], params.get("IfNoneMatch") or (params.get("IfMatch") and "etag")))

        session.events.register("provide-client-params.s3.PutObject", before)

    dispatched, _, _ = run_fanned_out(frozen, hooks=record_puts)
    conditional = {key.rsplit("/", 2)[-2] + "/" + key.rsplit("/", 1)[-1] for key, cond in seen if cond == "*"}
    assert {f"units/{estate.ACCOUNT}.{r}.json" for r in REGIONS} <= conditional
    assert f"{dispatched['run_id']}/final.json" in conditional
    # every object of the run is written once (or, a dead holder's lease, over the ETag read)
    assert [key for key, cond in seen if cond is None and "/runs/" in key] == []

    s3 = estate.session().client("s3")
    key = f"reports/snapshot-rotation/runs/{dispatched['run_id']}/final.json"
    with pytest.raises(s3.exceptions.ClientError, match="PreconditionFailed"):
        s3.put_object(Bucket=estate.BUCKET, Key=key, Body=b"{}", IfNoneMatch="*")


def test_a_dispatch_that_cannot_write_its_manifest_fails_the_run_and_runs_nothing_inline(
    frozen: Any, estate_of_five: dict[str, list[str]]
) -> None:
    from shared.errors import RunFailed

    queue, _ = queues()

    def manifest_refused(session: Any, _body: dict[str, Any]) -> None:
        ErrorOn(
            lambda op, p: op == "PutObject" and p["Key"].endswith("manifest.json"), "AccessDenied", status=403
        ).attach(session)

    with pytest.raises(RunFailed, match="dispatch") as failed:
        handler_with(manifest_refused)(the_input(queue), FakeContext())
    assert failed.value.report["units"][0]["failures"][0]["error_code"] == "AccessDenied"
    assert snapshots_per_volume(estate_of_five, new=True) == dict.fromkeys(snapshots_per_volume(estate_of_five), 0)
