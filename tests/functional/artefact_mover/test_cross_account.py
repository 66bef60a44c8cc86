"""promote and move to a bucket of another account through ``destination_role_arn`` (STS AssumeRole) under moto.

The function's own account (A) holds the builds; account B's bucket is created with B's assumed credentials, so it
lives in B's own moto state. Every call made with B's credentials is logged apart, which shows that the copies, their
verification and the manifest go through the assumed role while the sources are read and deleted with A's.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import boto3
import pytest

from functions.artefact_mover.task import TASK
from shared import aws as shared_aws
from shared.aws import Clients
from shared.errors import RunFailed
from shared.runner import execute
from tests.faults import CallLog, ErrorOn, is_mutating
from tests.functional.artefact_mover.conftest import Estate
from tests.helpers import REGION, FakeContext

ACCOUNT_A = "123456789012"  # moto's default account: the function's own
ACCOUNT_B = "222233334444"
ROLE_B = f"arn:aws:iam::{ACCOUNT_B}:role/devops-tasks-artefacts"
SRC, DST = "builds/web/41/", "releases/web/1.4.0/"
PROMOTE = {
    "operation": "promote",
    "source": f"s3://builds-a/{SRC}",
    "destination": f"s3://releases-b/{DST}",
    "destination_role_arn": ROLE_B,
    "multipart_threshold_mb": 8,
    "part_size_mb": 5,
}


class Accounts:
    """Account A's estate, account B's estate (through B's assumed role), and logs of the runs' calls."""

    def __init__(self, a: Estate) -> None:
        self.a = a
        creds = boto3.client("sts", region_name=REGION).assume_role(RoleArn=ROLE_B, RoleSessionName="setup")
        c = creds["Credentials"]
        self.b = Estate(
            boto3.client(
                "s3",
                region_name=REGION,
                aws_access_key_id=c["AccessKeyId"],
                aws_secret_access_key=c["SecretAccessKey"],
                aws_session_token=c["SessionToken"],
            )
        )
        self.calls = CallLog()  # every call of a run, in order
        self.as_b = CallLog()  # the calls made with B's assumed credentials
        self.b_hooks: list[Any] = []  # faults for the sessions of B's assumed role

    def run(self, payload: dict[str, Any], *hooks: Any) -> dict[str, Any]:
        session = boto3.Session(region_name=REGION)
        for hook in (self.calls, *hooks):
            hook.attach(session)
        return execute(TASK, payload, FakeContext(), clients=Clients(session), env={})


@pytest.fixture
def accounts(estate: Estate, monkeypatch: pytest.MonkeyPatch) -> Accounts:
    found = Accounts(estate)
    real = shared_aws.new_session

    def logged(**kwargs: Any) -> boto3.Session:
        session = real(**kwargs)
        if kwargs.get("credentials") is not None:  # the session of an assumed role (refreshable credentials)
            found.calls.attach(session)
            found.as_b.attach(session)
            for hook in found.b_hooks:
                hook.attach(session)
        return session

    monkeypatch.setattr(shared_aws, "new_session", logged)
    found.a.bucket("builds-a")
    found.b.bucket("releases-b")
    return found


def ops(log: CallLog, service: str = "s3") -> list[str]:
    return [op for svc, op, _ in log.calls if svc == service]


def test_the_buckets_live_in_their_own_accounts(accounts: Accounts) -> None:
    assert [b["Name"] for b in accounts.a.s3.list_buckets()["Buckets"]] == ["builds-a"]
    assert [b["Name"] for b in accounts.b.s3.list_buckets()["Buckets"]] == ["releases-b"]
    caller = boto3.client("sts", region_name=REGION).get_caller_identity()
    assert caller["Account"] == ACCOUNT_A


def test_promote_to_another_account_lands_every_object_verified_with_its_manifest(accounts: Accounts) -> None:
    files = accounts.a.build("builds-a", SRC, big=True)

    report = accounts.run(PROMOTE)

    assert report["status"] == "succeeded"
    counts = report["units"][0]["counts"]
    assert counts["copied"] == len(files)
    assert counts["manifests"] == 1
    assert "deleted" not in counts
    assert accounts.a.keys("builds-a") == set(files)
    released = {DST + k[len(SRC) :]: v for k, v in files.items()}
    assert accounts.b.keys("releases-b") == set(released) | {DST + "release-manifest.json"}
    for key, body in released.items():
        assert accounts.b.body("releases-b", key) == body
        head = accounts.b.s3.head_object(Bucket="releases-b", Key=key)
        if key.endswith("disk.img"):  # the multipart path: metadata and tags set explicitly
            assert head["ETag"].endswith('-3"')
            assert (head["ContentType"], head["CacheControl"]) == ("application/octet-stream", "no-cache")
            assert head["Metadata"] == {"build-by": "ci"}
            assert accounts.b.tags("releases-b", key) == {"team": "platform", "size": "big"}
        else:
            assert (head["ContentType"], head["CacheControl"], head["ContentDisposition"]) == (
                "application/x-test",
                "max-age=60",
                "attachment",
            )
            assert head["Metadata"] == {"build-by": "ci", "commit": "abc123"}
    # Quick copies leave tags to S3 (TaggingDirective COPY), which copies them across accounts too. moto keeps tags
    # per account and finds none for a source of another account, so here the request is what can be checked.
    quick = [p for svc, op, p in accounts.as_b.calls if op == "CopyObject"]
    assert sorted(p["Key"] for p in quick) == sorted(k for k in released if not k.endswith("disk.img"))
    assert all((p["TaggingDirective"], p["MetadataDirective"]) == ("COPY", "COPY") for p in quick)
    assert all(unquote(p["CopySource"]) == f"builds-a/{SRC}{p['Key'][len(DST) :]}" for p in quick)
    manifest = json.loads(accounts.b.body("releases-b", DST + "release-manifest.json"))
    assert manifest["source"] == f"s3://builds-a/{SRC}"
    assert manifest["destination"] == f"s3://releases-b/{DST}"
    assert sorted(e["key"] for e in manifest["objects"]) == sorted(k[len(SRC) :] for k in files)
    assert all(e["size"] == len(files[SRC + e["key"]]) for e in manifest["objects"])
    # B's role assumed once; every write and every read of the destination made with B's credentials
    assert [p["RoleArn"] for svc, op, p in accounts.calls.calls if op == "AssumeRole"] == [ROLE_B]
    writes_as_b = [op for op in ops(accounts.as_b) if is_mutating(op)]
    assert sorted(set(writes_as_b)) == [
        "CompleteMultipartUpload",
        "CopyObject",
        "CreateMultipartUpload",
        "PutObject",
        "PutObjectTagging",
        "UploadPartCopy",
    ]
    assert writes_as_b.count("PutObject") == 1  # the manifest
    assert [op for op in ops(accounts.calls) if is_mutating(op)] == writes_as_b
    dest_reads = [p for svc, op, p in accounts.as_b.calls if op in ("ListObjectsV2", "HeadObject", "GetObject")]
    assert dest_reads
    assert all(p["Bucket"] == "releases-b" for p in dest_reads)


def test_move_to_another_account_deletes_the_sources_only_after_verifying_every_copy(accounts: Accounts) -> None:
    files = accounts.a.build("builds-a", SRC, big=True)

    report = accounts.run(PROMOTE | {"operation": "move"})

    assert report["status"] == "succeeded"
    assert report["units"][0]["counts"]["deleted"] == len(files)
    assert accounts.a.keys("builds-a") == set()
    for key, body in files.items():
        assert accounts.b.body("releases-b", DST + key[len(SRC) :]) == body
    manifest = json.loads(accounts.b.body("releases-b", DST + "release-manifest.json"))
    assert sorted(e["key"] for e in manifest["objects"]) == sorted(k[len(SRC) :] for k in files)
    # the one deletion is A's, of exactly the sources, after every copy, its verification and the manifest (B's)
    sequence = [(op, p) for svc, op, p in accounts.calls.calls if svc == "s3"]
    (deletion,) = [i for i, (op, _) in enumerate(sequence) if op == "DeleteObjects"]
    assert "DeleteObjects" not in ops(accounts.as_b)
    deleted = sequence[deletion][1]
    assert deleted["Bucket"] == "builds-a"
    assert sorted(o["Key"] for o in deleted["Delete"]["Objects"]) == sorted(files)
    before = [op for op, _ in sequence[:deletion]]
    last_copy = max(i for i, op in enumerate(before) if op in ("CopyObject", "CompleteMultipartUpload"))
    assert before.count("CopyObject") == len(files) - 1
    assert before.count("CompleteMultipartUpload") == 1
    after_copies = sequence[last_copy + 1 : deletion]
    assert any(op == "ListObjectsV2" and p["Bucket"] == "releases-b" for op, p in after_copies)  # quick copies
    assert before[-1] == "PutObject"  # the manifest, once every copy is verified
    assert [op for op in ops(accounts.as_b) if is_mutating(op)] == [op for op in before if is_mutating(op)]
    assert [op for op, _ in sequence[deletion + 1 :] if is_mutating(op)] == []


def test_a_failed_verification_in_the_other_account_keeps_every_source_and_a_rerun_finishes(
    accounts: Accounts,
) -> None:
    files = accounts.a.build("builds-a", SRC)
    listings: list[int] = []

    def verification(op: str, p: dict[str, Any]) -> bool:
        if op == "ListObjectsV2" and p["Bucket"] == "releases-b":
            listings.append(1)
            return len(listings) == 2  # the first lists what is there already, the second verifies the copies
        return False

    failing = ErrorOn(verification, "InternalError", status=500)
    accounts.b_hooks.append(failing)
    with pytest.raises(RunFailed):
        accounts.run(PROMOTE | {"operation": "move"})

    assert len(failing.hits) == 1

    assert accounts.a.keys("builds-a") == set(files)
    assert DST + "release-manifest.json" not in accounts.b.keys("releases-b")
    assert "DeleteObjects" not in ops(accounts.calls)
    accounts.b_hooks.clear()
    assert accounts.run(PROMOTE | {"operation": "move"})["status"] == "succeeded"
    assert accounts.a.keys("builds-a") == set()
    for key, body in files.items():
        assert accounts.b.body("releases-b", DST + key[len(SRC) :]) == body
    assert DST + "release-manifest.json" in accounts.b.keys("releases-b")


def test_a_destination_role_that_cannot_be_assumed_fails_the_run_and_deletes_nothing(accounts: Accounts) -> None:
    files = accounts.a.build("builds-a", SRC)
    denied = ErrorOn(lambda op, p: op == "AssumeRole" and p["RoleArn"] == ROLE_B, "AccessDenied", status=403)

    with pytest.raises(RunFailed) as failed:
        accounts.run(PROMOTE | {"operation": "move"}, denied)

    report = failed.value.report
    assert report["status"] == "failed"
    (failure,) = [f for unit in report["units"] for f in unit["failures"]]
    assert failure["error_code"] == "AccessDenied"
    assert "AssumeRole" in failure["message"]
    assert [op for op, _ in denied.hits] == ["AssumeRole"]
    assert [op for op in ops(accounts.calls) if is_mutating(op)] == []
    assert accounts.as_b.calls == []
    assert accounts.a.keys("builds-a") == set(files)
    assert accounts.b.keys("releases-b") == set()
