"""Lambda's control-plane rate limit, modelled as AWS applies it (one token bucket per account and region for every
call but invocations, GetFunction and GetPolicy), against the real task: paced, nothing is throttled; unpaced, the
throttled deletions are deferred to the next run, never failed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from moto import mock_aws
from moto.core.models import botocore_stubber

from functions.lambda_housekeeping.task import TASK
from shared.aws import Clients
from shared.runner import execute
from tests.faults import _SCOPE, SimulatedClock, TokenBuckets, answer, simulated_retries
from tests.functional.lambda_housekeeping import estate
from tests.helpers import FakeContext

UNMETERED = {"Invoke", "InvokeAsync", "GetFunction", "GetPolicy"}
LAMBDA_RATE = 15.0
"""Lambda's documented rate for the rest of the control plane, per second; its burst is not documented: one
second's worth is assumed."""


class LambdaControlPlane(TokenBuckets):
    """One bucket per (access key, signing region) for all Lambda control-plane calls together; an attempt without
    a token is answered HTTP 429 ``TooManyRequestsException`` (Lambda's JSON error) and changes nothing.

    The calls let through are answered by moto one at a time: moto's Lambda backend looks a version up by
    iterating the function's list of versions while other threads remove from it, so under concurrent deletions a
    version that exists is now and then answered ResourceNotFoundException. Lambda itself has no such race."""

    _moto = threading.Lock()

    def __init__(self, clock: SimulatedClock) -> None:
        super().__init__(clock, {"lambda": (LAMBDA_RATE, LAMBDA_RATE)})

    def _before_send(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse | None:
        _, service, op = event_name.split(".", 2)
        if service != "lambda":
            return None
        if op in UNMETERED:
            return self._answer(request, event_name)
        auth = request.headers.get("Authorization", b"")
        found = _SCOPE.search(auth.decode() if isinstance(auth, bytes) else auth)
        key = (found.group(1), found.group(2), "lambda") if found else ("", "", "lambda")
        now = self.clock.now()
        with self._lock:
            self.arrivals.append((op, now))
            candidate = sorted([*self._taken.get(key, []), now])
            if self._fits(candidate, LAMBDA_RATE, LAMBDA_RATE):
                self._taken[key] = candidate
                self.passed[op] += 1
            else:
                self.throttled[op] += 1
                return answer(request, "json", 429, "TooManyRequestsException", "Rate exceeded")
        return self._answer(request, event_name)

    def _answer(self, request: AWSPreparedRequest, event_name: str) -> AWSResponse | None:
        with self._moto:
            return botocore_stubber(event_name=event_name, request=request)


@pytest.fixture
def clock() -> Iterator[SimulatedClock]:
    """One simulated clock for the client's pacing, Lambda's bucket and botocore's retry backoff."""
    clock = SimulatedClock()
    with mock_aws(), simulated_retries(clock):
        yield clock


def seed(functions: int = 3, versions: int = 40) -> int:
    """Functions of ``versions`` versions and a layer of 12 versions; how many versions and layer versions go."""
    lam = estate.lam()
    deps = estate.layer(lam, "deps", 12)
    for name in ("api", "worker", "cron", "web", "etl")[:functions]:
        estate.function(lam, name, versions, layers_at={1: [deps[-1]]})
    return functions * (versions - 3) + 9


def run(clients: Clients) -> dict[str, Any]:
    return execute(TASK, {"max_workers": 16}, FakeContext(), clients=clients)


def test_paced_runs_are_never_throttled_by_lambdas_shared_bucket(clock: SimulatedClock) -> None:
    doomed = seed()
    session = estate.session()
    aws = LambdaControlPlane(clock).attach(session)
    report = run(Clients(session, pacer=clock.pacer()))
    unit = report["units"][0]
    assert report["status"] == "succeeded"
    assert unit["failures"] == []
    assert unit["counts"]["deleted"] == doomed
    assert sum(aws.throttled.values()) == 0
    assert estate.versions(estate.lam(), "api") == [38, 39, 40]
    # Deletions at 10 per second after a burst of 5 (versions, then layer versions)
    assert clock.latest >= (3 * 37 - 5) / 10 + (9 - 5) / 10


def test_unpaced_deletions_are_throttled_and_deferred_never_failed(clock: SimulatedClock) -> None:
    doomed = seed(functions=5, versions=80)
    session = estate.session()
    aws = LambdaControlPlane(clock).attach(session)
    report = run(Clients(session, pacer=clock.pacer(defaults={})))
    unit = report["units"][0]
    assert aws.throttled["DeleteFunction"] > 0
    assert unit["failures"] == []
    counts = unit["counts"]
    assert counts.get("deferred", 0) > 0, counts
    assert counts["deleted"] + counts["deferred"] == doomed
    assert [a["resource"] for a in unit["actions"] if a["detail"].get("note") == "already gone"] == []
    assert report["status"] == "incomplete"
    deferred = [a for a in unit["actions"] if a["status"] == "skipped" and a["action"] == "delete"]
    assert {a["detail"]["error_code"] for a in deferred} == {"TooManyRequestsException"}
    assert all(
        a["reason"].endswith("still throttled after botocore's retries; left for the next run") for a in deferred
    )

    later = run(Clients(session, pacer=clock.pacer()))
    assert later["status"] == "succeeded"
    assert later["units"][0]["counts"]["deleted"] == counts["deferred"]
    assert estate.versions(estate.lam(), "worker") == [78, 79, 80]
