"""Pure planning of snapshot creation, retention and DR copies: no AWS calls, no clock reads.

Every snapshot and every selected volume gets a decision with a reason, so a dry run shows the whole plan.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from functions.snapshot_rotation.models import SOURCE_SNAPSHOT_TAG, Policy, SnapshotView, VolumeView

Verb = Literal["keep", "delete", "create", "skip", "copy"]
PERIOD_REACH = timedelta(days=9)
"""Farther than this from "now", a snapshot cannot be in the current period (a week, plus any UTC offset)."""


@dataclass(frozen=True)
class Decision:
    """One planned action on a snapshot (keep/delete/copy/skip) or a volume (create/skip)."""

    resource: str
    volume_id: str
    action: Verb
    reason: str


def period_key(at: datetime, period: str, zone: ZoneInfo) -> str:
    """The name of the period (hour, day or ISO week) that ``at`` falls in, in ``zone``.

    An hour carries its UTC offset: when clocks go back, the repeated local hour is two periods.
    """
    local = at.astimezone(zone)
    if period == "hour":
        return local.strftime("%Y-%m-%dT%H%z")
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return local.date().isoformat()


Bucket = tuple[int, ...]

TIER_BUCKETS: dict[str, Callable[[datetime], Bucket]] = {
    "daily": lambda local: (local.year, local.month, local.day),
    "weekly": lambda local: tuple(local.isocalendar()[:2]),
    "monthly": lambda local: (local.year, local.month),
    "yearly": lambda local: (local.year,),
}
"""The day, ISO week, month or year a local time falls in (tuples: cheaper than formatting every snapshot)."""


def _bucket_name(tier: str, bucket: Bucket) -> str:
    if tier == "daily":
        return "{:04d}-{:02d}-{:02d}".format(*bucket)
    if tier == "weekly":
        return "{}-W{:02d}".format(*bucket)
    if tier == "monthly":
        return "{:04d}-{:02d}".format(*bucket)
    return f"{bucket[0]:04d}"


def newest_first(snapshots: Iterable[SnapshotView]) -> list[SnapshotView]:
    """Newest first; ties broken by id so plans are deterministic."""
    return sorted(snapshots, key=lambda s: (s.start_time, s.snapshot_id), reverse=True)


def is_dr_copy(snap: SnapshotView) -> bool:
    return SOURCE_SNAPSHOT_TAG in snap.tags


def selects(volume: VolumeView, policy: Policy) -> bool:
    """Whether the policy selects the volume, by its own tag or by the tag of its instance."""
    if policy.volume_tag_key and volume.tags.get(policy.volume_tag_key) in policy.volume_tag_values:
        return True
    return bool(
        policy.instance_tag_key
        and volume.instance_id
        and volume.instance_tags.get(policy.instance_tag_key) in policy.instance_tag_values
    )


def plan_creation(
    volumes: Iterable[VolumeView], snapshots: Iterable[SnapshotView], policy: Policy, now: datetime
) -> list[Decision]:
    """One ``create`` per selected volume that has no snapshot of this policy in the current period.

    A volume whose snapshot is still pending is skipped (the next run picks it up); so is one that already has
    this period's snapshot, which makes retried invocations harmless.
    """
    zone = policy.retention.zone
    current = period_key(now, policy.period, zone)
    owned: dict[str, list[SnapshotView]] = defaultdict(list)
    for snap in snapshots:
        if snap.owned_by(policy.name):
            owned[snap.volume_id].append(snap)

    decisions = []
    for volume in sorted(volumes, key=lambda v: v.volume_id):
        if not selects(volume, policy):
            continue
        vid = volume.volume_id
        mine = newest_first(owned.get(vid, []))
        pending = [s for s in mine if s.state == "pending"]
        this_period = [
            s
            for s in mine
            if s.state != "error"
            and abs(s.start_time - now) < PERIOD_REACH
            and period_key(s.start_time, policy.period, zone) == current
        ]
        if volume.state not in ("available", "in-use"):
            decisions.append(Decision(vid, vid, "skip", f"volume is {volume.state}"))
        elif pending:
            decisions.append(Decision(vid, vid, "skip", f"snapshot {pending[0].snapshot_id} is still pending"))
        elif this_period:
            decisions.append(
                Decision(vid, vid, "skip", f"{this_period[0].snapshot_id} already covers {policy.period} {current}")
            )
        else:
            decisions.append(Decision(vid, vid, "create", f"no snapshot yet for {policy.period} {current}"))
    return decisions


def plan_retention(
    snapshots: Iterable[SnapshotView], ami_snapshot_ids: Iterable[str], policy: Policy, now: datetime
) -> list[Decision]:
    """Keep or delete every snapshot, with a reason.

    Only completed snapshots carrying this policy's ownership tags are candidates for deletion. Never deleted:
    a snapshot used by an AMI, a pending or errored one, and the newest completed one of each volume that no AMI
    uses (so a volume keeps a snapshot of its own when its newest backs an AMI). Among the candidates a snapshot
    is kept if any rule keeps it (the newest ``keep_last``, or the newest of its day/week/month/year for the newest
    N such buckets), unless it is older than ``max_age_days``. "Newest" is by start time, then by snapshot id
    (the greater id is the newer) when start times are equal.
    """
    retention = policy.retention
    in_ami = set(ami_snapshot_ids)
    decisions: list[Decision] = []
    candidates: dict[str, list[SnapshotView]] = defaultdict(list)
    for snap in snapshots:
        sid, vid = snap.snapshot_id, snap.volume_id
        if not snap.owned_by(policy.name):
            decisions.append(Decision(sid, vid, "keep", f"not owned by policy {policy.name}"))
        elif sid in in_ami:
            decisions.append(Decision(sid, vid, "keep", "used by an AMI"))
        elif snap.state != "completed":
            decisions.append(Decision(sid, vid, "keep", f"{snap.state}: only completed snapshots rotate"))
        else:
            candidates[vid].append(snap)

    cutoff = now - timedelta(days=retention.max_age_days) if retention.max_age_days else None
    limits: Mapping[str, int] = {
        "daily": retention.daily,
        "weekly": retention.weekly,
        "monthly": retention.monthly,
        "yearly": retention.yearly,
    }
    zone = retention.zone
    for vid in sorted(candidates):
        ordered = newest_first(candidates[vid])
        local = [snap.start_time.astimezone(zone) for snap in ordered]
        reasons: dict[str, list[str]] = defaultdict(list)
        for snap in ordered[: retention.keep_last]:
            reasons[snap.snapshot_id].append(f"one of the newest {retention.keep_last}")
        for tier, bucket_of in TIER_BUCKETS.items():
            _mark_tier(ordered, local, tier, limits[tier], bucket_of, reasons)
        for index, snap in enumerate(ordered):
            sid = snap.snapshot_id
            if index == 0:
                decisions.append(Decision(sid, vid, "keep", "newest completed snapshot of the volume that no AMI uses"))
            elif cutoff is not None and snap.start_time < cutoff:
                decisions.append(Decision(sid, vid, "delete", f"older than {retention.max_age_days} days"))
            elif reasons.get(sid):
                decisions.append(Decision(sid, vid, "keep", "; ".join(reasons[sid])))
            else:
                decisions.append(Decision(sid, vid, "delete", "outside retention"))
    return decisions


def _mark_tier(
    ordered: Sequence[SnapshotView],
    local: Sequence[datetime],
    tier: str,
    limit: int,
    bucket_of: Callable[[datetime], Bucket],
    reasons: dict[str, list[str]],
) -> None:
    """Keep the newest snapshot of each of the newest ``limit`` buckets of this tier."""
    seen: set[Bucket] = set()
    if limit == 0:
        return
    for snap, at in zip(ordered, local, strict=True):
        bucket = bucket_of(at)
        if bucket in seen:
            continue
        if len(seen) == limit:
            return
        seen.add(bucket)
        reasons[snap.snapshot_id].append(f"{tier} {_bucket_name(tier, bucket)}")


def plan_dr_copies(
    source: Iterable[SnapshotView], dr: Iterable[SnapshotView], policy: Policy, *, in_flight: int
) -> list[Decision]:
    """Copy the newest completed snapshot of each volume to the DR region, unless a copy is already there.

    ``dr`` holds this source region's copies in the DR region; ``in_flight`` is how many copies are pending there
    from every source (counted by the caller across source regions and the copies it starts). At most
    ``policy.dr.max_in_flight`` copies are pending at once; the rest wait for a run with free slots. A DR copy
    is never a source.
    """
    if policy.dr is None:
        return []
    dr_list = [s for s in dr if s.owned_by(policy.name)]
    copied = {s.tags.get(SOURCE_SNAPSHOT_TAG): s.snapshot_id for s in dr_list if s.state != "error"}
    slots = policy.dr.max_in_flight - in_flight
    newest: dict[str, SnapshotView] = {}
    originals = (s for s in source if s.owned_by(policy.name) and s.state == "completed" and not is_dr_copy(s))
    for snap in newest_first(originals):
        newest.setdefault(snap.volume_id, snap)

    decisions = []
    for vid in sorted(newest):
        snap = newest[vid]
        if snap.snapshot_id in copied:
            decisions.append(Decision(snap.snapshot_id, vid, "skip", f"already copied as {copied[snap.snapshot_id]}"))
        elif slots <= 0:
            waiting = f"{policy.dr.max_in_flight} copies already in flight in {policy.dr.region}"
            decisions.append(Decision(snap.snapshot_id, vid, "skip", waiting))
        else:
            slots -= 1
            decisions.append(Decision(snap.snapshot_id, vid, "copy", f"newest snapshot, not yet in {policy.dr.region}"))
    return decisions
