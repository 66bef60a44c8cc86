"""Hypothesis strategies and builders for the snapshot rotation planner tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from functions.snapshot_rotation.models import (
    MANAGED_TAG,
    POLICY_TAG,
    VOLUME_TAG,
    Policy,
    Retention,
    SnapshotView,
    VolumeView,
)

POLICY = "nightly"
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Pacific/Kiritimati",
]
START = datetime(2022, 11, 20, tzinfo=UTC)
END = datetime(2025, 2, 10, tzinfo=UTC)
VOLUMES = ["vol-0a", "vol-0b", "vol-0c"]


def at(text: str) -> datetime:
    """A UTC instant from ``YYYY-MM-DD HH:MM``."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def owned_tags(volume_id: str, policy: str = POLICY) -> dict[str, str]:
    return {MANAGED_TAG: "true", POLICY_TAG: policy, VOLUME_TAG: volume_id}


def snap(
    sid: str, when: datetime, volume_id: str = "vol-0a", *, state: str = "completed", owner: str | None = POLICY
) -> SnapshotView:
    tags = owned_tags(volume_id, owner) if owner else {"Name": "made by hand"}
    return SnapshotView(snapshot_id=sid, volume_id=volume_id, start_time=when, state=state, tags=tags)


def policy(**retention: Any) -> Policy:
    return Policy(name=POLICY, retention=Retention(**retention))


ownership = st.sampled_from(["mine", "mine", "mine", "mine", "other-policy", "unmanaged", "managed-false"])
states = st.sampled_from(["completed"] * 6 + ["pending", "error", "recoverable"])
instants = st.datetimes(
    min_value=START.replace(tzinfo=None), max_value=END.replace(tzinfo=None), timezones=st.just(UTC)
)


def _tags(volume_id: str, kind: str) -> dict[str, str]:
    if kind == "mine":
        return owned_tags(volume_id)
    if kind == "other-policy":
        return owned_tags(volume_id, "someone-else")
    if kind == "managed-false":
        return {MANAGED_TAG: "false", POLICY_TAG: POLICY, VOLUME_TAG: volume_id}
    return {}


@st.composite
def snapshot_lists(draw: st.DrawFn, max_size: int = 60) -> list[SnapshotView]:
    n = draw(st.integers(min_value=0, max_value=max_size))
    found = []
    for i in range(n):
        vid = draw(st.sampled_from(VOLUMES))
        # Few distinct instants make same-day/same-second ties likely.
        when = draw(st.one_of(instants, st.sampled_from([at("2024-12-29 23:30"), at("2024-12-30 00:30")])))
        found.append(
            SnapshotView(
                snapshot_id=f"snap-{i:05d}",
                volume_id=vid,
                start_time=when,
                state=draw(states),
                tags=_tags(vid, draw(ownership)),
            )
        )
    return found


@st.composite
def retentions(draw: st.DrawFn) -> Retention:
    return Retention(
        keep_last=draw(st.integers(1, 6)),
        daily=draw(st.integers(0, 10)),
        weekly=draw(st.integers(0, 6)),
        monthly=draw(st.integers(0, 8)),
        yearly=draw(st.integers(0, 3)),
        max_age_days=draw(st.one_of(st.none(), st.integers(1, 900))),
        timezone=draw(st.sampled_from(ZONES)),
    )


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    return Policy(name=POLICY, retention=draw(retentions()), period=draw(st.sampled_from(["hour", "day", "week"])))


@st.composite
def estates(draw: st.DrawFn) -> tuple[list[SnapshotView], set[str], Policy, datetime]:
    snapshots = draw(snapshot_lists())
    ids = [s.snapshot_id for s in snapshots]
    amis = set(draw(st.lists(st.sampled_from(ids), max_size=5))) if ids else set()
    newest = max((s.start_time for s in snapshots), default=START)
    now = newest + draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)))
    return snapshots, amis, draw(policies()), now


@st.composite
def volume_lists(draw: st.DrawFn) -> list[VolumeView]:
    found = []
    for vid in [*VOLUMES, "vol-0d", "vol-0e"]:
        tags = draw(st.sampled_from([{"Backup": "true"}, {"Backup": "false"}, {}, {"Backup": "true", "Name": "db"}]))
        instance = draw(st.sampled_from([None, "i-01", "i-02"]))
        instance_tags = {"i-01": {"Env": "prod"}, "i-02": {"Env": "dev"}}.get(instance or "", {})
        state = draw(st.sampled_from(["in-use", "available", "available", "creating", "deleting", "error"]))
        found.append(VolumeView(vid, state, tags, instance, instance_tags))
    return found
