"""promote and move under moto: content, metadata, tags, manifest, deletions, idempotent re-runs, conflicts."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from functions.artefact_mover.handler import handler
from functions.artefact_mover.task import TASK
from shared.aws import Clients
from shared.errors import InputError, RunFailed
from shared.runner import execute
from tests.faults import CallLog
from tests.functional.artefact_mover.conftest import Estate
from tests.helpers import REGION, FakeContext


def failures(exc: RunFailed) -> list[dict[str, Any]]:
    return [f for unit in exc.report["units"] for f in unit["failures"]]


def run(payload: dict[str, Any], log: CallLog | None = None) -> dict[str, Any]:
    session = boto3.Session(region_name=REGION)
    if log is not None:
        log.attach(session)
    return execute(TASK, payload, FakeContext(), clients=Clients(session), env={})


def test_promote_copies_a_build_keeping_everything_and_writes_a_manifest(estate: Estate) -> None:
    estate.bucket("builds-bkt")
    estate.bucket("releases-bkt")
    files = estate.build("builds-bkt", "builds/web/41/", big=True)

    report = handler(
        {
            "bucket": "builds-bkt",
            "release_bucket": "releases-bkt",
            "project": "web",
            "build": "41",
            "version": "1.4.0",
            "multipart_threshold_mb": 8,
            "part_size_mb": 5,
        },
        FakeContext(),
    )

    assert report["status"] == "succeeded"
    assert estate.keys("builds-bkt") == set(files)
    released = {k.replace("builds/web/41/", "releases/web/1.4.0/"): v for k, v in files.items()}
    assert estate.keys("releases-bkt") == set(released) | {"releases/web/1.4.0/release-manifest.json"}
    for key, body in released.items():
        assert estate.body("releases-bkt", key) == body
        head = estate.s3.head_object(Bucket="releases-bkt", Key=key)
        if key.endswith("disk.img"):
            assert (head["ContentType"], head["CacheControl"]) == ("application/octet-stream", "no-cache")
            assert head["Metadata"] == {"build-by": "ci"}
            assert estate.tags("releases-bkt", key) == {"team": "platform", "size": "big"}
            assert head["ETag"].endswith('-3"')
        else:
            assert (head["ContentType"], head["CacheControl"], head["ContentDisposition"]) == (
                "application/x-test",
                "max-age=60",
                "attachment",
            )
            assert head["Metadata"] == {"build-by": "ci", "commit": "abc123"}
            assert estate.tags("releases-bkt", key) == {"team": "platform", "keep": "yes"}
    manifest = json.loads(estate.body("releases-bkt", "releases/web/1.4.0/release-manifest.json"))
    assert manifest["source"] == "s3://builds-bkt/builds/web/41/"
    assert manifest["destination"] == "s3://releases-bkt/releases/web/1.4.0/"
    entries = {e["key"]: e for e in manifest["objects"]}
    assert set(entries) == {k.removeprefix("builds/web/41/") for k in files}
    assert entries["docs/read me+notes.txt"] == {
        "key": "docs/read me+notes.txt",
        "size": 5,
        "checksum": entries["docs/read me+notes.txt"]["checksum"],
        "source": "s3://builds-bkt/builds/web/41/docs/read me+notes.txt",
    }
    assert all(e["checksum"].split(":")[0] in ("crc32", "md5", "etag", "sha256") for e in entries.values())
    totals = report["units"][0]["counts"]
    assert totals["copied"] == len(files)
    assert totals["manifests"] == 1


def test_move_deletes_sources_in_one_batch_after_verifying_every_copy(estate: Estate) -> None:
    estate.bucket("art-bkt")
    files = estate.build("art-bkt", "builds/api/7/", big=True)
    log = CallLog()

    report = run(
        {
            "operation": "move",
            "bucket": "art-bkt",
            "project": "api",
            "build": "7",
            "version": "2.0",
            "multipart_threshold_mb": 8,
            "part_size_mb": 5,
        },
        log,
    )

    assert report["status"] == "succeeded"
    assert estate.keys("art-bkt", "builds/") == set()
    for key, body in files.items():
        assert estate.body("art-bkt", key.replace("builds/api/7/", "releases/api/2.0/")) == body
    ops = log.operations("s3")
    assert ops["DeleteObjects"] == 1
    assert ops["DeleteObject"] == 0
    assert ops["CopyObject"] == len(files) - 1
    assert ops["UploadPartCopy"] == 3


def test_move_from_a_versioned_bucket_hides_the_verified_objects_and_keeps_their_versions(estate: Estate) -> None:
    estate.bucket("ver-bkt", versioned=True)
    estate.bucket("rel-bkt")
    files = estate.build("ver-bkt", "builds/api/8/")
    log = CallLog()

    run({"operation": "move", "source": "s3://ver-bkt/builds/api/8/", "destination": "s3://rel-bkt/api/8/"}, log)

    assert estate.keys("ver-bkt") == set()
    versions = estate.s3.list_object_versions(Bucket="ver-bkt")
    assert {v["Key"] for v in versions["Versions"]} == set(files)  # recoverable until the lifecycle expires them
    assert {m["Key"] for m in versions["DeleteMarkers"] if m["IsLatest"]} == set(files)
    (deletion,) = [p for _, op, p in log.calls if op == "DeleteObjects"]
    assert all(set(o) == {"Key", "ETag"} for o in deletion["Delete"]["Objects"])
    assert len(deletion["Delete"]["Objects"]) == len(files)


def test_rerunning_a_promote_copies_nothing_and_a_finished_move_is_done(estate: Estate) -> None:
    estate.bucket("art-bkt")
    files = estate.build("art-bkt", "builds/web/9/")
    payload = {"bucket": "art-bkt", "project": "web", "build": "9", "version": "3"}
    run(payload)
    log = CallLog()

    again = run(payload, log)

    assert again["units"][0]["counts"]["already_there"] == len(files)
    assert log.operations("s3")["CopyObject"] == 0
    moved = run(payload | {"operation": "move"})
    assert moved["units"][0]["counts"]["deleted"] == len(files)
    done = run(payload | {"operation": "move"})
    assert done["status"] == "succeeded"
    assert done["units"][0]["counts"]["already_done"] == 1


def test_a_different_object_at_the_destination_is_not_replaced_unless_asked(estate: Estate) -> None:
    estate.bucket("art-bkt")
    estate.build("art-bkt", "builds/web/5/")
    estate.s3.put_object(Bucket="art-bkt", Key="releases/web/5/app.zip", Body=b"someone else's release")
    payload = {"operation": "move", "bucket": "art-bkt", "project": "web", "build": "5", "version": "5"}

    with pytest.raises(RunFailed) as failed:
        run(payload)

    assert "different object" in failures(failed.value)[0]["message"]
    assert "builds/web/5/app.zip" in estate.keys("art-bkt")
    assert estate.body("art-bkt", "releases/web/5/app.zip") == b"someone else's release"
    run(payload | {"on_conflict": "overwrite"})
    assert estate.body("art-bkt", "releases/web/5/app.zip") == b"zip" * 3000
    assert estate.keys("art-bkt", "builds/") == set()


def test_dry_run_plans_without_copying(estate: Estate) -> None:
    estate.bucket("art-bkt")
    files = estate.build("art-bkt", "builds/web/1/")
    report = run(
        {"operation": "move", "bucket": "art-bkt", "project": "web", "build": "1", "version": "1", "dry_run": True}
    )
    counts = report["units"][0]["counts"]
    assert counts == {"copy_planned": len(files), "delete_planned": len(files)}
    assert estate.keys("art-bkt") == set(files)


def test_storage_class_and_kms_key_apply_to_the_copies(estate: Estate) -> None:
    estate.bucket("art-bkt")
    estate.build("art-bkt", "builds/web/2/")
    run({"bucket": "art-bkt", "project": "web", "build": "2", "version": "2", "storage_class": "STANDARD_IA"})
    head = estate.s3.head_object(Bucket="art-bkt", Key="releases/web/2/app.zip")
    assert head["StorageClass"] == "STANDARD_IA"


@pytest.mark.parametrize(
    "payload",
    [
        {"operation": "move", "source": "s3://art-bkt/builds/web/1/", "destination": "s3://ART-BKT/builds/web/1"},
        {"operation": "move", "source": "arn:aws:s3:::art-bkt/builds/", "destination": "art-bkt/builds/web/"},
        {
            "operation": "move",
            "bucket": "art-bkt",
            "project": "web",
            "build": "1",
            "destination": {"bucket": "art-bkt", "prefix": "builds/web/1/"},
        },
    ],
)
def test_moving_onto_itself_is_refused_before_any_call(estate: Estate, payload: dict[str, Any]) -> None:
    estate.bucket("art-bkt")
    files = estate.build("art-bkt", "builds/web/1/")
    log = CallLog()
    with pytest.raises(InputError, match="onto themselves"):
        run(payload, log)
    assert log.calls == []
    assert estate.keys("art-bkt") == set(files)


def test_an_empty_source_without_a_release_is_a_failure(estate: Estate) -> None:
    estate.bucket("art-bkt")
    with pytest.raises(RunFailed) as failed:
        run({"bucket": "art-bkt", "project": "web", "build": "404", "version": "1"})
    assert failures(failed.value)[0]["message"] == "no objects under s3://art-bkt/builds/web/404/"
