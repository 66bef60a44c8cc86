"""Loading one source object into the lake: the only module of the task that writes to S3.

Stream the object's body through the parser into Parquet files (one per event-time hour) and a quarantine
file, on local disk; then upload them under keys derived from the object, and write the object's manifest last.
A failure before the uploads leaves nothing behind; a failure during them leaves files that the retry overwrites
with identical content, so no row is ever written twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from boto3.s3.transfer import TransferConfig

from functions.log_etl.lake import PartitionedWriter, QuarantineWriter
from functions.log_etl.models import LogEtlInput, SourceObject
from functions.log_etl.parse import open_parser
from functions.log_etl.plan import manifest_key, parquet_key, quarantine_key
from functions.log_etl.schemas import lake_schema
from functions.log_etl.stream import LogParseError, Rejected
from shared.observability import logger

PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"
TRANSFER = TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20, max_concurrency=4)


class SupersededError(Exception):
    """The object changed since it was announced; the newer version has its own event."""


class ConservationError(Exception):
    """Lines in != rows out + rejected + skipped: the object is not marked loaded, so it is tried again."""


@dataclass
class WrittenPartition:
    dt: str
    hour: str
    key: str
    rows: int
    bytes: int


@dataclass
class ObjectOutcome:
    """What loading one object did: conservation counts, files written, rejects by reason."""

    source: SourceObject
    format: str
    lines_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    lines_skipped: int = 0
    unreadable: str | None = None
    partitions: list[WrittenPartition] = field(default_factory=list)
    quarantine_key: str | None = None
    manifest_key: str | None = None
    reject_reasons: dict[str, int] = field(default_factory=dict)
    skip_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.lines_in == self.rows_out + self.rows_rejected + self.lines_skipped

    def detail(self) -> dict[str, Any]:
        """For the run report: conservation counts, outputs, the commonest reject reasons and every skip reason."""
        top = sorted(self.reject_reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        return {
            "format": self.format,
            "etag": self.source.etag,
            "version_id": self.source.version_id,
            "lines_in": self.lines_in,
            "rows_out": self.rows_out,
            "rows_rejected": self.rows_rejected,
            "lines_skipped": self.lines_skipped,
            "balanced": self.balanced,
            "unreadable": self.unreadable,
            "partitions": [f"dt={p.dt}/hour={p.hour}" for p in self.partitions],
            "files": [p.key for p in self.partitions],
            "quarantine": self.quarantine_key,
            "reject_reasons": dict(top),
            "skip_reasons": dict(sorted(self.skip_reasons.items())),
        }


def _fetch(s3: Any, obj: SourceObject) -> tuple[Any, SourceObject]:
    params: dict[str, Any] = {"Bucket": obj.bucket, "Key": obj.key}
    if obj.version_id:
        params["VersionId"] = obj.version_id
    elif obj.etag:
        params["IfMatch"] = f'"{obj.etag}"'
    try:
        resp = s3.get_object(**params)
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
            raise SupersededError(f"{obj.uri} changed since ETag {obj.etag}") from exc
        raise
    actual = SourceObject(
        bucket=obj.bucket,
        key=obj.key,
        etag=str(resp.get("ETag", "")).strip('"') or obj.etag,
        version_id=obj.version_id or resp.get("VersionId"),
        size=resp.get("ContentLength", obj.size),
        last_modified=resp.get("LastModified", obj.last_modified),
    )
    if actual.version_id == "null":
        actual = SourceObject(actual.bucket, actual.key, actual.etag, None, actual.size, actual.last_modified)
    return resp["Body"], actual


def load_object(
    s3: Any,
    obj: SourceObject,
    log_format: str,
    params: LogEtlInput,
    *,
    now: datetime,
    spool_dir: str | None = None,
    before_manifest: Callable[[ObjectOutcome], None] | None = None,
) -> ObjectOutcome:
    """Parse ``obj`` as ``log_format`` and write its Parquet files, quarantine and manifest to the lake.

    An object that cannot be read as a whole (corrupt gzip, not the expected document) is quarantined as one
    record with the reason, and nothing of it reaches the Parquet files. AWS errors propagate.
    ``before_manifest`` (the catalog registration) runs once the files are uploaded: the manifest marks the
    object done, so a later delivery skips it, and must not exist unless everything else succeeded.
    """
    lake_bucket = params.lake_bucket
    if not lake_bucket:
        raise ValueError("lake_bucket is not set")
    body, obj = _fetch(s3, obj)
    outcome = ObjectOutcome(source=obj, format=log_format)
    writer = PartitionedWriter(
        lake_schema(log_format),
        compression=params.compression,
        row_group_rows=params.row_group_rows,
        spool_dir=spool_dir,
    )
    quarantine = QuarantineWriter(obj.bucket, obj.key, spool_dir=spool_dir)
    parser = open_parser(body, log_format, layout=params.layout_for(log_format, obj.key))
    try:
        try:
            for block in parser:
                writer.write(block.table)
                quarantine.write(block.rejects)
        except LogParseError as err:
            writer.discard()
            quarantine.discard()
            quarantine = QuarantineWriter(obj.bucket, obj.key, spool_dir=spool_dir)
            quarantine.write([Rejected(0, f"object unreadable: {err}", b"")])
            outcome.unreadable = str(err)
            files = []
        else:
            counts = parser.counts
            outcome.lines_in, outcome.rows_out = counts.lines_in, counts.rows_out
            outcome.rows_rejected, outcome.lines_skipped = counts.rows_rejected, counts.lines_skipped
            outcome.skip_reasons = dict(counts.skip_reasons)
            files = writer.close()
        outcome.reject_reasons = dict(quarantine.reasons)
        for part in files:
            key = parquet_key(params.lake_prefix, log_format, part.dt, part.hour, obj)
            s3.upload_fileobj(
                part.file,
                lake_bucket,
                key,
                ExtraArgs={"ContentType": PARQUET_CONTENT_TYPE, "Metadata": _metadata(obj)},
                Config=TRANSFER,
            )
            part.file.close()
            outcome.partitions.append(WrittenPartition(part.dt, part.hour, key, part.rows, part.size))
        rejected = quarantine.close()
        if rejected is not None:
            outcome.quarantine_key = quarantine_key(params.quarantine_prefix, log_format, obj)
            s3.upload_fileobj(
                rejected,
                lake_bucket,
                outcome.quarantine_key,
                ExtraArgs={
                    "ContentType": "application/x-ndjson",
                    "ContentEncoding": "gzip",
                    "Metadata": _metadata(obj),
                },
                Config=TRANSFER,
            )
            rejected.close()
    finally:
        parser.close()
        writer.discard()  # after close() there is nothing left to discard
        body.close()
    if not outcome.balanced:
        raise ConservationError(
            f"lines in {outcome.lines_in} != rows out {outcome.rows_out} + rejected {outcome.rows_rejected} "
            f"+ skipped {outcome.lines_skipped}"
        )
    if before_manifest is not None:
        before_manifest(outcome)
    outcome.manifest_key = manifest_key(params.manifest_prefix, obj)
    s3.put_object(
        Bucket=lake_bucket,
        Key=outcome.manifest_key,
        Body=json.dumps(_manifest(outcome, now), indent=2).encode(),
        ContentType="application/json",
    )
    logger.info(
        "object loaded",
        source=obj.uri,
        format=log_format,
        lines_in=outcome.lines_in,
        rows_out=outcome.rows_out,
        rows_rejected=outcome.rows_rejected,
        lines_skipped=outcome.lines_skipped,
        partitions=len(outcome.partitions),
        unreadable=outcome.unreadable,
    )
    return outcome


def _metadata(obj: SourceObject) -> dict[str, str]:
    # S3 metadata must be ASCII: keys can hold any UTF-8, so they are JSON-escaped.
    return {
        "source-bucket": obj.bucket,
        "source-key": json.dumps(obj.key)[1:-1][:1024],
        "source-etag": obj.etag or "",
    }


def _manifest(outcome: ObjectOutcome, now: datetime) -> dict[str, Any]:
    return {
        "source": {
            "bucket": outcome.source.bucket,
            "key": outcome.source.key,
            "etag": outcome.source.etag,
            "version_id": outcome.source.version_id,
            "size": outcome.source.size,
        },
        "loaded_at": now.isoformat(),
        **outcome.detail(),
        "partition_rows": {f"dt={p.dt}/hour={p.hour}": p.rows for p in outcome.partitions},
    }
