"""The compaction under moto: closed partitions merged into sorted files under a generation, the Glue partition
switched after the rows were checked, the replaced files deleted a grace period later; crashes at every step."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import requests

from functions.log_compaction.task import TASK
from shared.aws import Clients
from shared.errors import RunFailed
from shared.runner import execute
from tests.faults import CallLog, Crash, CrashAfter
from tests.functional.log_compaction.conftest import LAKE, NOW, Lake, alb_rows, parquet, same_rows
from tests.helpers import REGION

OLD, OLDER, OPEN = ("2026-11-27", "13"), ("2026-11-27", "14"), ("2026-11-30", "09")


def run(clock: datetime = NOW, *, session: boto3.Session | None = None, **extra: Any) -> dict[str, Any]:
    clients = Clients(session or boto3.Session(region_name=REGION))
    return execute(TASK, {"formats": ["alb"]} | extra, clients=clients, clock=lambda: clock)


def counted() -> tuple[boto3.Session, CallLog]:
    session = boto3.Session(region_name=REGION)
    return session, CallLog().attach(session)


def mutations(log: CallLog) -> list[str]:
    return log.mutating(None)


def totals(report: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for unit in report["units"]:
        for key, n in unit["counts"].items():
            out[key] = out.get(key, 0) + n
    return out


def build(lake: Lake) -> dict[tuple[str, str], pa.Table]:
    return {
        OLD: lake.add_hour(*OLD, files=6),
        OLDER: lake.add_hour(*OLDER, files=3),
        OPEN: lake.add_hour(*OPEN, files=4),
    }


@pytest.fixture
def estate(lake: Lake) -> dict[tuple[str, str], pa.Table]:
    return build(lake)


def rebuild(lake: Lake) -> dict[tuple[str, str], pa.Table]:
    """A fresh moto (every service's state dropped), then a small lake: one closed partition, one open."""
    requests.post("http://motoapi.amazonaws.com/moto-api/reset", timeout=10)
    lake.s3.create_bucket(Bucket=LAKE, CreateBucketConfiguration={"LocationConstraint": REGION})
    return {OLD: lake.add_hour(*OLD, files=3, rows=50), OPEN: lake.add_hour(*OPEN, files=1, rows=50)}


def test_closed_partitions_become_one_sorted_file_each_with_every_row_once(
    lake: Lake, estate: dict[tuple[str, str], pa.Table]
) -> None:
    report = run()
    assert totals(report)["partitions_compacted"] == 2
    for part in (OLD, OLDER):
        table, keys = lake.read_partition(*part)
        assert len(keys) == 1
        assert keys[0].startswith(f"compacted/format=alb/dt={part[0]}/hour={part[1]}/gen=")
        assert same_rows(table, estate[part])
        times = table.column("event_time").cast(pa.int64())
        assert pc.all(pc.greater_equal(times.slice(1), times.slice(0, len(times) - 1))).as_py(), "sorted by time"
    _, keys = lake.read_partition(*OPEN)
    assert len(keys) == 4, "an open partition is left alone"
    assert lake.location(*OPEN).endswith("hour=09/")
    assert len(lake.listing("lake/format=alb/dt=2026-11-27/hour=13/")) == 6, "replaced files stay for the grace period"


def test_the_manifest_records_what_was_replaced_and_checked(
    lake: Lake, estate: dict[tuple[str, str], pa.Table]
) -> None:
    run()
    (key,) = [k for k in lake.listing("compacted/format=alb/dt=2026-11-27/hour=13/") if k.endswith(".json")]
    doc = json.loads(lake.s3.get_object(Bucket=LAKE, Key=key)["Body"].read())
    assert doc["fingerprint"]["rows"] == estate[OLD].num_rows
    assert sorted(f["key"] for f in doc["inputs"]) == lake.listing("lake/format=alb/dt=2026-11-27/hour=13/")
    assert all(f["etag"] for f in doc["inputs"] + doc["outputs"])
    assert doc["switched_at"] == NOW.isoformat()
    assert doc["deleted_at"] is None


def test_a_rerun_is_a_no_op_and_a_run_after_the_grace_period_deletes_only_the_replaced_files_by_etag(
    lake: Lake, estate: dict[tuple[str, str], pa.Table]
) -> None:
    run()
    session, log = counted()
    run(NOW + timedelta(hours=1), session=session)
    assert mutations(log) == [], "nothing to do before the grace period ends"

    session, log = counted()
    report = run(NOW + timedelta(hours=25), session=session)
    deletes = [p for svc, op, p in log.calls if op == "DeleteObject"]
    assert len(deletes) == 9 == totals(report)["files_deleted"]
    assert all(p["Key"].startswith("lake/") and p["IfMatch"].startswith('"') for p in deletes)
    assert lake.listing("lake/format=alb/dt=2026-11-27/") == []
    for part in (OLD, OLDER):
        table, _ = lake.read_partition(*part)
        assert same_rows(table, estate[part])
    assert len(lake.listing("lake/format=alb/dt=2026-11-30/hour=09/")) == 4, "the open partition's files stay"

    session, log = counted()
    run(NOW + timedelta(hours=30), session=session)
    assert mutations(log) == [], "settled: a re-run changes nothing"


def test_a_file_rewritten_since_the_compaction_is_not_deleted(
    lake: Lake, estate: dict[tuple[str, str], pa.Table]
) -> None:
    run()
    rewritten = lake.add_file(*OLD, "obj001", alb_rows(datetime.fromisoformat("2026-11-27T13:00:00+00:00"), 5, 99))
    report = run(NOW + timedelta(hours=25))
    assert rewritten in lake.listing(), "its ETag is not the one the compaction replaced"
    assert totals(report)["files_kept_changed"] == 1


def test_a_file_added_after_the_switch_is_merged_into_a_new_generation(
    lake: Lake, estate: dict[tuple[str, str], pa.Table]
) -> None:
    run()
    late = alb_rows(datetime.fromisoformat("2026-11-27T13:00:00+00:00"), 50, 42)
    lake.add_file(*OLD, "late", late)
    report = run(NOW + timedelta(hours=2))
    assert totals(report)["partitions_compacted"] == 1
    table, keys = lake.read_partition(*OLD)
    assert len(keys) == 1
    assert same_rows(table, pa.concat_tables([estate[OLD], late]))


def test_dry_run_shows_the_exact_plan_and_changes_nothing(lake: Lake, estate: dict[tuple[str, str], pa.Table]) -> None:
    session, log = counted()
    report = run(session=session, dry_run=True)
    assert mutations(log) == []
    planned = [a for u in report["units"] for a in u["actions"] if a["status"] == "planned"]
    assert len(planned) == 2
    old = next(a for a in planned if "hour=13" in a["resource"])
    ((output, inputs),) = old["detail"]["outputs"].items()
    assert output.startswith("compacted/format=alb/dt=2026-11-27/hour=13/gen=")
    assert output.endswith(".parquet")
    assert sorted(inputs) == lake.listing("lake/format=alb/dt=2026-11-27/hour=13/")
    assert lake.location(*OLD).endswith("lake/format=alb/dt=2026-11-27/hour=13/")


def test_files_of_other_columns_are_not_merged_and_the_partition_keeps_its_files(
    lake: Lake, estate: dict[tuple[str, str], pa.Table]
) -> None:
    odd = alb_rows(datetime.fromisoformat("2026-11-27T13:00:00+00:00"), 5, 7).append_column(
        "ecs_cluster_name", pa.array(["c"] * 5)
    )
    lake.add_file(*OLD, "odd", odd)
    with pytest.raises(RunFailed):
        run()
    _table, keys = lake.read_partition(*OLD)
    assert len(keys) == 7
    assert lake.location(*OLD).endswith("lake/format=alb/dt=2026-11-27/hour=13/")
    _, compacted = lake.read_partition(*OLDER)
    assert len(compacted) == 1, "the other partition is compacted all the same"


def test_a_partition_at_an_unknown_location_fails_the_run_and_is_left_alone(
    lake: Lake, estate: dict[tuple[str, str], pa.Table]
) -> None:
    lake.point(*OLD, "s3://elsewhere/data/")
    with pytest.raises(RunFailed):
        run()
    assert lake.location(*OLD) == "s3://elsewhere/data/"


def test_a_file_that_arrives_during_the_compaction_defers_the_switch(
    lake: Lake, estate: dict[tuple[str, str], pa.Table]
) -> None:
    session = boto3.Session(region_name=REGION)
    added: list[str] = []

    def arrive(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key", "").startswith("compacted/") and not added and params["Key"].endswith(".parquet"):
            added.append(
                lake.add_file(*OLD, "arrived", alb_rows(datetime.fromisoformat("2026-11-27T13:00:00+00:00"), 5, 8))
            )

    session.events.register("before-parameter-build.s3.PutObject", arrive)
    report = run(session=session)
    assert totals(report)["partitions_deferred"] >= 1
    _table, keys = lake.read_partition(*OLD)
    assert len(keys) == 7, "still read from the lake prefix, the new file with it"
    assert lake.listing("compacted/format=alb/dt=2026-11-27/hour=13/") == [], "what the deferred run wrote is gone"


def _crash_points(lake: Lake) -> int:
    session, log = counted()
    run(session=session)
    return len([op for svc, op, _ in log.calls if svc in ("s3", "glue") and op in ("PutObject", "UpdatePartition")])


@pytest.mark.parametrize("phase", ["compact", "delete"])
def test_a_crash_at_any_step_leaves_every_partition_readable_and_complete_and_a_rerun_finishes(
    lake: Lake, phase: str
) -> None:
    clock = NOW if phase == "compact" else NOW + timedelta(hours=25)
    k = 0
    while True:
        estate = rebuild(lake)
        if phase == "delete":
            run()
        crash = CrashAfter(k, services=frozenset({"s3", "glue"}))
        session = boto3.Session(region_name=REGION)
        crash.attach(session)
        with contextlib.suppress(Crash):
            run(clock, session=session)
        for part in (OLD, OPEN):
            table, _ = lake.read_partition(*part)
            assert same_rows(table, estate[part]), f"crash after {k} mutations: {part} lost or doubled rows"
        run(clock)  # the next run finishes the work
        session, log = counted()
        run(clock, session=session)
        assert mutations(log) == [], f"crash after {k} mutations: the run after the finishing one still acted"
        table, keys = lake.read_partition(*OLD)
        assert len(keys) == 1
        assert same_rows(table, estate[OLD])
        if not crash.crashed:
            break
        k += 1
    # compact: the output, the manifest, the switch, the manifest again; delete: three files, the manifest
    assert k == 4


def test_an_output_that_does_not_hold_its_inputs_rows_is_never_switched_to(
    lake: Lake, estate: dict[tuple[str, str], pa.Table]
) -> None:
    # S3 (and moto) store what they are sent: a lost row is modelled by uploading a file one row short.
    session = boto3.Session(region_name=REGION)

    def drop_a_row(params: dict[str, Any], **_: Any) -> None:
        if params["Key"].startswith("compacted/") and params["Key"].endswith(".parquet"):
            table = pq.read_table(params["Body"])
            params["Body"] = parquet(table.slice(1))

    session.events.register("before-parameter-build.s3.PutObject", drop_a_row)
    with pytest.raises(RunFailed) as failed:
        run(session=session)
    assert "does not hold the rows of its inputs" in json.dumps(failed.value.report)
    for part in (OLD, OLDER):
        table, keys = lake.read_partition(*part)
        assert keys[0].startswith("lake/")
        assert same_rows(table, estate[part])
    assert not [k for k in lake.listing("compacted/") if k.endswith(".json")], "no manifest for an unchecked output"
    assert lake.listing("compacted/") == [], "an output refused by its check is deleted again"


def test_a_partition_moved_by_someone_else_during_the_compaction_is_not_switched(
    lake: Lake, estate: dict[tuple[str, str], pa.Table]
) -> None:
    session = boto3.Session(region_name=REGION)
    moved: list[bool] = []

    def move(params: dict[str, Any], **_: Any) -> None:
        if not moved:
            moved.append(True)
            lake.point(*OLD, "s3://elsewhere/data/")

    session.events.register("before-parameter-build.glue.GetPartition", move)
    report = run(session=session)
    assert totals(report)["partitions_deferred"] == 1
    assert lake.location(*OLD) == "s3://elsewhere/data/"
    assert lake.listing("compacted/format=alb/dt=2026-11-27/hour=13/") == [], "its outputs and manifest are gone"
    assert lake.location(*OLDER).startswith("s3://amzn-s3-demo-lake/compacted/"), "the other partition switched"


def test_inputs_are_read_only_in_the_version_that_was_listed(
    lake: Lake, estate: dict[tuple[str, str], pa.Table]
) -> None:
    session, log = counted()
    run(session=session)
    reads = [p for svc, op, p in log.calls if op == "GetObject" and p["Key"].startswith("lake/")]
    assert len(reads) == 9
    assert all(p.get("IfMatch", "").startswith('"') for p in reads)


def die_before_the_switch() -> None:
    """A run that dies after OLD's output and manifest, before its switch."""
    crash = CrashAfter(2, services=frozenset({"s3", "glue"}))
    session = boto3.Session(region_name=REGION)
    crash.attach(session)
    with contextlib.suppress(Crash):
        run(session=session)


def test_a_generation_never_switched_to_is_discarded_once_idle_past_the_grace_period_and_nothing_else(
    lake: Lake, estate: dict[tuple[str, str], pa.Table]
) -> None:
    # a run dies between the generation's manifest and the switch; a file arrives; the next run compacts the
    # partition into another generation. The first one is then read by nothing and switched to by nothing.
    die_before_the_switch()
    root = "compacted/format=alb/dt=2026-11-27/hour=13/"
    abandoned = lake.listing(root)
    assert len(abandoned) == 2  # one output, one manifest
    late = alb_rows(datetime.fromisoformat("2026-11-27T13:30:00+00:00"), 5, 9)
    lake.add_file(*OLD, "late", late)
    assert totals(run())["partitions_compacted"] == 2
    current = lake.location(*OLD).removeprefix(f"s3://{LAKE}/")
    assert not any(k.startswith(current) for k in abandoned)
    assert set(abandoned) < set(lake.listing(root)), "kept within the grace period of its manifest"

    idle = datetime.now(UTC) + timedelta(hours=25)  # S3's clock wrote the manifest: the grace runs from it
    planned = run(idle, dry_run=True)
    (discard,) = [a for u in planned["units"] for a in u["actions"] if a["action"] == "discard"]
    assert discard["status"] == "planned"
    assert sorted([*discard["detail"]["keys"], discard["detail"]["manifest"]]) == abandoned
    report = run(idle)
    assert totals(report)["generations_discarded"] == 1
    assert totals(report)["files_discarded"] == 1
    assert not set(abandoned) & set(lake.listing(root))
    table, keys = lake.read_partition(*OLD)
    assert keys[0].startswith(current)
    assert same_rows(table, pa.concat_tables([estate[OLD], late]))


def test_an_abandoned_generations_output_rewritten_since_is_kept_with_its_manifest(
    lake: Lake, estate: dict[tuple[str, str], pa.Table]
) -> None:
    die_before_the_switch()
    root = "compacted/format=alb/dt=2026-11-27/hour=13/"
    [output] = [k for k in lake.listing(root) if k.endswith(".parquet")]
    lake.add_file(*OLD, "late", alb_rows(datetime.fromisoformat("2026-11-27T13:30:00+00:00"), 5, 9))
    run()
    lake.s3.put_object(Bucket=LAKE, Key=output, Body=parquet(estate[OLDER]))  # not the version it recorded
    report = run(datetime.now(UTC) + timedelta(hours=25))
    assert totals(report)["generations_kept"] == 1
    assert totals(report)["files_kept_changed"] == 1
    assert output in lake.listing(root)
    assert len([k for k in lake.listing(root) if k.endswith(".json")]) == 2, "both manifests are still there"


def test_a_partition_already_switched_to_the_same_generation_is_not_deferred_and_keeps_its_files(
    lake: Lake, estate: dict[tuple[str, str], pa.Table]
) -> None:
    # another delivery of the same compaction switched the partition first: its location is this generation's
    session = boto3.Session(region_name=REGION)
    moved: list[str] = []

    def switched_first(params: dict[str, Any], **_: Any) -> None:
        if not moved and params.get("PartitionValues") == list(OLD):
            [manifest] = [k for k in lake.listing("compacted/format=alb/dt=2026-11-27/hour=13/") if k.endswith(".json")]
            moved.append(f"s3://{LAKE}/{manifest.removesuffix('.json').replace('/hour=13/', '/hour=13/gen=')}/")
            lake.point(*OLD, moved[0])

    session.events.register("before-parameter-build.glue.GetPartition", switched_first)
    report = run(session=session)
    assert "partitions_deferred" not in totals(report)
    assert totals(report)["partitions_compacted"] == 2
    assert lake.location(*OLD) == moved[0]
    table, keys = lake.read_partition(*OLD)
    assert len(keys) == 1
    assert same_rows(table, estate[OLD])
