"""Every client that shared.aws.Clients makes is paced, with the run's rates, in its own account and region."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from shared.aws import Clients
from shared.inputs import TaskSettings
from shared.pacing import Rate
from shared.runner import Task, execute
from tests.faults import SimulatedClock
from tests.helpers import REGION

DELETE = "ec2:DeleteSnapshot"


def delete_missing(ec2: Any, n: int) -> None:
    """``n`` DeleteSnapshot calls (of snapshots that do not exist: each is one HTTP attempt, answered NotFound)."""
    for i in range(n):
        with pytest.raises(ClientError):
            ec2.delete_snapshot(SnapshotId=f"snap-{i:017x}")


def test_mutating_calls_of_a_client_wait_for_the_default_rate(aws: None) -> None:
    clock = SimulatedClock()
    clients = Clients(boto3.Session(region_name=REGION), pacer=clock.pacer())
    delete_missing(clients.client("ec2", REGION), 30)
    assert clock.latest == pytest.approx((30 - 10) / 5)


def test_reads_are_not_paced(aws: None) -> None:
    clock = SimulatedClock()
    clients = Clients(boto3.Session(region_name=REGION), pacer=clock.pacer())
    ec2 = clients.client("ec2", REGION)
    for _ in range(50):
        ec2.describe_snapshots(OwnerIds=["self"], MaxResults=5)
    assert clock.latest == 0.0


def test_the_runs_rates_apply_to_clients_made_before_and_after_and_to_assumed_accounts(aws: None) -> None:
    clock = SimulatedClock()
    clients = Clients(boto3.Session(region_name=REGION), pacer=clock.pacer())
    early = clients.client("ec2", REGION)
    clients.pace({DELETE: Rate(per_second=1, burst=2)})
    delete_missing(early, 4)
    assert clock.latest == pytest.approx(2.0)

    # Another account has its own bucket at the same run's rate: two at once, then one a second (2.0 -> 4.0).
    # Sharing the first account's, still empty, they would end at 6.0.
    other = clients.assume("arn:aws:iam::111111111111:role/member", region=REGION)
    delete_missing(other.client("ec2", REGION), 4)
    assert clock.latest == pytest.approx(4.0)


def test_execute_applies_the_inputs_rate_limits(aws: None) -> None:
    clock = SimulatedClock()
    clients = Clients(boto3.Session(region_name=REGION), pacer=clock.pacer())

    def work(params: Any, unit: Any, result: Any, ctx: Any) -> None:
        delete_missing(unit.client("ec2"), 5)

    task = Task(name="pacing-probe", params_model=TaskSettings, work=work)
    execute(task, {"rate_limits": {DELETE: {"per_second": 0.5, "burst": 1}}}, clients=clients)
    assert clock.latest == pytest.approx(8.0)
    # The next run, without the input, is back at the default 5 per second (the bucket is still empty).
    execute(task, {}, clients=clients)
    assert clock.latest == pytest.approx(8.0 + 5 / 5)
