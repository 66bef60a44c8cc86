"""The creation planner: one snapshot per selected volume per period, never twice, never over a pending one."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from functions.snapshot_rotation.models import Policy, SnapshotView, VolumeView
from functions.snapshot_rotation.plan import period_key, plan_creation, selects
from tests.unit.snapshot_rotation.strategies import (
    POLICY,
    at,
    instants,
    owned_tags,
    policies,
    snap,
    snapshot_lists,
    volume_lists,
)

NOW = at("2024-05-10 03:15")


def vol(vid: str = "vol-0a", state: str = "in-use", **tags: str) -> VolumeView:
    return VolumeView(volume_id=vid, state=state, tags=tags or {"Backup": "true"})


def actions(decisions: list) -> dict[str, tuple[str, str]]:  # type: ignore[type-arg]
    return {d.resource: (d.action, d.reason) for d in decisions}


@given(volume_lists(), snapshot_lists(max_size=30), policies(), instants)
def test_exactly_one_decision_per_selected_volume_and_create_only_when_the_period_is_uncovered(
    volumes: list[VolumeView], snapshots: list[SnapshotView], pol: Policy, now: datetime
) -> None:
    decisions = plan_creation(volumes, snapshots, pol, now)
    selected = {v.volume_id for v in volumes if selects(v, pol)}
    assert sorted(d.resource for d in decisions) == sorted(selected)
    zone = pol.retention.zone
    current = period_key(now, pol.period, zone)
    state = {v.volume_id: v.state for v in volumes}
    for d in decisions:
        mine = [s for s in snapshots if s.volume_id == d.volume_id and s.owned_by(POLICY)]
        covered = any(period_key(s.start_time, pol.period, zone) == current and s.state != "error" for s in mine)
        pending = any(s.state == "pending" for s in mine)
        healthy = state[d.volume_id] in ("available", "in-use")
        assert (d.action == "create") == (healthy and not pending and not covered), d
        assert d.reason


@given(volume_lists(), snapshot_lists(max_size=30), policies(), instants)
def test_a_retried_run_in_the_same_period_creates_nothing(
    volumes: list[VolumeView], snapshots: list[SnapshotView], pol: Policy, now: datetime
) -> None:
    first = plan_creation(volumes, snapshots, pol, now)
    made = [
        SnapshotView(f"snap-new-{d.volume_id}", d.volume_id, now, "completed", owned_tags(d.volume_id))
        for d in first
        if d.action == "create"
    ]
    retry = plan_creation(volumes, snapshots + made, pol, now)
    assert [d for d in retry if d.action == "create"] == []


@given(volume_lists(), snapshot_lists(max_size=30), policies(), instants, st.randoms(use_true_random=False))
def test_creation_plan_does_not_depend_on_input_order(
    volumes: list[VolumeView], snapshots: list[SnapshotView], pol: Policy, now: datetime, rnd: object
) -> None:
    shuffled_v, shuffled_s = list(volumes), list(snapshots)
    rnd.shuffle(shuffled_v)  # type: ignore[attr-defined]
    rnd.shuffle(shuffled_s)  # type: ignore[attr-defined]
    assert plan_creation(shuffled_v, shuffled_s, pol, now) == plan_creation(volumes, snapshots, pol, now)


def test_creates_one_snapshot_per_selected_volume_and_ignores_untagged_ones() -> None:
    volumes = [vol("vol-0a"), vol("vol-0b", state="available"), vol("vol-0c", Backup="false"), vol("vol-0d", Env="x")]
    assert actions(plan_creation(volumes, [], Policy(name=POLICY), NOW)) == {
        "vol-0a": ("create", "no snapshot yet for day 2024-05-10"),
        "vol-0b": ("create", "no snapshot yet for day 2024-05-10"),
    }


def test_skips_a_volume_whose_snapshot_is_still_pending() -> None:
    pending = snap("snap-p", NOW - timedelta(days=1), state="pending")
    assert actions(plan_creation([vol()], [pending], Policy(name=POLICY), NOW)) == {
        "vol-0a": ("skip", "snapshot snap-p is still pending")
    }


def test_skips_when_this_period_already_has_a_snapshot() -> None:
    today = snap("snap-today", at("2024-05-10 00:05"))
    assert actions(plan_creation([vol()], [today], Policy(name=POLICY), NOW)) == {
        "vol-0a": ("skip", "snap-today already covers day 2024-05-10")
    }


def test_snapshots_of_other_policies_by_hand_or_in_error_do_not_cover_the_period() -> None:
    snapshots = [
        snap("snap-hand", NOW, owner=None),
        snap("snap-other", NOW, owner="other"),
        snap("snap-err", NOW, state="error"),
    ]
    assert actions(plan_creation([vol()], snapshots, Policy(name=POLICY), NOW))["vol-0a"][0] == "create"


def test_periods_begin_in_the_policy_time_zone() -> None:
    # At 23:30 UTC it is already the next day in Berlin: a snapshot from 22:59 UTC is yesterday's there.
    now = at("2024-03-04 23:30")
    berlin = Policy.model_validate({"name": POLICY, "retention": {"timezone": "Europe/Berlin"}})
    yesterday_there = snap("snap-a", at("2024-03-04 22:59"))
    today_there = snap("snap-b", at("2024-03-04 23:05"))
    assert actions(plan_creation([vol()], [yesterday_there], berlin, now))["vol-0a"] == (
        "create",
        "no snapshot yet for day 2024-03-05",
    )
    assert actions(plan_creation([vol()], [today_there], berlin, now))["vol-0a"][0] == "skip"
    assert actions(plan_creation([vol()], [yesterday_there], Policy(name=POLICY), now))["vol-0a"][0] == "skip"


def test_weekly_and_hourly_periods() -> None:
    weekly = Policy(name=POLICY, period="week")
    hourly = Policy(name=POLICY, period="hour")
    monday = snap("snap-mon", at("2024-12-30 01:00"))  # ISO 2025-W01
    assert actions(plan_creation([vol()], [monday], weekly, at("2025-01-05 23:00")))["vol-0a"][0] == "skip"
    assert actions(plan_creation([vol()], [monday], weekly, at("2025-01-06 00:00")))["vol-0a"] == (
        "create",
        "no snapshot yet for week 2025-W02",
    )
    assert actions(plan_creation([vol()], [monday], hourly, at("2024-12-30 01:59")))["vol-0a"][0] == "skip"
    assert actions(plan_creation([vol()], [monday], hourly, at("2024-12-30 02:00")))["vol-0a"][0] == "create"


def test_volumes_that_are_not_usable_are_skipped_with_their_state() -> None:
    assert actions(plan_creation([vol(state="creating")], [], Policy(name=POLICY), NOW)) == {
        "vol-0a": ("skip", "volume is creating")
    }


def test_instance_tags_select_attached_volumes() -> None:
    by_instance = Policy(name=POLICY, volume_tag_key=None, instance_tag_key="Env", instance_tag_values=["prod"])
    volumes = [
        VolumeView("vol-prod", "in-use", {}, "i-1", {"Env": "prod"}),
        VolumeView("vol-dev", "in-use", {"Backup": "true"}, "i-2", {"Env": "dev"}),
        VolumeView("vol-loose", "available", {"Backup": "true"}, None, {}),
    ]
    assert actions(plan_creation(volumes, [], by_instance, NOW)) == {
        "vol-prod": ("create", "no snapshot yet for day 2024-05-10")
    }
    both = Policy(name=POLICY, instance_tag_key="Env", instance_tag_values=["prod"])
    assert set(actions(plan_creation(volumes, [], both, NOW))) == {"vol-prod", "vol-dev", "vol-loose"}


def test_the_repeated_local_hour_when_clocks_go_back_is_two_hourly_periods() -> None:
    # Europe/Paris, 2024-10-27: 02:00-02:59 happens twice, at 00:xx UTC (CEST) and at 01:xx UTC (CET).
    pol = Policy(name=POLICY, period="hour", retention={"timezone": "Europe/Paris"})
    first = snap("snap-first", at("2024-10-27 00:30"))
    decisions = plan_creation([vol()], [first], pol, at("2024-10-27 01:30"))
    assert actions(decisions)["vol-0a"][0] == "create"
    assert plan_creation([vol()], [first], pol, at("2024-10-27 00:50"))[0].action == "skip"
