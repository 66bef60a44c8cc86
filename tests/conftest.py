"""Fixtures shared by every test suite: fake credentials, in-process moto, moto server, event files."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import freezegun
import pytest
from hypothesis import HealthCheck, settings
from hypothesis._settings import is_in_ci

from cli.moto_s3 import atomic_conditional_writes
from tests.faults import SimulatedClock
from tests.helpers import REGION

# freezegun scans every loaded module when it starts; Powertools' lazy imports would then build pydantic models
# while datetime is patched. Powertools never needs frozen time in our tests.
freezegun.configure(extend_ignore_list=["aws_lambda_powertools"])

# S3 takes a conditional write atomically; moto checks and writes in two steps (cli/moto_s3.py). The fan-out's
# tests deliver one message twice side by side, so its lease and results need S3's behaviour, not moto's.
atomic_conditional_writes()

# Property tests run on shared, often loaded machines (two cores, several test processes): there a strategy that
# draws a few dozen snapshots can take longer than hypothesis's one-second budget for generating inputs, and an
# example longer than its 200 ms deadline, with nothing wrong in either. Neither check says anything about the
# properties, so both are off for every test; the number of examples and the strategies stay as each test says.
# The other health checks (filtering too much, data too large, fixtures reused across examples) stay on.
# The profile builds on the one hypothesis itself picks: "ci" on a CI runner (derandomized, no example database),
# "default" elsewhere.
BASE_PROFILE = "ci" if is_in_ci() else "default"
settings.register_profile(
    "devops-tasks",
    parent=settings.get_profile(BASE_PROFILE),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("devops-tasks")


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region for every test; never the network, never a real profile."""
    for var in list(os.environ):
        if var.startswith(("AWS_", "DEVOPS_TASKS_")):
            monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "DevopsTasks")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")


@pytest.fixture(autouse=True)
def _restore_process_state() -> Iterator[None]:
    """The CLI sets DEVOPS_TASKS_*/POWERTOOLS_* defaults and points the log handlers at the current stderr, as a
    process does once; undo both after each test, so no later test (or module fixture) runs in a dry run or logs
    to a stream that pytest has closed."""
    from shared.observability import logger

    environ = dict(os.environ)
    streams = [(h, h.stream) for h in logger.handlers if isinstance(h, logging.StreamHandler)]
    yield
    os.environ.clear()
    os.environ.update(environ)
    for handler, stream in streams:
        handler.stream = stream


@pytest.fixture
def aws() -> Iterator[None]:
    """In-process moto for the test."""
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    from cli.moto_lambda import teach_moto

    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    teach_moto()  # the Lambda calls moto lacks, before the server's first Lambda request builds its routes
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_server(_moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """moto server over HTTP, reset for the test; boto3 reaches it through ``AWS_ENDPOINT_URL``."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{_moto_server}/moto-api/reset", method="POST")).read()
    monkeypatch.setenv("AWS_ENDPOINT_URL", _moto_server)
    return _moto_server


@pytest.fixture(autouse=True)
def sim_clock(monkeypatch: pytest.MonkeyPatch) -> SimulatedClock:
    """Every test gets its own process-wide pacer, on simulated time: pacing waits cost no wall time, and no token
    bucket carries over from another test. Returns the clock (tests that pace on purpose advance and read it)."""
    clock = SimulatedClock()
    monkeypatch.setattr("shared.pacing._default", clock.pacer())
    return clock
