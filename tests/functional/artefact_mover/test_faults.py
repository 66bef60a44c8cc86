"""Injected failures at every step of a move never lose an object, and a re-run finishes the job."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import boto3
import pytest

from functions.artefact_mover import execute as execute_module
from functions.artefact_mover.task import TASK
from shared.aws import Clients
from shared.errors import RunFailed
from shared.runner import execute
from tests.faults import CallLog, Crash, CrashAfter, ErrorOn, is_mutating
from tests.functional.artefact_mover.conftest import Corrupt, Estate
from tests.helpers import REGION, FakeContext

MOVE = {
    "operation": "move",
    "bucket": "art-bkt",
    "project": "web",
    "build": "12",
    "version": "1.2",
    "object_workers": 1,
    "multipart_threshold_mb": 8,
    "part_size_mb": 5,
}
SRC, DST = "builds/web/12/", "releases/web/12/".replace("12/", "1.2/")


def run(payload: dict[str, Any], *hooks: Any) -> dict[str, Any]:
    session = boto3.Session(region_name=REGION)
    for hook in hooks:
        hook.attach(session)
    return execute(TASK, payload, FakeContext(), clients=Clients(session), env={})


def assert_nothing_lost(estate: Estate, files: dict[str, bytes]) -> None:
    """Every object is at its source, or at its destination with the same content (or both)."""
    sources, dests = estate.keys("art-bkt", SRC), estate.keys("art-bkt", DST)
    for key, body in files.items():
        dest = DST + key[len(SRC) :]
        assert key in sources or (dest in dests and estate.body("art-bkt", dest) == body), key


def assert_moved(estate: Estate, files: dict[str, bytes]) -> None:
    assert estate.keys("art-bkt", SRC) == set()
    for key, body in files.items():
        assert estate.body("art-bkt", DST + key[len(SRC) :]) == body
    manifest = json.loads(estate.body("art-bkt", DST + "release-manifest.json"))
    assert sorted(e["key"] for e in manifest["objects"]) == sorted(k[len(SRC) :] for k in files)


# 4 CopyObject, the manifest's PutObject, one DeleteObjects: a crash before each, and after the last.
@pytest.mark.parametrize("k", range(7))
def test_a_crash_after_any_number_of_writes_loses_nothing_and_a_rerun_finishes(estate: Estate, k: int) -> None:
    estate.bucket("art-bkt")
    files = estate.build("art-bkt", SRC)

    crash = CrashAfter(k, services=frozenset({"s3"}))
    log = CallLog()
    with contextlib.suppress(Crash):
        run(MOVE, crash, log)
    writes = [op for svc, op, _ in log.calls if svc == "s3" and is_mutating(op)]
    assert crash.crashed == (k < 6), (k, writes)
    assert writes[: min(k, 6)] == (["CopyObject"] * 4 + ["PutObject", "DeleteObjects"])[:k], writes
    assert_nothing_lost(estate, files)

    report = run(MOVE)
    assert report["status"] == "succeeded"
    assert_moved(estate, files)


def _fail_verification_read(quick: bool) -> ErrorOn:
    """The read that verifies copies fails: the destination listing (quick path) or a copy's HEAD (full path)."""
    listings: list[int] = []

    def when(op: str, p: dict[str, Any]) -> bool:
        if quick and op == "ListObjectsV2" and p.get("Prefix") == DST:
            listings.append(1)
            return len(listings) == 2  # the first lists what is already there, the second verifies the copies
        return not quick and op == "HeadObject" and p["Key"] == DST + "app.zip"

    return ErrorOn(when, "InternalError", status=500)


@pytest.mark.parametrize("quick", [True, False])
def test_a_failed_verification_read_keeps_the_source_and_a_rerun_finishes(estate: Estate, quick: bool) -> None:
    estate.bucket("art-bkt")
    files = estate.build("art-bkt", SRC)
    payload = MOVE | {"head_every_object": not quick}

    with pytest.raises(RunFailed):
        run(payload, _fail_verification_read(quick))

    assert estate.keys("art-bkt", SRC) == set(files)
    assert run(payload)["status"] == "succeeded"
    assert_moved(estate, files)


def test_a_failed_delete_after_verification_keeps_sources_and_a_rerun_deletes_them(estate: Estate) -> None:
    estate.bucket("art-bkt")
    files = estate.build("art-bkt", SRC)

    with pytest.raises(RunFailed):
        run(MOVE, ErrorOn(lambda op, p: op == "DeleteObjects", "InternalError", status=500))

    assert estate.keys("art-bkt", SRC) == set(files)
    log_free = run(MOVE)
    assert log_free["units"][0]["counts"]["already_there"] == len(files)
    assert_moved(estate, files)


def test_a_delete_failing_midway_leaves_the_rest_for_the_rerun(estate: Estate, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execute_module, "DELETE_BATCH", 2)
    estate.bucket("art-bkt")
    files = estate.build("art-bkt", SRC)
    calls: list[int] = []

    def second_batch(op: str, params: dict[str, Any]) -> bool:
        if op != "DeleteObjects":
            return False
        calls.append(1)
        return len(calls) == 2

    with pytest.raises(RunFailed):
        run(MOVE, ErrorOn(second_batch, "SlowDown", status=503))

    assert len(estate.keys("art-bkt", SRC)) == 2
    assert_nothing_lost(estate, files)
    assert run(MOVE)["status"] == "succeeded"
    assert_moved(estate, files)


@pytest.mark.parametrize("quick", [True, False])
def test_a_checksum_mismatch_keeps_the_source_removes_the_copy_and_fails(estate: Estate, quick: bool) -> None:
    estate.bucket("art-bkt")
    files = estate.build("art-bkt", SRC)
    corrupt = Corrupt("lib/core.jar")
    session = boto3.Session(region_name=REGION)
    CallLog().attach(session)  # keeps each call's parameters where Corrupt reads them
    corrupt.attach(session)

    with pytest.raises(RunFailed) as failed:
        execute(TASK, MOVE | {"head_every_object": not quick}, FakeContext(), clients=Clients(session), env={})

    (failure,) = [f for u in failed.value.report["units"] for f in u["failures"]]
    assert failure["operation"] == "verify"
    assert "does not match" in failure["message"]
    assert estate.keys("art-bkt", SRC) == set(files)
    assert DST + "lib/core.jar" not in estate.keys("art-bkt", DST)
    assert DST + "release-manifest.json" not in estate.keys("art-bkt", DST)
    assert run(MOVE)["status"] == "succeeded"
    assert_moved(estate, files)


def test_a_failing_multipart_copy_keeps_the_source_and_a_rerun_finishes(estate: Estate) -> None:
    estate.bucket("art-bkt")
    files = estate.build("art-bkt", SRC, big=True)

    with pytest.raises(RunFailed):
        run(
            MOVE,
            ErrorOn(lambda op, p: op == "UploadPartCopy" and p.get("PartNumber") == 2, "InternalError", status=500),
        )

    assert estate.keys("art-bkt", SRC) == set(files)
    assert run(MOVE)["status"] == "succeeded"
    assert_moved(estate, files)


class Countdown(FakeContext):
    """A Lambda context whose remaining time runs out after ``calls`` looks at it."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls = calls

    def get_remaining_time_in_millis(self) -> int:
        self.calls -= 1
        return 900_000 if self.calls >= 0 else 1_000


def test_a_run_out_of_time_keeps_every_source_and_the_next_run_continues(estate: Estate) -> None:
    estate.bucket("art-bkt")
    files = estate.build("art-bkt", SRC)
    session = boto3.Session(region_name=REGION)

    report = execute(TASK, MOVE, Countdown(4), clients=Clients(session), env={})

    assert report["status"] == "incomplete"
    counts = report["units"][0]["counts"]
    assert counts["deferred"] >= 1
    assert "deleted" not in counts
    assert estate.keys("art-bkt", SRC) == set(files)
    assert DST + "release-manifest.json" not in estate.keys("art-bkt", DST)
    assert run(MOVE)["status"] == "succeeded"
    assert_moved(estate, files)


def test_retain_without_a_bucket_fails_naming_it(estate: Estate) -> None:
    with pytest.raises(RunFailed) as failed:
        run({"operation": "retain"})
    (failure,) = [f for u in failed.value.report["units"] for f in u["failures"]]
    assert failure["error_code"] == "InputError"
    assert "retain needs bucket" in failure["message"]
