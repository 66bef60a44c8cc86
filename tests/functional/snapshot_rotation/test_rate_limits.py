"""EC2's rate limit on DeleteSnapshot, modelled as AWS applies it (a token bucket per account, region and action),
against the real executor: paced deletions are never throttled, and throttling that outlasts botocore's retries
defers the snapshot to the next run instead of failing the run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto import mock_aws

from functions.snapshot_rotation.task import TASK
from shared.aws import Clients
from shared.runner import execute
from tests.faults import CallLog, SimulatedClock, TokenBuckets, simulated_retries
from tests.functional.snapshot_rotation import estate
from tests.helpers import REGION, FakeContext

D0 = datetime(2024, 3, 1, 3, 15, tzinfo=UTC)
ROTATE: dict[str, Any] = {
    "create": False,
    "regions": [REGION],
    "policy": {"retention": {"keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0}},
}
EC2_DELETE_BUCKET = {"ec2:DeleteSnapshot": (100.0, 5.0)}
"""AWS's documented DeleteSnapshot bucket: 100 tokens, refilled at 5 per second per account and region."""


@pytest.fixture
def clock() -> Iterator[SimulatedClock]:
    """One simulated clock for the client's pacing, EC2's buckets and botocore's retry backoff."""
    clock = SimulatedClock()
    with mock_aws(), simulated_retries(clock):
        yield clock


def seed(volumes: int = 3, per_volume: int = 101) -> set[str]:
    """``volumes`` x ``per_volume`` daily snapshots; with keep_last 1 all but the newest of each go."""
    ec2 = estate.ec2()
    doomed = set()
    for v in range(volumes):
        vid = estate.volume(ec2, f"v{v}")
        doomed |= set(estate.seed_snapshots(vid, [D0 - timedelta(days=day) for day in range(1, per_volume + 1)])[1:])
    return doomed


def run(clients: Clients, **extra: Any) -> dict[str, Any]:
    return execute(TASK, ROTATE | extra, FakeContext(), clients=clients, clock=lambda: D0)


def outcome(report: dict[str, Any]) -> dict[str, str]:
    return {a["resource"]: a["status"] for a in report["units"][0]["actions"] if a["action"] == "delete"}


def test_300_paced_deletions_against_a_5_per_second_bucket_are_never_throttled(clock: SimulatedClock) -> None:
    doomed = seed()
    assert len(doomed) == 300
    session = estate.session()
    ec2 = TokenBuckets(clock, EC2_DELETE_BUCKET).attach(session)
    report = run(Clients(session, pacer=clock.pacer()))

    assert report["status"] == "succeeded"
    assert report["units"][0]["failures"] == []
    assert report["units"][0]["counts"] == {"deleted": 300, "kept": 3}
    assert set(outcome(report)) == doomed
    assert doomed.isdisjoint(estate.snapshots(estate.ec2()))
    assert ec2.throttled["ec2:DeleteSnapshot"] == 0
    # Paced at 5 per second after a burst of 10: the deletions took about a minute of (simulated) time.
    assert clock.latest >= (300 - 10) / 5


def test_without_pacing_the_same_deletions_are_throttled_and_deferred_never_failed(clock: SimulatedClock) -> None:
    doomed = seed()
    session = estate.session()
    ec2 = TokenBuckets(clock, EC2_DELETE_BUCKET).attach(session)
    report = run(Clients(session, pacer=clock.pacer(defaults={})))

    assert ec2.throttled["ec2:DeleteSnapshot"] > 0
    counts = report["units"][0]["counts"]
    assert report["units"][0]["failures"] == []
    assert counts.get("deferred", 0) > 0, counts
    assert counts["deleted"] + counts["deferred"] == 300
    assert report["status"] == "incomplete"
    statuses = outcome(report)
    assert set(statuses) == doomed
    deferred = [a for a in report["units"][0]["actions"] if a["status"] == "skipped"]
    for action in deferred:
        assert action["detail"]["error_code"] == "RequestLimitExceeded"
        assert action["reason"].endswith(
            "RequestLimitExceeded: still throttled after botocore's retries; left for the next run"
        )
    assert {a["resource"] for a in deferred} <= set(estate.snapshots(estate.ec2()))

    # The next run (paced) picks up exactly what was deferred.
    later = run(Clients(session, pacer=clock.pacer()))
    assert later["status"] == "succeeded"
    assert later["units"][0]["counts"]["deleted"] == counts["deferred"]
    assert doomed.isdisjoint(estate.snapshots(estate.ec2()))


def test_every_unit_and_thread_of_an_account_and_region_share_one_bucket(clock: SimulatedClock) -> None:
    # Two source regions rotate their copies in one DR region, each unit on its own worker threads: all their
    # deletions there draw on the one DeleteSnapshot bucket of (account, DR region).
    dr = estate.ec2(estate.DR_REGION)
    carrier = estate.volume(dr, "carrier", backup=None)
    for region in (REGION, "us-east-1"):
        source = estate.ec2(region)
        vid = estate.volume(source, f"v-{region}")
        estate.snapshot(source, vid, D0 - timedelta(days=1))
        for day in range(1, 31):
            copy_tags = {
                "devops-tasks:volume-id": vid,
                "devops-tasks:source-snapshot": f"snap-{region}-{day}",
                "devops-tasks:source-region": region,
            }
            estate.seed_snapshots(carrier, [D0 - timedelta(days=day)], region=estate.DR_REGION, extra_tags=copy_tags)
    session = estate.session()
    log = CallLog().attach(session)
    ec2 = TokenBuckets(clock, EC2_DELETE_BUCKET).attach(session)
    policy = ROTATE["policy"] | {"dr": {"region": estate.DR_REGION}}
    report = run(Clients(session, pacer=clock.pacer()), regions=[REGION, "us-east-1"], policy=policy)

    assert report["status"] == "succeeded", report["units"]
    assert sum(u["counts"].get("deleted", 0) for u in report["units"]) == 58
    assert log.operations("ec2")["DeleteSnapshot"] == 58
    assert ec2.throttled["ec2:DeleteSnapshot"] == 0
    # One bucket of burst 10 for both units: 10 deletions went out at once, the other 48 at 5 per second.
    at_once = [t for op, t in ec2.arrivals if op == "ec2:DeleteSnapshot" and t == 0.0]
    assert len(at_once) == 10, at_once
    assert clock.latest >= (58 - 10) / 5
