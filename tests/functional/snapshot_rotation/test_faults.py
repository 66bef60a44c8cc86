"""Faults: rate limits and internal errors change nothing in the outcome; a crash at any point converges on re-run."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from moto import mock_aws

from functions.snapshot_rotation.task import TASK
from shared.aws import Clients
from shared.runner import execute
from tests.faults import Crash, CrashAfter, Faults, SimulatedClock, TokenBuckets, simulated_retries
from tests.functional.snapshot_rotation import estate
from tests.helpers import FakeContext

D0 = datetime(2024, 3, 1, 3, 15, tzinfo=UTC)
EVENT: dict[str, Any] = {
    "regions": ["eu-west-1"],
    "policy": {
        "name": "default",
        "retention": {"keep_last": 1, "daily": 2, "weekly": 1, "monthly": 0},
        "dr": {"region": estate.DR_REGION},
    },
}
Shape = tuple[list[tuple[str, ...]], list[tuple[str, ...]]]


CLOCK: list[Any] = []


@pytest.fixture(autouse=True)
def frozen(sim_clock: SimulatedClock) -> Iterator[None]:
    """Time starts at D0 and runs on; pacing and retry backoff wait on the simulated clock."""
    with freeze_time(D0, tick=True) as clock, simulated_retries(sim_clock):
        CLOCK[:] = [clock]
        yield


def seed(days_ago: tuple[int, ...] = (1, 2, 3, 5, 8, 9, 15)) -> None:
    """Three volumes with daily snapshots ``days_ago``, an AMI-used, a hand-made and a pending one."""
    ec2 = estate.ec2()
    a, b, c = (estate.volume(ec2, name) for name in ("a", "b", "c"))
    for vid in (a, b, c):
        for days in days_ago:
            estate.snapshot(ec2, vid, D0 - timedelta(days=days, hours=days))
    estate.ami_snapshot(ec2, D0 - timedelta(days=30), a)
    estate.snapshot(ec2, b, D0 - timedelta(days=40), policy=None)
    estate.snapshot(ec2, c, D0 - timedelta(hours=1), state="pending")
    estate.volume(ec2, "untagged", backup=None)


def shape() -> Shape:
    """The estate in both regions, independent of generated ids and of the seconds runs took."""
    source, dr = estate.ec2(), estate.ec2(estate.DR_REGION)
    names = {v["VolumeId"]: estate._name(v) for v in source.describe_volumes()["Volumes"]}

    def rows(client: Any) -> list[tuple[str, ...]]:
        found = []
        for s in estate.snapshots(client).values():
            tags = s["Tags"]
            vid = tags.get("devops-tasks:volume-id", s["VolumeId"])
            day = s["StartTime"].date().isoformat()
            found.append((names.get(vid, "?"), day, tags.get("devops-tasks:policy", "hand")))
        return sorted(found)

    return rows(source), rows(dr)


def no_duplicates(state: Shape) -> None:
    """At most one owned snapshot per volume and day in each region."""
    for rows in state:
        owned = Counter((name, day) for name, day, policy in rows if policy == "default")
        assert max(owned.values(), default=1) == 1, owned


def run(clients: Clients | None = None, **extra: Any) -> dict[str, Any]:
    """One run; the next starts a minute later (moto reports StartTime to the second, AWS to the millisecond)."""
    try:
        return execute(TASK, EVENT | extra, FakeContext(), clients=clients or Clients(estate.session()))
    finally:
        CLOCK[0].tick(timedelta(minutes=1))


def settle() -> int:
    """Run until a run changes nothing; return how many runs changed something.

    Each run rotates what existed when it started and copies the newest snapshot of that moment, so a new
    snapshot reaches the DR region one run later and older ones are rotated a run after that.
    """
    history = []
    for changed in range(6):
        clients, log = estate.counted_clients()
        report = run(clients)
        if not log.mutating("ec2"):
            return changed
        history.append([(a["action"], a["resource"], a["reason"]) for a in report["units"][0]["actions"]])
    raise AssertionError(f"no fixed point after 6 runs: {history[-2:]}")


BUSY_ACCOUNT = {"ec2:CreateSnapshot": (3.0, 2.0), "ec2:DeleteSnapshot": (3.0, 2.0), "ec2:CopySnapshot": (3.0, 2.0)}
"""EC2's buckets as other callers in the account leave them: 3 tokens, refilling at 2 per second (AWS's own are 50 to
100 tokens at 5 per second), so the paced calls are throttled too and botocore's retries have to do their work."""


def test_rate_limits_and_internal_errors_leave_the_same_state_as_a_fault_free_run(sim_clock: SimulatedClock) -> None:
    with mock_aws():
        seed()
        run()
        expected = shape()
    for seed_ in (1, 2):
        with mock_aws():
            seed()
            clients = Clients(estate.session())
            limits = TokenBuckets(sim_clock, BUSY_ACCOUNT).attach(clients.session)
            faults = Faults(throttle=0.0, internal=0.05, seed=seed_).attach(clients.session)
            report = run(clients)
            assert sum(limits.throttled.values()) > 0
            assert faults.injected["InternalError"] > 0
            assert report["status"] == "succeeded"
            assert shape() == expected
            no_duplicates(shape())


SMALL = (1, 2, 6)


def crash_then_settle(k: int) -> tuple[bool, Shape]:
    with mock_aws():
        seed(SMALL)
        clients = Clients(estate.session())
        crash = CrashAfter(k).attach(clients.session)
        with contextlib.suppress(Crash):
            run(clients, max_workers=1)
        settle()
        state = shape()
        no_duplicates(state)
        return crash.crashed, state


def test_a_crash_after_any_number_of_mutating_calls_converges_on_re_run() -> None:
    with mock_aws():
        seed(SMALL)
        clients, log = estate.counted_clients()
        run(clients, max_workers=1)
        mutations = len(log.mutating("ec2"))
        settle()
        expected = shape()
        no_duplicates(expected)
    assert mutations >= 8

    for k in range(mutations + 1):
        crashed, state = crash_then_settle(k)
        assert crashed == (k < mutations), k
        assert state == expected, f"crash after {k} of {mutations} mutating calls"
