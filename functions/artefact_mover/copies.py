"""One object's copy: CopyObject, or a multipart copy that follows the source's part layout or S3's full-object CRC.

Every copy is conditional twice: on the source (``CopySourceIfMatch`` = the ETag that was verified, on CopyObject
and on each UploadPartCopy) and on the destination (``IfNoneMatch: *`` where nothing was there, ``IfMatch`` = the
ETag of the object we replace), so we never copy a newer source than the one we checked, nor write over an object
another writer put there meanwhile. Each returns what it wrote (:class:`Written`: ETag and VersionId), so that
tagging, verification and any removal target our own version.

Multipart copies are written here rather than with s3transfer's managed copy, which (0.19.3) cuts every copy into
parts of one size (``ChunksizeAdjuster``), does not return the VersionId or ETag it wrote
(``CopyCompleteMultipartUploadTask`` drops the response), and accepts neither ``ChecksumType`` nor a full-object
checksum nor a condition on the destination for copies (``ALLOWED_COPY_ARGS``). Where it does carry metadata and
headers (from its own HEAD) and tags (``TaggingDirective: COPY``), we do the same from the HEAD we already made.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from s3transfer.utils import ChunksizeAdjuster

from shared.aws import error_code
from shared.observability import logger

CONFLICT = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


@dataclass(frozen=True)
class Written:
    """An object this run wrote (or adopted, found identical): its ETag, and its VersionId in a versioned bucket."""

    etag: str
    version_id: str | None
    source_version: str | None = None
    """The source version copied, where S3 tells it (CopyObject's ``CopySourceVersionId``)."""
    sse: str | None = None


class Conflict(Exception):
    """S3 refused a conditional write: the source or the destination is not what we saw."""


def is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and error_code(exc) in CONFLICT


def version_of(value: Any) -> str | None:
    return None if value in (None, "", "null") else str(value)


def part_ranges(size: int, part_size: int, boundaries: Sequence[int] | None = None) -> list[tuple[int, int]]:
    """Inclusive byte ranges of the parts of a multipart copy. Pure.

    With ``boundaries`` (the sizes of the source's own parts), the copy's parts are the source's, so its ETag and
    composite checksums are the source's too. Without, parts of ``part_size`` (raised where needed to stay within
    S3's 10,000 parts, as s3transfer does).
    """
    if boundaries is None:
        step = ChunksizeAdjuster().adjust_chunksize(part_size, size)
        boundaries = [min(step, size - start) for start in range(0, size, step)] or [0]
    if sum(boundaries) != size or any(b <= 0 for b in boundaries[:-1]):
        raise ValueError(f"part sizes {list(boundaries)} do not add up to the object's {size} bytes")
    ranges, start = [], 0
    for length in boundaries:
        ranges.append((start, start + length - 1))
        start += length
    return ranges


def copy_object(s3: Any, *, source: dict[str, Any], source_etag: str, bucket: str, key: str, **args: Any) -> Written:
    """CopyObject conditional on the source's ETag; S3 copies metadata, headers and tags (COPY directives)."""
    try:
        resp = s3.copy_object(
            CopySource=source,
            CopySourceIfMatch=source_etag,
            Bucket=bucket,
            Key=key,
            MetadataDirective="COPY",
            TaggingDirective="COPY",
            **args,
        )
    except ClientError as exc:
        if is_conflict(exc):
            raise Conflict(f"CopyObject refused: {error_code(exc)}") from exc
        raise
    return Written(
        str(resp["CopyObjectResult"]["ETag"]),
        version_of(resp.get("VersionId")),
        version_of(resp.get("CopySourceVersionId")),
        resp.get("ServerSideEncryption"),
    )


def copy_multipart(
    s3: Any,
    *,
    source: dict[str, Any],
    source_etag: str,
    bucket: str,
    key: str,
    ranges: Sequence[tuple[int, int]],
    create: dict[str, Any],
    complete: dict[str, Any],
    workers: int,
) -> Written:
    """CreateMultipartUpload, one UploadPartCopy per range (``workers`` at once), CompleteMultipartUpload.

    ``create`` carries metadata, headers, storage class, encryption and checksum algorithm; ``complete`` the
    destination condition and any full-object checksum for S3 to check. Any failure aborts the upload.
    """
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    algorithm = create.get("ChecksumAlgorithm")

    def part(numbered: tuple[int, tuple[int, int]]) -> dict[str, Any]:
        number, (first, last) = numbered
        resp = s3.upload_part_copy(
            Bucket=bucket,
            Key=key,
            UploadId=upload,
            PartNumber=number,
            CopySource=source,
            CopySourceRange=f"bytes={first}-{last}",
            CopySourceIfMatch=source_etag,
        )
        result = resp["CopyPartResult"]
        done = {"PartNumber": number, "ETag": result["ETag"]}
        if algorithm and result.get(f"Checksum{algorithm}"):
            done[f"Checksum{algorithm}"] = result[f"Checksum{algorithm}"]
        return done

    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="part") as pool:
            parts = list(pool.map(part, enumerate(ranges, 1)))
        resp = s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}, **complete
        )
    except BaseException as exc:
        try:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
        except Exception:  # noqa: BLE001 - the bucket's lifecycle rule aborts what is left after 2 days
            logger.warning("multipart upload not aborted", bucket=bucket, key=key, upload_id=upload)
        if is_conflict(exc):
            raise Conflict(f"multipart copy refused: {error_code(exc)}") from exc
        raise
    return Written(str(resp["ETag"]), version_of(resp.get("VersionId")))
