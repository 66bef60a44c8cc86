"""The retention planner: safety rules, the exact tier set, idempotence, determinism and time-zone boundaries."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from functions.snapshot_rotation.models import Policy, SnapshotView
from functions.snapshot_rotation.plan import Decision, plan_retention
from tests.unit.snapshot_rotation.strategies import POLICY, at, estates, policy, snap

Estate = tuple[list[SnapshotView], set[str], Policy, datetime]


def deleted(decisions: list[Decision]) -> set[str]:
    return {d.resource for d in decisions if d.action == "delete"}


def by_resource(decisions: list[Decision]) -> dict[str, tuple[str, str]]:
    return {d.resource: (d.action, d.reason) for d in decisions}


def reference_deletions(snapshots: list[SnapshotView], amis: set[str], pol: Policy, now: datetime) -> set[str]:
    """A brute-force statement of the retention rules, written independently of plan.py."""
    r = pol.retention
    zone = ZoneInfo(r.timezone)

    def day(s: SnapshotView) -> object:
        return s.start_time.astimezone(zone).date()

    def week(s: SnapshotView) -> object:  # the Monday that starts the ISO week
        d: date = s.start_time.astimezone(zone).date()
        return d - timedelta(days=d.weekday())

    def month(s: SnapshotView) -> object:
        local = s.start_time.astimezone(zone)
        return (local.year, local.month)

    def year(s: SnapshotView) -> object:
        return s.start_time.astimezone(zone).year

    per_volume: dict[str, list[SnapshotView]] = defaultdict(list)
    for s in snapshots:
        mine = s.tags.get("devops-tasks:managed") == "true" and s.tags.get("devops-tasks:policy") == POLICY
        if mine and s.snapshot_id not in amis and s.state == "completed":
            per_volume[s.volume_id].append(s)

    doomed: set[str] = set()
    for candidates in per_volume.values():

        def rank(s: SnapshotView) -> tuple[datetime, str]:
            return (s.start_time, s.snapshot_id)

        newest = max(candidates, key=rank)
        keep = {s.snapshot_id for s in sorted(candidates, key=rank)[-r.keep_last :]}
        for key, count in ((day, r.daily), (week, r.weekly), (month, r.monthly), (year, r.yearly)):
            buckets: dict[object, list[SnapshotView]] = defaultdict(list)
            for s in candidates:
                buckets[key(s)].append(s)
            heads = sorted((max(members, key=rank) for members in buckets.values()), key=rank, reverse=True)
            keep |= {s.snapshot_id for s in heads[:count]}
        for s in candidates:
            too_old = r.max_age_days is not None and s.start_time < now - timedelta(days=r.max_age_days)
            if s is not newest and (too_old or s.snapshot_id not in keep):
                doomed.add(s.snapshot_id)
    return doomed


@settings(max_examples=200)
@given(estates())
def test_never_deletes_unowned_ami_used_pending_or_the_newest_completed_snapshot(estate: Estate) -> None:
    snapshots, amis, pol, now = estate
    gone = deleted(plan_retention(snapshots, amis, pol, now))
    for s in snapshots:
        if s.snapshot_id in gone:
            assert s.owned_by(POLICY)
            assert s.snapshot_id not in amis
            assert s.state == "completed"
    for vid in {s.volume_id for s in snapshots}:
        completed = [s for s in snapshots if s.volume_id == vid and s.state == "completed" and s.owned_by(POLICY)]
        if completed:
            newest = max(completed, key=lambda s: (s.start_time, s.snapshot_id))
            assert newest.snapshot_id not in gone
            assert any(s.snapshot_id not in gone for s in completed), "a volume keeps a completed snapshot"
        own = [s for s in completed if s.snapshot_id not in amis]
        if own:
            newest_own = max(own, key=lambda s: (s.start_time, s.snapshot_id))
            assert newest_own.snapshot_id not in gone, "the newest completed snapshot no AMI uses is kept"


@settings(max_examples=200)
@given(estates())
def test_deletes_exactly_what_the_reference_rules_delete(estate: Estate) -> None:
    snapshots, amis, pol, now = estate
    assert deleted(plan_retention(snapshots, amis, pol, now)) == reference_deletions(snapshots, amis, pol, now)


@given(estates())
def test_planning_again_on_the_kept_set_deletes_nothing(estate: Estate) -> None:
    snapshots, amis, pol, now = estate
    gone = deleted(plan_retention(snapshots, amis, pol, now))
    kept = [s for s in snapshots if s.snapshot_id not in gone]
    assert deleted(plan_retention(kept, amis, pol, now)) == set()


@given(estates(), st.randoms(use_true_random=False))
def test_shuffled_input_gives_the_same_decisions(estate: Estate, rnd: random.Random) -> None:
    snapshots, amis, pol, now = estate
    shuffled = list(snapshots)
    rnd.shuffle(shuffled)
    assert by_resource(plan_retention(shuffled, amis, pol, now)) == by_resource(
        plan_retention(snapshots, amis, pol, now)
    )


@given(estates())
def test_every_snapshot_gets_exactly_one_decision_with_a_reason(estate: Estate) -> None:
    snapshots, amis, pol, now = estate
    decisions = plan_retention(snapshots, amis, pol, now)
    assert Counter(d.resource for d in decisions) == Counter(s.snapshot_id for s in snapshots)
    assert all(d.action in ("keep", "delete") and d.reason.strip() for d in decisions)
    volumes = {s.snapshot_id: s.volume_id for s in snapshots}
    assert all(d.volume_id == volumes[d.resource] for d in decisions)


def test_reasons_name_the_rule_that_decided() -> None:
    snapshots = [
        snap("snap-new", at("2024-05-10 03:00")),
        snap("snap-mid", at("2024-05-09 03:00")),
        snap("snap-old", at("2024-01-09 03:00")),
        snap("snap-ami", at("2023-01-01 03:00")),
        snap("snap-pending", at("2024-05-10 04:00"), state="pending"),
        snap("snap-hand", at("2020-01-01 03:00"), owner=None),
        snap("snap-other", at("2020-01-01 03:00"), owner="other"),
    ]
    pol = policy(keep_last=1, daily=2, weekly=0, monthly=0, yearly=0)
    got = by_resource(plan_retention(snapshots, {"snap-ami"}, pol, at("2024-05-10 12:00")))
    assert got == {
        "snap-new": ("keep", "newest completed snapshot of the volume that no AMI uses"),
        "snap-mid": ("keep", "daily 2024-05-09"),
        "snap-old": ("delete", "outside retention"),
        "snap-ami": ("keep", "used by an AMI"),
        "snap-pending": ("keep", "pending: only completed snapshots rotate"),
        "snap-hand": ("keep", f"not owned by policy {POLICY}"),
        "snap-other": ("keep", f"not owned by policy {POLICY}"),
    }


def test_a_snapshot_at_2330_utc_falls_on_the_next_local_day_in_berlin() -> None:
    a = snap("snap-a", at("2024-03-05 00:10"))  # Berlin 2024-03-05 01:10
    b = snap("snap-b", at("2024-03-04 23:30"))  # Berlin 2024-03-05 00:30
    c = snap("snap-c", at("2024-03-04 22:30"))  # Berlin 2024-03-04 23:30
    now = at("2024-03-05 12:00")
    in_berlin = policy(keep_last=1, daily=2, weekly=0, monthly=0, timezone="Europe/Berlin")
    in_utc = policy(keep_last=1, daily=2, weekly=0, monthly=0, timezone="UTC")
    assert deleted(plan_retention([a, b, c], set(), in_berlin, now)) == {"snap-b"}
    assert deleted(plan_retention([a, b, c], set(), in_utc, now)) == {"snap-c"}


def test_days_follow_summer_time_in_berlin() -> None:
    # Clocks go forward on 2024-03-31: 22:30 UTC is 00:30 CEST on 2024-04-01, 23:30 UTC on 03-30 is 00:30 CET.
    snapshots = [
        snap("snap-apr1", at("2024-03-31 22:30")),
        snap("snap-mar31-late", at("2024-03-31 21:30")),
        snap("snap-mar31", at("2024-03-30 23:30")),
        snap("snap-mar30", at("2024-03-30 22:30")),
    ]
    pol = policy(keep_last=1, daily=3, weekly=0, monthly=0, timezone="Europe/Berlin")
    assert deleted(plan_retention(snapshots, set(), pol, at("2024-04-01 12:00"))) == {"snap-mar31"}


def test_iso_weeks_straddle_the_year_end() -> None:
    # 2024-12-30 (Monday) starts ISO week 2025-W01; 2024-12-29 is the last day of 2024-W52.
    snapshots = [
        snap("snap-jan1", at("2025-01-01 03:00")),
        snap("snap-dec30", at("2024-12-30 03:00")),
        snap("snap-dec29", at("2024-12-29 03:00")),
    ]
    pol = policy(keep_last=1, daily=0, weekly=2, monthly=0)
    decisions = by_resource(plan_retention(snapshots, set(), pol, at("2025-01-02 00:00")))
    assert decisions["snap-dec30"] == ("delete", "outside retention")
    assert decisions["snap-dec29"] == ("keep", "weekly 2024-W52")


def test_iso_week_53_spans_two_calendar_years() -> None:
    # 2020-12-31 and 2021-01-03 are both in 2020-W53, but in different months and years.
    snapshots = [snap("snap-2021", at("2021-01-03 03:00")), snap("snap-2020", at("2020-12-31 03:00"))]
    weekly = policy(keep_last=1, daily=0, weekly=5, monthly=0)
    yearly = policy(keep_last=1, daily=0, weekly=0, monthly=0, yearly=2)
    now = at("2021-01-04 00:00")
    assert deleted(plan_retention(snapshots, set(), weekly, now)) == {"snap-2020"}
    assert by_resource(plan_retention(snapshots, set(), yearly, now))["snap-2020"] == ("keep", "yearly 2020")


def test_new_year_comes_later_in_new_york_than_in_utc() -> None:
    # 2024-01-01 03:00 UTC is still 2023-12-31 22:00 in New York.
    snapshots = [
        snap("snap-2024", at("2024-01-02 03:00")),
        snap("snap-eve", at("2024-01-01 03:00")),
        snap("snap-dec", at("2023-12-20 03:00")),
    ]
    ny = policy(keep_last=1, daily=0, weekly=0, monthly=0, yearly=2, timezone="America/New_York")
    utc = policy(keep_last=1, daily=0, weekly=0, monthly=0, yearly=2, timezone="UTC")
    now = at("2024-01-03 00:00")
    assert deleted(plan_retention(snapshots, set(), ny, now)) == {"snap-dec"}
    assert deleted(plan_retention(snapshots, set(), utc, now)) == {"snap-eve"}


def test_max_age_deletes_older_snapshots_whatever_the_tiers_say() -> None:
    now = at("2024-06-30 12:00")
    snapshots = [snap(f"snap-{d:03d}", now - timedelta(days=d)) for d in (1, 10, 29, 31, 45, 200)]
    pol = policy(keep_last=10, daily=400, weekly=60, monthly=24, yearly=5, max_age_days=30)
    decisions = by_resource(plan_retention(snapshots, set(), pol, now))
    assert deleted(plan_retention(snapshots, set(), pol, now)) == {"snap-031", "snap-045", "snap-200"}
    assert decisions["snap-045"] == ("delete", "older than 30 days")


def test_max_age_never_deletes_the_newest_ami_used_or_pending_snapshot() -> None:
    now = at("2024-06-30 12:00")
    snapshots = [
        snap("snap-newest", now - timedelta(days=90)),
        snap("snap-older", now - timedelta(days=100)),
        snap("snap-ami", now - timedelta(days=300)),
        snap("snap-pending", now - timedelta(days=95), state="pending"),
    ]
    pol = policy(keep_last=5, max_age_days=30)
    assert deleted(plan_retention(snapshots, {"snap-ami"}, pol, now)) == {"snap-older"}


def test_the_newest_snapshot_not_used_by_an_ami_is_kept_as_the_volume_newest() -> None:
    snapshots = [snap("snap-ami", at("2024-05-10 03:00")), snap("snap-prev", at("2024-04-01 03:00"))]
    pol = policy(keep_last=1, daily=0, weekly=0, monthly=0, max_age_days=1)
    decisions = by_resource(plan_retention(snapshots, {"snap-ami"}, pol, at("2024-05-11 00:00")))
    assert decisions["snap-prev"] == ("keep", "newest completed snapshot of the volume that no AMI uses")


def test_ties_on_start_time_are_broken_by_id() -> None:
    same = at("2024-05-10 03:00")
    snapshots = [snap("snap-b", same), snap("snap-a", same), snap("snap-c", same)]
    pol = policy(keep_last=1, daily=1, weekly=0, monthly=0)
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        shuffled = [snapshots[i] for i in order]
        assert deleted(plan_retention(shuffled, set(), pol, at("2024-05-11 00:00"))) == {"snap-a", "snap-b"}
