"""Multipart sources of any part layout move, and their copies verify, whatever the part boundaries."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest

from functions.artefact_mover.task import TASK
from shared.aws import Clients
from shared.runner import execute
from tests.faults import CallLog
from tests.functional.artefact_mover.conftest import Estate, MiB, S3Conditions
from tests.helpers import REGION, FakeContext

MOVE = {
    "operation": "move",
    "source": "s3://art-bkt/builds/web/3/",
    "destination": "s3://rel-bkt/web/3/",
    "multipart_threshold_mb": 8,
    "part_size_mb": 5,
}
UNEVEN = [5 * MiB, 6 * MiB, 1 * MiB]  # three parts; a copy in 5 MiB parts has three too, with other boundaries


def upload_parts(s3: Any, bucket: str, key: str, data: bytes, sizes: list[int], **create: Any) -> None:
    """A multipart upload with the given part sizes, as another tool (or a parallel uploader) may make."""
    algorithm = create.get("ChecksumAlgorithm")
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    parts, start = [], 0
    for number, size in enumerate(sizes, 1):
        extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
        resp = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=data[start : start + size], **extra
        )
        part = {"PartNumber": number, "ETag": resp["ETag"]}
        if algorithm:
            part[f"Checksum{algorithm}"] = resp[f"Checksum{algorithm}"]
        parts.append(part)
        start += size
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts})


def run(log: CallLog) -> dict[str, Any]:
    session = boto3.Session(region_name=REGION)
    log.attach(session)
    S3Conditions().attach(session)
    return execute(TASK, MOVE, FakeContext(), clients=Clients(session), env={})


def part_heads(log: CallLog) -> list[dict[str, Any]]:
    return [p for _, op, p in log.calls if op == "HeadObject" and "PartNumber" in p]


@pytest.mark.parametrize(
    "create",
    [{}, {"ChecksumAlgorithm": "CRC32"}],
    ids=["no checksum", "composite crc32"],
)
def test_a_source_with_uneven_parts_is_copied_part_for_part(estate: Estate, create: dict[str, str]) -> None:
    estate.bucket("art-bkt")
    estate.bucket("rel-bkt")
    data = os.urandom(sum(UNEVEN))
    upload_parts(estate.s3, "art-bkt", "builds/web/3/disk.img", data, UNEVEN, **create)
    source = estate.s3.head_object(Bucket="art-bkt", Key="builds/web/3/disk.img", ChecksumMode="ENABLED")
    log = CallLog()

    report = run(log)

    assert report["status"] == "succeeded"
    assert estate.keys("art-bkt") == set()
    copy = estate.s3.head_object(Bucket="rel-bkt", Key="web/3/disk.img", ChecksumMode="ENABLED")
    assert copy["ETag"] == source["ETag"]
    assert copy.get("ChecksumCRC32") == source.get("ChecksumCRC32")
    assert estate.body("rel-bkt", "web/3/disk.img") == data
    ranges = [p["CopySourceRange"] for _, op, p in log.calls if op == "UploadPartCopy"]
    assert sorted(ranges) == ["bytes=0-5242879", "bytes=11534336-12582911", "bytes=5242880-11534335"]
    assert sorted(p["PartNumber"] for p in part_heads(log)) == [1, 2, 3]


def test_a_source_with_a_full_object_checksum_is_copied_in_even_parts_and_checked_by_s3(estate: Estate) -> None:
    estate.bucket("art-bkt")
    estate.bucket("rel-bkt")
    data = os.urandom(sum(UNEVEN))
    create = {"ChecksumAlgorithm": "CRC32", "ChecksumType": "FULL_OBJECT"}
    upload_parts(estate.s3, "art-bkt", "builds/web/3/disk.img", data, UNEVEN, **create)
    source = estate.s3.head_object(Bucket="art-bkt", Key="builds/web/3/disk.img", ChecksumMode="ENABLED")
    assert source["ChecksumType"] == "FULL_OBJECT"
    log = CallLog()

    report = run(log)

    assert report["status"] == "succeeded"
    assert part_heads(log) == []  # no part boundaries needed: the checksum does not depend on them
    ranges = sorted(p["CopySourceRange"] for _, op, p in log.calls if op == "UploadPartCopy")
    assert ranges == ["bytes=0-5242879", "bytes=10485760-12582911", "bytes=5242880-10485759"]
    (create_call,) = [p for _, op, p in log.calls if op == "CreateMultipartUpload"]
    assert (create_call["ChecksumAlgorithm"], create_call["ChecksumType"]) == ("CRC32", "FULL_OBJECT")
    (complete,) = [p for _, op, p in log.calls if op == "CompleteMultipartUpload"]
    # S3 itself refuses to complete a copy whose combined CRC is not the source's (moto does not check it)
    assert (complete["ChecksumType"], complete["ChecksumCRC32"]) == ("FULL_OBJECT", source["ChecksumCRC32"])
    assert complete["MpuObjectSize"] == len(data)
    copy = estate.s3.head_object(Bucket="rel-bkt", Key="web/3/disk.img", ChecksumMode="ENABLED")
    assert copy["ChecksumCRC32"] == source["ChecksumCRC32"]
    assert estate.body("rel-bkt", "web/3/disk.img") == data
    (action,) = [a for a in report["units"][0]["actions"] if a["action"] == "copy"]
    assert "crc32 matches" in action["reason"]
