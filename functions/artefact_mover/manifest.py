"""The release manifest written next to promoted or moved artefacts: key, size, checksum and source of each. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Moved:
    """One object verified at its destination (copied now, or found already there)."""

    source_key: str
    source_version: str | None
    source_etag: str
    dest_key: str
    size: int
    checksum: str | None
    dest_etag: str = ""
    """The ETag of the object at the destination: the copy we wrote, or the same object we found there."""
    dest_version: str | None = None


def manifest_document(
    *,
    operation: str,
    source: str,
    destination: str,
    dest_prefix: str,
    moved: Iterable[Moved],
    source_bucket: str,
    previous: Mapping[str, Any] | None,
    run_id: str,
    now: datetime,
) -> dict[str, Any]:
    """The manifest; entries of a previous manifest for keys not verified in this run are kept (re-runs merge)."""
    entries: dict[str, dict[str, Any]] = {}
    for item in (previous or {}).get("objects", []):
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            entries[item["key"]] = item
    for m in moved:
        key = m.dest_key[len(dest_prefix) :]
        entry: dict[str, Any] = {
            "key": key,
            "size": m.size,
            "checksum": m.checksum,
            "source": f"s3://{source_bucket}/{m.source_key}",
        }
        if m.source_version:
            entry["source_version_id"] = m.source_version
        if m.dest_version:
            entry["version_id"] = m.dest_version
        entries[key] = entry
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": "devops-tasks artefact-mover",
        "operation": operation,
        "source": source,
        "destination": destination,
        "run_id": run_id,
        "updated_at": now.isoformat(),
        "objects": [entries[k] for k in sorted(entries)],
    }
