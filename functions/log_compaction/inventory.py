"""Reads of the compaction: the catalog's partitions, the lake's files and the generations' manifests."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from functions.log_compaction.models import CompactionInput, Fingerprint, Generation, LakeFile, PartitionState
from functions.log_compaction.plan import partition_root
from functions.log_etl.plan import partition_prefix

_DT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HOUR = re.compile(r"^([01]\d|2[0-3])$")


def _etag(value: Any) -> str:
    return str(value or "").strip('"')


def files_under(s3: Any, bucket: str, prefix: str) -> tuple[LakeFile, ...]:
    """The Parquet objects directly under ``prefix`` (sub-folders are not part of a Hive partition's files)."""
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if "/" not in key[len(prefix) :] and key.endswith(".parquet"):
                found.append(LakeFile(key, _etag(item.get("ETag")), int(item.get("Size", 0))))
    return tuple(sorted(found))


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _files(items: list[dict[str, Any]]) -> tuple[LakeFile, ...]:
    return tuple(LakeFile(str(i["key"]), str(i["etag"]), int(i["size"])) for i in items)


def generation_of(
    doc: dict[str, Any], *, written_at: datetime | None = None, manifest_etag: str | None = None
) -> Generation:
    return Generation(
        id=str(doc["id"]),
        prefix=str(doc["prefix"]),
        inputs=_files(doc["inputs"]),
        outputs=_files(doc["outputs"]),
        covered=frozenset(str(k) for k in doc["covered"]),
        switched_at=_time(doc.get("switched_at")),
        deleted_at=_time(doc.get("deleted_at")),
        written_at=written_at,
        manifest_etag=manifest_etag,
    )


def manifest_doc(
    gen: Generation, *, log_format: str, dt: str, hour: str, replaces: str, fingerprint: Fingerprint
) -> dict[str, Any]:
    def files(fs: tuple[LakeFile, ...]) -> list[dict[str, Any]]:
        return [{"key": f.key, "etag": f.etag, "size": f.size} for f in fs]

    return {
        "id": gen.id,
        "format": log_format,
        "dt": dt,
        "hour": hour,
        "prefix": gen.prefix,
        "replaces": replaces,
        "inputs": files(gen.inputs),
        "outputs": files(gen.outputs),
        "covered": sorted(gen.covered),
        "fingerprint": fingerprint.to_dict(),
        "switched_at": gen.switched_at.isoformat() if gen.switched_at else None,
        "deleted_at": gen.deleted_at.isoformat() if gen.deleted_at else None,
    }


def generations(s3: Any, bucket: str, root: str) -> tuple[Generation, ...]:
    """The generations of one partition, from the manifests next to their folders (``<root><id>.json``)."""
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root, Delimiter="/"):
        for item in page.get("Contents", []):
            if item["Key"].endswith(".json"):
                got = s3.get_object(Bucket=bucket, Key=item["Key"])  # the version read: its time and ETag
                doc = json.loads(got["Body"].read())
                found.append(
                    generation_of(doc, written_at=got.get("LastModified"), manifest_etag=_etag(got.get("ETag")))
                )
    return tuple(sorted(found, key=lambda g: g.id))


def glue_partitions(glue: Any, database: str, table: str, first: str, last: str) -> Iterator[dict[str, Any]]:
    """The table's partitions with ``first <= dt <= last`` (Glue filters on the partition keys, server-side)."""
    expression = f"dt >= '{first}' AND dt <= '{last}'"
    pages = glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table, Expression=expression)
    for page in pages:
        yield from page.get("Partitions", [])


def partitions(
    s3: Any, glue: Any, params: CompactionInput, log_format: str, now: datetime
) -> Iterator[PartitionState | str]:
    """The table's partitions of the last ``max_age_days`` with their files and generations; for a partition
    whose values are not the lake's, why it is left alone."""
    bucket = params.lake_bucket or ""
    first = f"{now - timedelta(days=params.max_age_days):%Y-%m-%d}"
    last = f"{now:%Y-%m-%d}"
    for part in glue_partitions(glue, params.glue_database, params.table_name(log_format), first, last):
        values = part.get("Values", [])
        if len(values) != 2 or not _DT.match(str(values[0])) or not _HOUR.match(str(values[1])):
            yield f"{params.table_name(log_format)} partition {values}: not (dt=YYYY-MM-DD, hour=HH); left as it is"
            continue
        dt, hour = str(values[0]), str(values[1])
        location = str(part.get("StorageDescriptor", {}).get("Location", ""))
        base = partition_prefix(params.lake_prefix, log_format, dt, hour)
        yield PartitionState(
            format=log_format,
            dt=dt,
            hour=hour,
            location=location if location.endswith("/") else location + "/",
            base_prefix=base,
            base_files=files_under(s3, bucket, base),
            generations=generations(s3, bucket, partition_root(params.compacted_prefix, log_format, dt, hour)),
        )
