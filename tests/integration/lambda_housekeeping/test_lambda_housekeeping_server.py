"""Lambda housekeeping against moto server over HTTP: the handler as in production but for the endpoint, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from cli.moto_lambda import teach_moto
from functions.lambda_housekeeping.handler import handler
from tests.functional.lambda_housekeeping import estate
from tests.helpers import ROOT, FakeContext

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def _server() -> Iterator[str]:
    """A moto server of our own, taught the missing Lambda calls before its first Lambda request."""
    from moto.server import ThreadedMotoServer

    teach_moto()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def endpoint(_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    urllib.request.urlopen(urllib.request.Request(f"{_server}/moto-api/reset", method="POST")).read()
    monkeypatch.setenv("AWS_ENDPOINT_URL", _server)
    return _server


def seed() -> Any:
    lam = boto3.client("lambda", region_name="eu-west-1")
    deps = estate.layer(lam, "deps", 5)
    estate.function(lam, "api", 15, layers_at={1: [deps[0]]})
    estate.function(lam, "worker", 15)
    estate.alias(lam, "api", "live", "14", {"9": 0.2})
    estate.mapping(lam, "worker:4")
    estate.provisioned(lam, "api", "6")
    return lam


def test_a_run_over_http_prunes_keeps_what_is_in_use_and_writes_the_report(endpoint: str) -> None:
    lam = seed()
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="reports", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    report = handler({"report_bucket": "reports"}, FakeContext())
    assert report["status"] == "succeeded"
    assert estate.versions(lam, "api") == [6, 9, 13, 14, 15]
    assert estate.versions(lam, "worker") == [4, 13, 14, 15]
    assert estate.layer_versions(lam, "deps") == [1, 3, 4, 5]
    assert report["units"][0]["counts"]["deleted"] == 10 + 11 + 1
    stored = json.loads(
        s3.get_object(Bucket="reports", Key=report["location"].removeprefix("s3://reports/"))["Body"].read()
    )
    assert stored["run_id"] == report["run_id"]
    assert "of 75.0 GiB" in stored["notes"][0]


def test_the_cli_plans_the_schedule_input_against_the_endpoint_and_changes_nothing(endpoint: str) -> None:
    lam = seed()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS")} | {"COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "invoke", "lambda-housekeeping", "--dry-run", "--json",
         "--region", "eu-west-1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["dry_run"] is True
    assert report["units"][0]["counts"]["delete_planned"] == 22
    assert estate.versions(lam, "api") == list(range(1, 16))
