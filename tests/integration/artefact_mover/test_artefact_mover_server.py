"""The artefact mover's handler against moto server over HTTP: promote, then move, with a multipart object."""

from __future__ import annotations

import io
import json
import os

import boto3
import pytest
from boto3.s3.transfer import TransferConfig

from functions.artefact_mover.handler import handler
from tests.helpers import REGION, FakeContext

pytestmark = pytest.mark.integration
MiB = 1024 * 1024


def test_promote_then_move_over_http(moto_server: str) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in ("art-bkt", "rel-bkt"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket="art-bkt", VersioningConfiguration={"Status": "Enabled"})
    small = {f"builds/web/9/file {i}.txt": os.urandom(2000 + i) for i in range(30)}
    for key, body in small.items():
        s3.put_object(Bucket="art-bkt", Key=key, Body=body, Metadata={"n": "1"}, Tagging="a=b")
    big = os.urandom(11 * MiB)
    s3.upload_fileobj(
        io.BytesIO(big),
        "art-bkt",
        "builds/web/9/big.bin",
        ExtraArgs={"Metadata": {"n": "2"}, "Tagging": "size=big", "ContentType": "application/x-big"},
        Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB),
    )
    base = {"bucket": "art-bkt", "release_bucket": "rel-bkt", "project": "web", "build": "9", "version": "9.0"}
    base |= {"multipart_threshold_mb": 8, "part_size_mb": 5}

    promoted = handler(base, FakeContext())
    moved = handler(base | {"operation": "move"}, FakeContext())

    assert promoted["status"] == moved["status"] == "succeeded"
    assert moved["units"][0]["counts"]["already_there"] == len(small) + 1
    assert s3.list_objects_v2(Bucket="art-bkt", Prefix="builds/")["KeyCount"] == 0
    versions = s3.list_object_versions(Bucket="art-bkt", Prefix="builds/")
    assert {m["Key"] for m in versions["DeleteMarkers"] if m["IsLatest"]} == set(small) | {"builds/web/9/big.bin"}
    assert s3.get_object(Bucket="rel-bkt", Key="releases/web/9.0/big.bin")["Body"].read() == big
    head = s3.head_object(Bucket="rel-bkt", Key="releases/web/9.0/big.bin")
    assert (head["ContentType"], head["Metadata"]) == ("application/x-big", {"n": "2"})
    tags = s3.get_object_tagging(Bucket="rel-bkt", Key="releases/web/9.0/big.bin")["TagSet"]
    assert tags == [{"Key": "size", "Value": "big"}]
    manifest = json.loads(s3.get_object(Bucket="rel-bkt", Key="releases/web/9.0/release-manifest.json")["Body"].read())
    assert len(manifest["objects"]) == len(small) + 1
