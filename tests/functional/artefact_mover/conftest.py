"""Fixtures of the artefact mover's functional tests: buckets with builds, under in-process moto."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from shared.observability import metrics
from tests import faults
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


def _precondition_failed(what: str) -> tuple[AWSResponse, dict[str, Any]]:
    error = {"Code": "PreconditionFailed", "Message": f"At least one of the pre-conditions did not hold ({what})"}
    http = AWSResponse("", 412, {}, None)  # type: ignore[arg-type]
    return http, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 412}}


class S3Conditions:
    """Holds moto to the conditions S3 enforces and moto ignores (``docs/tasks/artefact-mover.md``).

    ``CopySourceIfMatch`` of CopyObject and UploadPartCopy, ``IfNoneMatch``/``IfMatch`` of CopyObject (412
    PreconditionFailed, as S3 answers), and the per-object ``ETag`` of DeleteObjects: the batch is carried out
    here, one conditional DeleteObject per key (a condition moto does honour), answered with ``Deleted`` and
    ``Errors`` as S3 answers. The state is read with a client of its own, outside the session under test.
    ``calls`` keeps the parameters of every call it looked at (a :class:`tests.faults.CallLog` does not see the
    DeleteObjects calls answered here: botocore calls the more specific handler first).
    """

    def __init__(self) -> None:
        self.s3 = boto3.client("s3", region_name=REGION)
        self.refused: list[tuple[str, str]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def attach(self, session: boto3.Session) -> S3Conditions:
        events = faults._events(session)
        for op in ("CopyObject", "UploadPartCopy"):
            events.register(f"before-call.s3.{op}", partial(self._copy, op))
        events.register("before-call.s3.DeleteObjects", self._delete_objects)
        return self

    def _current_etag(self, bucket: str, key: str, version: str | None = None) -> str | None:
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version:
            params["VersionId"] = version
        try:
            return str(self.s3.head_object(**params)["ETag"])
        except ClientError:
            return None

    def _copy(self, op: str, context: dict[str, Any] | None = None, **_: Any) -> Any:
        p = faults._api_params(context)
        self.calls.append((op, p))
        # by now botocore has serialised CopySource to "bucket/key[?versionId=...]", URL-quoted
        path, _, query = str(p["CopySource"]).partition("?versionId=")
        bucket, _, key = unquote(path).partition("/")
        if "CopySourceIfMatch" in p:
            etag = self._current_etag(bucket, key, unquote(query) or None)
            if etag != p["CopySourceIfMatch"]:
                self.refused.append((op, key))
                return _precondition_failed("CopySourceIfMatch")
        if op == "CopyObject":
            there = self._current_etag(p["Bucket"], p["Key"])
            if (p.get("IfNoneMatch") == "*" and there is not None) or ("IfMatch" in p and there != p["IfMatch"]):
                self.refused.append((op, p["Key"]))
                return _precondition_failed("IfNoneMatch/IfMatch")
        return None

    def _delete_objects(self, context: dict[str, Any] | None = None, **_: Any) -> Any:
        p = faults._api_params(context)
        self.calls.append(("DeleteObjects", p))
        deleted, errors = [], []
        for o in p["Delete"]["Objects"]:
            params: dict[str, Any] = {"Bucket": p["Bucket"], "Key": o["Key"]}
            if o.get("VersionId"):
                params["VersionId"] = o["VersionId"]
            if o.get("ETag"):
                params["IfMatch"] = o["ETag"]
            try:
                self.s3.delete_object(**params)
                deleted.append({"Key": o["Key"]})
            except ClientError as exc:
                self.refused.append(("DeleteObjects", o["Key"]))
                errors.append({"Key": o["Key"], "Code": exc.response["Error"]["Code"], "Message": "refused"})
        http = AWSResponse("", 200, {}, None)  # type: ignore[arg-type]
        return http, {"Deleted": deleted, "Errors": errors, "ResponseMetadata": {"HTTPStatusCode": 200}}


class OtherWriter:
    """Another writer: right after our first ``op`` call on ``after`` (a Key or a listing's Prefix; default
    ``key``), it puts its own object under ``key`` of the same bucket."""

    def __init__(self, op: str, key: str, body: bytes = b"theirs", *, after: str | None = None) -> None:
        self.op, self.key, self.body, self.after = op, key, body, after or key
        self.s3 = boto3.client("s3", region_name=REGION)
        self.wrote: dict[str, Any] | None = None

    def attach(self, session: boto3.Session) -> OtherWriter:
        faults._events(session).register(f"after-call.s3.{self.op}", self._after)
        return self

    def _after(self, context: dict[str, Any] | None = None, **_: Any) -> None:
        p = faults._api_params(context)
        if self.wrote is None and self.after in (p.get("Key"), p.get("Prefix")):
            self.wrote = self.s3.put_object(Bucket=p["Bucket"], Key=self.key, Body=self.body)


class Corrupt:
    """Each CopyObject to ``key`` writes other bytes of the same size: S3 answers with the ETag and VersionId of
    that corrupt copy, as if it were the copy made (so it is ours, to verify and to remove)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.s3 = boto3.client("s3", region_name=REGION)

    def attach(self, session: boto3.Session) -> Corrupt:
        session.events.register("after-call.s3.CopyObject", self._after)
        return self

    def _after(self, parsed: dict[str, Any], **kwargs: Any) -> None:
        params = kwargs["context"].get("tests.faults.api_params") or {}
        if params.get("Key", "").endswith(self.key):
            size = self.s3.head_object(Bucket=params["Bucket"], Key=params["Key"])["ContentLength"]
            bad = self.s3.put_object(Bucket=params["Bucket"], Key=params["Key"], Body=b"X" * size)
            parsed["CopyObjectResult"]["ETag"] = bad["ETag"]
            if bad.get("VersionId"):
                parsed["VersionId"] = bad["VersionId"]
