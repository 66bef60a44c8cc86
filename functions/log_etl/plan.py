"""Pure decisions of the log ETL: which objects to load and why, and where each output goes.

Output names derive from the source object only (bucket, key, ETag), so loading the same object again
writes the same keys: retries and duplicate deliveries replace files instead of adding rows.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from functions.log_etl.detect import detect_format
from functions.log_etl.models import SourceObject

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SUFFIXES = (".gz", ".log", ".json", ".txt", ".csv")


def object_id(obj: SourceObject) -> str:
    """A stable 20-hex-digit id of one version of one object.

    The ETag identifies the content and every path knows it (events, listings, HEAD and GET); the version id is
    known only to some (a listing has none), so it serves only when the ETag is missing.
    """
    version = obj.etag or obj.version_id or ""
    return hashlib.sha256(f"{obj.bucket}\n{obj.key}\n{version}".encode()).hexdigest()[:20]


def output_name(obj: SourceObject) -> str:
    """``<readable stem of the key>-<object id>``: unique per object version, the same on every run."""
    stem = obj.key.rsplit("/", 1)[-1]
    while stem.endswith(_SUFFIXES):
        stem = stem.rsplit(".", 1)[0]
    stem = _UNSAFE.sub("_", stem)[-80:].strip("._-") or "object"
    return f"{stem}-{object_id(obj)}"


def partition_prefix(lake_prefix: str, log_format: str, dt: str, hour: str) -> str:
    return f"{lake_prefix}/format={log_format}/dt={dt}/hour={hour}/"


def parquet_key(lake_prefix: str, log_format: str, dt: str, hour: str, obj: SourceObject) -> str:
    return f"{partition_prefix(lake_prefix, log_format, dt, hour)}{output_name(obj)}.parquet"


def quarantine_key(quarantine_prefix: str, log_format: str, obj: SourceObject) -> str:
    return f"{quarantine_prefix}/format={log_format}/{output_name(obj)}.jsonl.gz"


def manifest_key(manifest_prefix: str, obj: SourceObject) -> str:
    """Mirrors the source key, so one listing under ``<manifest_prefix>/<bucket>/<prefix>`` finds a prefix's."""
    return f"{manifest_prefix}/{obj.bucket}/{obj.key}.{object_id(obj)}.json"


def manifest_listing_prefix(manifest_prefix: str, bucket: str, prefix: str) -> str:
    return f"{manifest_prefix}/{bucket}/{prefix}"


@dataclass(frozen=True)
class Decision:
    """What to do with one object, and why."""

    obj: SourceObject
    action: Literal["load", "skip"]
    reason: str
    format: str | None = None


@dataclass(frozen=True)
class Policy:
    """What the planner needs of the settings."""

    format_override: str | None = None
    source_formats: tuple[tuple[str, str], ...] = ()
    """(key prefix, format) pairs: the format of the objects under a prefix, over the key layout."""
    reprocess: bool = False
    lake_bucket: str | None = None
    own_prefixes: tuple[str, ...] = ()
    """Prefixes of the lake bucket the ETL writes itself; never read back as logs (no loops)."""


def decide(obj: SourceObject, policy: Policy, *, loaded: bool) -> Decision:
    """Load or skip one object. ``loaded``: its manifest exists (this version was loaded before)."""
    if obj.bucket == policy.lake_bucket and obj.key.startswith(tuple(p + "/" for p in policy.own_prefixes)):
        return Decision(obj, "skip", "written by this ETL (lake, quarantine or manifest prefix)")
    if obj.size == 0:
        return Decision(obj, "skip", "empty object")
    detection = detect_format(obj.key, policy.format_override, policy.source_formats)
    if detection.skip_reason is not None:
        return Decision(obj, "skip", f"not a log: {detection.skip_reason}")
    if detection.format is None:
        return Decision(obj, "skip", "key layout of no known log format (set format to force one)")
    if loaded and not policy.reprocess:
        return Decision(obj, "skip", "already loaded (manifest exists; set reprocess to load again)", detection.format)
    if policy.format_override:
        reason = "format forced by configuration"
    elif detection.configured:
        reason = "format configured for the key prefix (source_formats)"
    else:
        reason = "format detected from the key layout"
    return Decision(obj, "load", reason, detection.format)


@dataclass
class BackfillPlan:
    """Decisions for the objects of a backfill window; objects outside it are only counted."""

    loads: list[Decision] = field(default_factory=list)
    skips: list[Decision] = field(default_factory=list)
    outside_window: int = 0
    deferred: int = 0


def plan_backfill(
    objects: Iterable[SourceObject],
    policy: Policy,
    *,
    loaded: frozenset[str],
    manifest_prefix: str,
    window: tuple[datetime, datetime] | None,
    max_objects: int,
) -> BackfillPlan:
    """Decide every listed object: in the window [start, end) or not, then :func:`decide`.

    ``loaded`` holds the manifest keys that exist. At most ``max_objects`` are loaded; the rest are deferred
    to the next run, oldest first, so a long backlog drains in order.
    """
    plan = BackfillPlan()
    wanted: list[Decision] = []
    for obj in objects:
        if window is not None and obj.last_modified is not None and not window[0] <= obj.last_modified < window[1]:
            plan.outside_window += 1
            continue
        decision = decide(obj, policy, loaded=manifest_key(manifest_prefix, obj) in loaded)
        (wanted if decision.action == "load" else plan.skips).append(decision)
    wanted.sort(key=lambda d: (d.obj.last_modified is None, d.obj.last_modified, d.obj.key))
    plan.loads = wanted[:max_objects]
    plan.deferred = len(wanted) - len(plan.loads)
    return plan
