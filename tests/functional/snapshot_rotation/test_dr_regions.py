"""A DR region shared by several source regions: copies in flight are counted per destination region across every
source, and each snapshot is planned by exactly one unit, even when the DR region is a unit of the run itself."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.snapshot_rotation.models import SOURCE_REGION_TAG, SOURCE_SNAPSHOT_TAG
from functions.snapshot_rotation.task import TASK
from shared.runner import execute
from tests.functional.snapshot_rotation import estate
from tests.helpers import REGION, FakeContext

D0 = datetime(2024, 3, 1, 3, 15, tzinfo=UTC)
OTHER = "us-east-1"
DR = estate.DR_REGION


def event(regions: list[str], max_in_flight: int = 20, **retention: int) -> dict[str, Any]:
    return {
        "regions": regions,
        "create": False,
        "policy": {
            "retention": {"keep_last": 2, "daily": 0, "weekly": 0, "monthly": 0} | retention,
            "dr": {"region": DR, "max_in_flight": max_in_flight},
        },
    }


def volumes_with_a_snapshot(region: str, n: int) -> list[str]:
    ec2 = estate.ec2(region)
    vids = [estate.volume(ec2, f"{region}-{i}") for i in range(n)]
    for vid in vids:
        estate.seed_snapshots(vid, [D0 - timedelta(days=1)], region=region)
    return vids


def dr_copies(source_region: str, source_volume: str, days: list[int], *, state: str = "completed") -> list[str]:
    """Copies in the DR region of ``source_volume``'s snapshots, tagged as the task tags its copies."""
    carrier = estate.volume(estate.ec2(DR), f"carrier-{source_volume}", backup=None)
    ids = []
    for day in days:
        tags = {"devops-tasks:volume-id": source_volume, SOURCE_REGION_TAG: source_region}
        (sid,) = estate.seed_snapshots(
            carrier, [D0 - timedelta(days=day)], region=DR, extra_tags=tags | {SOURCE_SNAPSHOT_TAG: f"snap-src-{day}"}
        )
        estate.age(sid, D0 - timedelta(days=day), region=DR, state=state)
        ids.append(sid)
    return ids


def copies(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for u in report["units"] for a in u["actions"] if a["action"] == "copy"]


def test_copies_in_flight_are_counted_over_every_source_region_of_the_dr_region(aws: None) -> None:
    # 12 copies from us-east-1 are still pending in the DR region; a run of eu-west-1 alone may start 8 more.
    for vid in volumes_with_a_snapshot(OTHER, 12):
        dr_copies(OTHER, vid, [1], state="pending")
    volumes_with_a_snapshot(REGION, 15)
    report = execute(TASK, event([REGION]), FakeContext(), clock=lambda: D0)
    assert [a["status"] for a in copies(report)] == ["done"] * 8
    assert len(estate.snapshots(estate.ec2(DR))) == 12 + 8
    assert [u["counts"] for u in report["units"]] == [{"copied": 8, "kept": 15, "skipped": 7}]
    skipped = [a for a in report["units"][0]["actions"] if a["action"] == "skip"]
    assert {a["reason"] for a in skipped} == {f"20 copies already in flight in {DR}"}


def test_source_units_running_side_by_side_share_the_dr_regions_copy_slots(aws: None) -> None:
    volumes_with_a_snapshot(REGION, 15)
    volumes_with_a_snapshot(OTHER, 15)
    report = execute(TASK, event([REGION, OTHER]), FakeContext(), clock=lambda: D0)
    assert report["status"] == "succeeded"
    assert len(copies(report)) == 20
    assert len(estate.snapshots(estate.ec2(DR))) == 20
    assert sum(u["counts"].get("skipped", 0) for u in report["units"]) == 10


def test_with_regions_all_every_snapshot_is_planned_by_exactly_one_unit(aws: None) -> None:
    # eu-west-1's volume has five snapshots here and five copies in the DR region, which is also a unit of the run.
    ec2 = estate.ec2()
    vid = estate.volume(ec2, "db")
    originals = estate.seed_snapshots(vid, [D0 - timedelta(days=d) for d in range(1, 6)])
    in_dr = dr_copies(REGION, vid, [1, 2, 3, 4, 5])
    clients, log = estate.counted_clients()
    report = execute(TASK, event(["all"]), FakeContext(), clients=clients, clock=lambda: D0)

    assert report["status"] == "succeeded"
    planned_by = defaultdict(set)
    for unit in report["units"]:
        for a in unit["actions"]:
            if a["resource"].startswith("snap-"):
                planned_by[a["resource"]].add(unit["region"])
    assert {sid: units for sid, units in planned_by.items() if len(units) != 1} == {}
    assert set(originals) | set(in_dr) <= set(planned_by)
    deleted = [a["resource"] for u in report["units"] for a in u["actions"] if a["action"] == "delete"]
    assert sorted(deleted) == sorted(originals[2:] + in_dr[2:])
    assert log.operations("ec2")["DeleteSnapshot"] == 6
    assert sum(u["counts"].get("deleted", 0) for u in report["units"]) == 6
    # The copies are planned by the unit of the region they came from.
    assert set().union(*(planned_by[sid] for sid in in_dr)) == {REGION}
