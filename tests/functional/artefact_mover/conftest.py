"""Fixtures of the artefact mover's functional tests: buckets with builds, under in-process moto."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig

from shared.observability import metrics
from tests.helpers import REGION

MiB = 1024 * 1024
BIG = 11 * MiB
SMALL_FILES = {
    "app.zip": b"zip" * 3000,
    "lib/core.jar": b"jar-bytes" * 500,
    "docs/read me+notes.txt": b"notes",
    "empty.txt": b"",
}


@dataclass
class Estate:
    s3: Any

    def bucket(self, name: str, *, versioned: bool = False) -> str:
        self.s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        if versioned:
            self.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    def build(self, bucket: str, prefix: str, *, big: bool = False, marker: str | None = None) -> dict[str, bytes]:
        """Small files with metadata, content type, cache headers and tags; optionally one multipart object."""
        files = {prefix + k: v for k, v in SMALL_FILES.items()}
        for key, body in files.items():
            self.s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentType="application/x-test",
                CacheControl="max-age=60",
                ContentDisposition="attachment",
                Metadata={"build-by": "ci", "commit": "abc123"},
                Tagging="team=platform&keep=yes",
            )
        if big:
            key = prefix + "images/disk.img"
            files[key] = os.urandom(BIG)
            self.s3.upload_fileobj(
                io.BytesIO(files[key]),
                bucket,
                key,
                ExtraArgs={
                    "ContentType": "application/octet-stream",
                    "CacheControl": "no-cache",
                    "Metadata": {"build-by": "ci"},
                    "Tagging": "team=platform&size=big",
                },
                Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, use_threads=False),
            )
        if marker:
            self.s3.put_object(Bucket=bucket, Key=prefix + marker, Body=b'{"version": "1.4.0"}')
            files[prefix + marker] = b'{"version": "1.4.0"}'
        return files

    def keys(self, bucket: str, prefix: str = "") -> set[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return {o["Key"] for page in pages for o in page.get("Contents", [])}

    def body(self, bucket: str, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def tags(self, bucket: str, key: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


@pytest.fixture
def estate(aws: None) -> Iterator[Estate]:
    yield Estate(boto3.client("s3", region_name=REGION))
    metrics.clear_metrics()  # runs executed without the handler's decorators leave their metrics unflushed
