"""The DR copy planner: the newest completed snapshot of each volume, once, with a cap on copies in flight."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from functions.snapshot_rotation.models import SOURCE_SNAPSHOT_TAG, DrCopy, Policy, SnapshotView
from functions.snapshot_rotation.plan import plan_dr_copies
from tests.unit.snapshot_rotation.strategies import POLICY, at, owned_tags, snap, snapshot_lists

NOW = at("2024-05-10 03:15")


def dr_policy(max_in_flight: int = 20) -> Policy:
    return Policy(name=POLICY, dr=DrCopy(region="eu-central-1", max_in_flight=max_in_flight))


def dr_copy(sid: str, source: str, volume_id: str = "vol-0a", state: str = "completed") -> SnapshotView:
    tags = owned_tags(volume_id) | {SOURCE_SNAPSHOT_TAG: source}
    return SnapshotView(sid, volume_id, NOW, state, tags)


def test_copies_only_the_newest_completed_snapshot_of_each_volume() -> None:
    source = [
        snap("snap-a2", NOW - timedelta(days=1), "vol-0a"),
        snap("snap-a1", NOW - timedelta(days=2), "vol-0a"),
        snap("snap-a3", NOW, "vol-0a", state="pending"),
        snap("snap-b1", NOW - timedelta(days=3), "vol-0b"),
        snap("snap-hand", NOW, "vol-0c", owner=None),
    ]
    decisions = plan_dr_copies(source, [], dr_policy(), in_flight=0)
    assert [(d.resource, d.action) for d in decisions] == [("snap-a2", "copy"), ("snap-b1", "copy")]
    assert decisions[0].reason == "newest snapshot, not yet in eu-central-1"


def test_a_snapshot_already_copied_is_not_copied_again() -> None:
    source = [snap("snap-a2", NOW - timedelta(days=1))]
    decisions = plan_dr_copies(source, [dr_copy("snap-dr", "snap-a2")], dr_policy(), in_flight=0)
    assert [(d.resource, d.action, d.reason) for d in decisions] == [("snap-a2", "skip", "already copied as snap-dr")]


def test_never_more_than_max_in_flight_copies_pending_in_the_dr_region() -> None:
    # Five copies pending in the DR region (from any source region): 15 more may start.
    source = [snap(f"snap-{i:02d}", NOW, f"vol-{i:02d}") for i in range(25)]
    decisions = plan_dr_copies(source, [], dr_policy(20), in_flight=5)
    assert sum(d.action == "copy" for d in decisions) == 15
    assert sum(d.reason == "20 copies already in flight in eu-central-1" for d in decisions) == 10


def test_without_a_dr_region_nothing_is_planned() -> None:
    assert plan_dr_copies([snap("snap-a", NOW)], [], Policy(name=POLICY), in_flight=0) == []


@given(snapshot_lists(max_size=40), snapshot_lists(max_size=20), st.integers(1, 20), st.integers(0, 25))
def test_copies_are_capped_and_only_ever_of_a_volume_newest_completed_snapshot(
    source: list[SnapshotView], dr: list[SnapshotView], cap: int, in_flight: int
) -> None:
    decisions = plan_dr_copies(source, dr, dr_policy(cap), in_flight=in_flight)
    copies = [d for d in decisions if d.action == "copy"]
    assert len(copies) <= max(0, cap - in_flight)
    for d in copies:
        completed = [s for s in source if s.volume_id == d.volume_id and s.owned_by(POLICY) and s.state == "completed"]
        assert d.resource == max(completed, key=lambda s: (s.start_time, s.snapshot_id)).snapshot_id
    assert len({d.volume_id for d in decisions}) == len(decisions)


def test_a_dr_copy_is_never_itself_copied_again() -> None:
    # With regions ["all"], the DR region is a source unit too: its listing holds the copies made there.
    already_a_copy = dr_copy("snap-dr1", "snap-a2")
    own = snap("snap-c1", NOW - timedelta(days=1), "vol-0c")
    decisions = plan_dr_copies([already_a_copy, own], [], dr_policy(), in_flight=0)
    assert [(d.resource, d.action) for d in decisions] == [("snap-c1", "copy")]


def test_a_copy_that_failed_in_the_dr_region_does_not_count_as_a_copy() -> None:
    source = [snap("snap-a2", NOW - timedelta(days=1))]
    decisions = plan_dr_copies(source, [dr_copy("snap-dr", "snap-a2", state="error")], dr_policy(), in_flight=0)
    assert [(d.resource, d.action) for d in decisions] == [("snap-a2", "copy")]


def test_of_two_snapshots_taken_in_the_same_second_the_greater_id_is_the_newest_and_is_copied() -> None:
    same = NOW - timedelta(days=1)
    for order in (["snap-0b", "snap-0a"], ["snap-0a", "snap-0b"]):
        source = [snap(sid, same) for sid in order]
        decisions = plan_dr_copies(source, [], dr_policy(), in_flight=0)
        assert [(d.resource, d.action) for d in decisions] == [("snap-0b", "copy")]
