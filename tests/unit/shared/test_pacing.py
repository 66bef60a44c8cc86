"""Client-side pacing: token buckets per (account, region, operation), shared by threads, on any clock."""

from __future__ import annotations

import threading
import time

import pytest
from botocore.exceptions import ClientError

from shared.errors import InputError
from shared.inputs import TaskSettings, parse_input
from shared.pacing import DEFAULT_RATES, Pacer, Rate, TokenBucket, is_throttling
from tests.faults import SimulatedClock

DELETE = "ec2:DeleteSnapshot"


def conforms(times: list[float], rate: Rate, slack: float = 1e-9) -> bool:
    """No window [a, b] holds more than ``burst + per_second * (b - a)`` of ``times``."""
    ordered = sorted(times)
    for i, start in enumerate(ordered):
        for j in range(i, len(ordered)):
            if j - i + 1 > rate.burst + rate.per_second * (ordered[j] - start) + slack:
                return False
    return True


def test_a_bucket_lets_a_burst_through_then_one_call_per_refill_interval() -> None:
    clock = SimulatedClock()
    pacer = Pacer({DELETE: Rate(per_second=2, burst=3)}, clock=clock.now, sleep=clock.sleep)
    granted = []
    for _ in range(6):
        pacer.wait("111111111111", "eu-west-1", DELETE)
        granted.append(clock.now())
    assert granted == [0.0, 0.0, 0.0, 0.5, 1.0, 1.5]


def test_threads_sharing_a_bucket_never_exceed_its_rate() -> None:
    clock = SimulatedClock()
    rate = Rate(per_second=5, burst=10)
    pacer = Pacer({DELETE: rate}, clock=clock.now, sleep=clock.sleep)
    granted: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            pacer.wait("111111111111", "eu-west-1", DELETE)
            with lock:
                granted.append(clock.now())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 200
    assert conforms(granted, rate)
    assert clock.latest == pytest.approx((200 - 10) / 5)


def test_on_the_real_clock_threads_wait_for_their_turn() -> None:
    rate = Rate(per_second=100, burst=5)
    pacer = Pacer({DELETE: rate})
    granted: list[float] = []
    lock = threading.Lock()
    started = time.monotonic()

    def worker() -> None:
        for _ in range(5):
            pacer.wait("111111111111", "eu-west-1", DELETE)
            with lock:
                granted.append(time.monotonic() - started)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # No call went out before the bucket allowed it: the k-th (from 0) not before (k + 1 - burst) / rate seconds.
    # (A loaded machine only makes threads late, so this holds however busy it is.)
    for k, at in enumerate(sorted(granted)):
        assert at >= (k + 1 - rate.burst) / rate.per_second, (k, at)


def test_accounts_regions_and_operations_each_have_their_own_bucket() -> None:
    clock = SimulatedClock()
    rate = Rate(per_second=1, burst=1)
    pacer = Pacer({DELETE: rate, "ec2:CreateSnapshot": rate}, clock=clock.now, sleep=clock.sleep)
    for account, region, operation in [
        ("111111111111", "eu-west-1", DELETE),
        ("222222222222", "eu-west-1", DELETE),
        ("111111111111", "us-east-1", DELETE),
        ("111111111111", "eu-west-1", "ec2:CreateSnapshot"),
    ]:
        assert pacer.wait(account, region, operation) == 0.0
    assert pacer.wait("111111111111", "eu-west-1", DELETE) == 1.0


def test_operations_without_a_rate_are_not_paced() -> None:
    slept: list[float] = []
    pacer = Pacer({}, clock=lambda: 0.0, sleep=slept.append)
    for _ in range(1000):
        assert pacer.wait("111111111111", "eu-west-1", DELETE) == 0.0
    assert slept == []


def test_an_override_wins_over_the_default_and_a_changed_rate_applies_from_then_on() -> None:
    clock = SimulatedClock()
    pacer = Pacer({DELETE: Rate(per_second=100, burst=100)}, clock=clock.now, sleep=clock.sleep)
    slow = {DELETE: Rate(per_second=1, burst=1)}
    assert pacer.wait("a", "r", DELETE, slow) == 0.0
    assert pacer.wait("a", "r", DELETE, slow) == 1.0
    # Back to the default: the bucket keeps its (empty) state and refills at the default rate.
    assert pacer.wait("a", "r", DELETE) == pytest.approx(0.01)


def test_a_lower_burst_caps_the_tokens_already_in_the_bucket() -> None:
    bucket = TokenBucket(Rate(per_second=1, burst=50), clock=lambda: 0.0)
    bucket.set_rate(Rate(per_second=1, burst=2))
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 1.0]


def test_the_default_rates_stay_within_what_ec2_refills() -> None:
    # EC2's documented buckets: CreateSnapshot and DeleteSnapshot 100 tokens at 5/s, CopySnapshot (a mutating
    # action) 50 at 5/s.
    ec2 = {"ec2:CreateSnapshot": (100, 5), "ec2:DeleteSnapshot": (100, 5), "ec2:CopySnapshot": (50, 5)}
    for name, (capacity, refill) in ec2.items():
        assert DEFAULT_RATES[name].per_second <= refill
        assert DEFAULT_RATES[name].burst <= capacity


def test_rate_limits_in_the_input_are_validated_before_any_call() -> None:
    params = parse_input({"rate_limits": {DELETE: {"per_second": 2, "burst": 4}}}, TaskSettings, env={})
    assert params.rate_limits == {DELETE: Rate(per_second=2, burst=4)}
    assert parse_input({}, TaskSettings, env={}).rate_limits == {}
    for bad, named in [
        ({"ec2:DeleteSnapshots": {"per_second": 2}}, "not an AWS API operation: ec2:DeleteSnapshots"),
        ({"ec3:DeleteSnapshot": {"per_second": 2}}, "not an AWS API operation: ec3:DeleteSnapshot"),
        ({"DeleteSnapshot": {"per_second": 2}}, "not an AWS API operation: DeleteSnapshot"),
        ({DELETE: {"per_second": 0}}, "rate_limits.ec2:DeleteSnapshot.per_second"),
        ({DELETE: {"per_second": 500}}, "rate_limits.ec2:DeleteSnapshot.per_second"),
        ({DELETE: {"per_second": 1, "burst": 0}}, "rate_limits.ec2:DeleteSnapshot.burst"),
        ({DELETE: {"per_second": 1, "burst": 1000}}, "rate_limits.ec2:DeleteSnapshot.burst"),
        ({DELETE: {"per_second": 1, "bursts": 5}}, "rate_limits.ec2:DeleteSnapshot.bursts"),
    ]:
        with pytest.raises(InputError) as caught:
            parse_input({"rate_limits": bad}, TaskSettings, env={})
        assert named in str(caught.value), caught.value


def error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "DeleteSnapshot")


@pytest.mark.parametrize("code", ["RequestLimitExceeded", "Throttling", "ThrottlingException", "SlowDown"])
def test_throttling_is_what_botocore_retries_as_throttling(code: str) -> None:
    assert is_throttling(error(code, 503))


def test_an_unmodelled_429_is_throttling_too() -> None:
    assert is_throttling(error("SomethingNew", 429))


@pytest.mark.parametrize(
    "exc",
    [error("InvalidSnapshot.NotFound"), error("InternalError", 500), error("UnauthorizedOperation", 403), OSError()],
)
def test_other_errors_are_not_throttling(exc: Exception) -> None:
    assert not is_throttling(exc)
