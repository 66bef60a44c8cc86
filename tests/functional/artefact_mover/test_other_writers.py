"""Other writers at the destination and at the source while a move runs: we never delete or hide their objects.

moto ignores ``CopySourceIfMatch``, ``IfNoneMatch`` on CopyObject and the ETag condition of DeleteObjects:
:class:`S3Conditions` holds it to them as S3 does, so these tests fail if the code stops sending a condition.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from functions.artefact_mover.task import TASK
from shared.aws import Clients
from shared.errors import RunFailed
from shared.runner import execute
from tests.faults import CallLog
from tests.functional.artefact_mover.conftest import Corrupt, Estate, OtherWriter, S3Conditions
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
SRC, DST = "builds/web/12/", "releases/web/1.2/"


def run(payload: dict[str, Any], *hooks: Any) -> dict[str, Any]:
    session = boto3.Session(region_name=REGION)
    for hook in hooks:
        hook.attach(session)
    return execute(TASK, payload, FakeContext(), clients=Clients(session), env={})


def failures(exc: RunFailed) -> list[dict[str, Any]]:
    return [f for unit in exc.report["units"] for f in unit["failures"]]


# -- the destination --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("versioned", [True, False])
def test_an_object_another_writer_puts_over_our_quick_copy_is_theirs_and_its_source_stays(
    estate: Estate, versioned: bool
) -> None:
    estate.bucket("art-bkt", versioned=versioned)
    files = estate.build("art-bkt", SRC)
    other = OtherWriter("CopyObject", DST + "app.zip")

    with pytest.raises(RunFailed) as failed:
        run(MOVE, S3Conditions(), other)

    (failure,) = failures(failed.value)
    assert failure["resource"] == f"s3://art-bkt/{SRC}app.zip"
    assert "another writer" in failure["message"]
    assert estate.body("art-bkt", DST + "app.zip") == other.body
    assert estate.keys("art-bkt", SRC) == set(files)
    assert DST + "release-manifest.json" not in estate.keys("art-bkt", DST)


@pytest.mark.parametrize("versioned", [True, False])
def test_an_object_another_writer_puts_over_our_multipart_copy_is_neither_deleted_nor_tagged(
    estate: Estate, versioned: bool
) -> None:
    estate.bucket("art-bkt", versioned=versioned)
    files = estate.build("art-bkt", SRC, big=True)
    other = OtherWriter("CompleteMultipartUpload", DST + "images/disk.img")

    with pytest.raises(RunFailed) as failed:
        run(MOVE, S3Conditions(), other)

    (failure,) = failures(failed.value)
    assert failure["resource"] == f"s3://art-bkt/{SRC}images/disk.img"
    assert "another writer" in failure["message"]
    assert estate.body("art-bkt", DST + "images/disk.img") == other.body
    assert estate.tags("art-bkt", DST + "images/disk.img") == {}
    assert estate.keys("art-bkt", SRC) == set(files)


@pytest.mark.parametrize("quick", [True, False])
def test_an_object_another_writer_creates_before_our_copy_is_not_overwritten(estate: Estate, quick: bool) -> None:
    estate.bucket("art-bkt", versioned=True)
    files = estate.build("art-bkt", SRC)
    other = OtherWriter("ListObjectsV2", DST + "app.zip", after=DST)  # right after we saw nothing there

    with pytest.raises(RunFailed) as failed:
        run(MOVE | {"head_every_object": not quick}, S3Conditions(), other)

    (failure,) = failures(failed.value)
    assert failure["resource"] == f"s3://art-bkt/{SRC}app.zip"
    assert "another writer" in failure["message"]
    versions = estate.s3.list_object_versions(Bucket="art-bkt", Prefix=DST + "app.zip")["Versions"]
    assert len(versions) == 1  # theirs only: our copy was refused, not written over it
    assert estate.body("art-bkt", DST + "app.zip") == other.body
    assert estate.keys("art-bkt", SRC) == set(files)


def test_a_bad_copy_is_removed_only_while_it_is_ours(estate: Estate) -> None:
    """Our copy does not verify, and another writer replaces it between our check and our removal."""
    estate.bucket("art-bkt")
    files = estate.build("art-bkt", SRC)
    other = OtherWriter("HeadObject", DST + "lib/core.jar")  # right after we HEAD our (corrupt) copy

    with pytest.raises(RunFailed) as failed:
        run(MOVE, S3Conditions(), Corrupt("lib/core.jar"), other)

    (failure,) = failures(failed.value)
    assert "does not match" in failure["message"]
    assert estate.body("art-bkt", DST + "lib/core.jar") == other.body
    assert estate.keys("art-bkt", SRC) == set(files)


def test_a_multipart_copy_tags_and_verifies_the_version_it_wrote(estate: Estate) -> None:
    estate.bucket("art-bkt", versioned=True)
    estate.build("art-bkt", SRC, big=True)
    log = CallLog()
    written: list[str] = []
    session = boto3.Session(region_name=REGION)
    log.attach(session)

    def complete(parsed: dict[str, Any], **_: Any) -> None:
        written.append(parsed["VersionId"])

    session.events.register("after-call.s3.CompleteMultipartUpload", complete)
    report = execute(TASK, MOVE, FakeContext(), clients=Clients(session), env={})

    assert report["status"] == "succeeded"
    (version,) = written
    key = DST + "images/disk.img"
    (tagging,) = [p for _, op, p in log.calls if op == "PutObjectTagging"]
    assert (tagging["Key"], tagging["VersionId"]) == (key, version)
    heads = [p for _, op, p in log.calls if op == "HeadObject" and p["Key"] == key]
    assert heads
    assert all(p.get("VersionId") == version for p in heads)


# -- the source -------------------------------------------------------------------------------------------------


def test_a_move_from_a_versioned_source_never_brings_an_older_version_back(estate: Estate) -> None:
    estate.bucket("art-bkt", versioned=True)
    estate.s3.put_object(Bucket="art-bkt", Key=SRC + "app.zip", Body=b"an older upload of the build")
    files = estate.build("art-bkt", SRC)

    assert run(MOVE, S3Conditions())["status"] == "succeeded"

    assert estate.keys("art-bkt", SRC) == set()
    again = run(MOVE | {"on_conflict": "overwrite"}, S3Conditions())  # a redelivery of the same marker
    assert again["status"] == "succeeded"
    assert again["units"][0]["counts"] == {"already_done": 1}
    assert estate.body("art-bkt", DST + "app.zip") == files[SRC + "app.zip"]


@pytest.mark.parametrize("quick", [True, False])
def test_an_object_re_uploaded_after_the_listing_is_refused_and_kept(estate: Estate, quick: bool) -> None:
    estate.bucket("art-bkt", versioned=True)
    files = estate.build("art-bkt", SRC)
    payload = MOVE | {"head_every_object": not quick}
    other = OtherWriter("ListObjectsV2", SRC + "app.zip", b"rebuilt", after=SRC)

    with pytest.raises(RunFailed) as failed:
        run(payload, S3Conditions(), other)

    (failure,) = failures(failed.value)
    assert failure["resource"] == f"s3://art-bkt/{SRC}app.zip"
    assert "changed since it was listed" in failure["message"]
    assert estate.keys("art-bkt", SRC) == set(files)
    assert estate.body("art-bkt", SRC + "app.zip") == b"rebuilt"
    assert DST + "app.zip" not in estate.keys("art-bkt", DST)
    assert run(payload, S3Conditions())["status"] == "succeeded"
    assert estate.body("art-bkt", DST + "app.zip") == b"rebuilt"


def test_an_object_re_uploaded_after_its_verification_is_not_deleted(estate: Estate) -> None:
    estate.bucket("art-bkt", versioned=True)
    files = estate.build("art-bkt", SRC)
    other = OtherWriter("PutObject", SRC + "app.zip", b"rebuilt", after=DST + "release-manifest.json")
    conditions = S3Conditions()

    with pytest.raises(RunFailed) as failed:
        run(MOVE, conditions, other)

    (failure,) = failures(failed.value)
    assert (failure["operation"], failure["resource"]) == ("delete", f"s3://art-bkt/{SRC}app.zip")
    assert estate.keys("art-bkt", SRC) == {SRC + "app.zip"}
    assert estate.body("art-bkt", SRC + "app.zip") == b"rebuilt"
    (deletion,) = [p for op, p in conditions.calls if op == "DeleteObjects"]
    objects = deletion["Delete"]["Objects"]
    assert len(objects) == len(files)
    assert all(set(o) == {"Key", "ETag"} for o in objects)  # conditional on what was verified; no VersionId


# -- the release manifest ---------------------------------------------------------------------------------------

THEIRS = {"objects": [{"key": "other.txt", "size": 1, "checksum": "md5:0", "source": "s3://else/other.txt"}]}


class ManifestWriter:
    """Another promote into the same release: right after we read the manifest, it writes its own."""

    def __init__(self, key: str, times: int = 1) -> None:
        self.key, self.times = key, times
        self.s3 = boto3.client("s3", region_name=REGION)

    def attach(self, session: boto3.Session) -> ManifestWriter:
        session.events.register("after-call.s3.GetObject", self._after)
        return self

    def _after(self, context: dict[str, Any] | None = None, **_: Any) -> None:
        if self.times and (context or {}).get("tests.faults.api_params", {}).get("Key") == self.key:
            self.times -= 1
            doc = THEIRS | {"updated_at": str(self.times)}  # every write another object (another ETag)
            self.s3.put_object(Bucket="art-bkt", Key=self.key, Body=json.dumps(doc).encode())


@pytest.mark.parametrize("first", [True, False])
def test_a_manifest_written_meanwhile_by_another_promote_keeps_its_entries(estate: Estate, first: bool) -> None:
    estate.bucket("art-bkt")
    files = estate.build("art-bkt", SRC)
    if not first:
        estate.s3.put_object(Bucket="art-bkt", Key=DST + "release-manifest.json", Body=b'{"objects": []}')
    promote = MOVE | {"operation": "promote"}

    report = run(promote, CallLog(), ManifestWriter(DST + "release-manifest.json"))

    assert report["status"] == "succeeded"
    manifest = json.loads(estate.body("art-bkt", DST + "release-manifest.json"))
    keys = {e["key"] for e in manifest["objects"]}
    assert keys == {k[len(SRC) :] for k in files} | {"other.txt"}


def test_a_manifest_that_keeps_changing_fails_the_run_and_keeps_the_sources(estate: Estate) -> None:
    estate.bucket("art-bkt")
    files = estate.build("art-bkt", SRC)

    with pytest.raises(RunFailed) as failed:
        run(MOVE, CallLog(), ManifestWriter(DST + "release-manifest.json", times=100))

    (failure,) = failures(failed.value)
    assert failure["operation"] == "manifest"
    assert "changed by another writer" in failure["message"]
    assert estate.keys("art-bkt", SRC) == set(files)
    assert json.loads(estate.body("art-bkt", DST + "release-manifest.json"))["objects"] == THEIRS["objects"]
