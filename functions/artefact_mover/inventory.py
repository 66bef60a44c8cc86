"""Read-only S3 calls: listings, HEADs (with checksums), tags, part sizes, small JSON documents, digests."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from functions.artefact_mover.models import Place
from functions.artefact_mover.plan import ObjectView
from functions.artefact_mover.verify import Head, head_of
from shared.aws import error_code

LIST_PAGE = 1000
NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion"})
MAX_JSON_BYTES = 1024 * 1024


def list_objects(s3: Any, place: Place) -> list[ObjectView]:
    """Every object under a prefix: one ListObjectsV2 call per 1,000 keys."""
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=place.bucket, Prefix=place.prefix, PaginationConfig={"PageSize": LIST_PAGE}
    )
    return [
        ObjectView(key=o["Key"], size=o["Size"], etag=o["ETag"], last_modified=o["LastModified"])
        for page in pages
        for o in page.get("Contents", [])
    ]


def head(s3: Any, bucket: str, key: str, version_id: str | None = None) -> Head | None:
    """HEAD with ``ChecksumMode=ENABLED``; None when the object (or that version) does not exist."""
    params: dict[str, Any] = {"Bucket": bucket, "Key": key, "ChecksumMode": "ENABLED"}
    if version_id:
        params["VersionId"] = version_id
    try:
        return head_of(key, s3.head_object(**params))
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND:
            return None
        raise


def part_sizes(s3: Any, src: Head, bucket: str, workers: int) -> list[int]:
    """The sizes of a multipart object's own parts: one HEAD with ``PartNumber`` per part, ``workers`` at once.

    Each HEAD names the version that was verified; in an unversioned bucket a newer object would not go unnoticed
    either: every part copy is conditional on the verified ETag.
    """
    assert src.parts is not None

    def size(number: int) -> int:
        params: dict[str, Any] = {"Bucket": bucket, "Key": src.key, "PartNumber": number}
        if src.version_id:
            params["VersionId"] = src.version_id
        return int(s3.head_object(**params)["ContentLength"])

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="part-size") as pool:
        return list(pool.map(size, range(1, src.parts + 1)))


def tags(s3: Any, bucket: str, key: str, version_id: str | None) -> list[dict[str, str]]:
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        params["VersionId"] = version_id
    return list(s3.get_object_tagging(**params).get("TagSet", []))


def read_json(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """A small JSON object (marker, manifest); None when absent, empty or not a JSON object."""
    return read_document(s3, bucket, key)[0]


def read_document(s3: Any, bucket: str, key: str) -> tuple[dict[str, Any] | None, str | None]:
    """A small JSON object and the ETag of what was read: ``(None, None)`` when absent, ``(None, etag)`` when
    present but empty or not a JSON object (a conditional write can still replace exactly that object)."""
    try:
        resp = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_JSON_BYTES - 1}")
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND:
            return None, None
        if error_code(exc) == "InvalidRange":  # an empty object
            return None, str(exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("etag") or "")
        raise
    etag = str(resp["ETag"])
    try:
        doc = json.loads(resp["Body"].read() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, etag
    return (doc if isinstance(doc, dict) else None), etag


def sha256_of(s3: Any, bucket: str, key: str, version_id: str | None) -> str:
    """SHA-256 of an object's content, read as a stream (the last resort of verification)."""
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        params["VersionId"] = version_id
    digest = hashlib.sha256()
    for chunk in s3.get_object(**params)["Body"].iter_chunks(1024 * 1024):
        digest.update(chunk)
    return digest.hexdigest()
