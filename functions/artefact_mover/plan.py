"""Pure planning: which objects go where, which builds to keep, archive or delete. Never AWS, never the clock."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from functions.artefact_mover.models import ArtefactMoverInput, Layout, Marker, Place, Retention
from shared.errors import InputError


@dataclass(frozen=True)
class ObjectView:
    """What a listing says of an object."""

    key: str
    size: int
    etag: str
    last_modified: datetime


@dataclass(frozen=True)
class Transfer:
    """Copy everything under ``source`` to the same relative keys under ``destination``; maybe delete the source."""

    source: Place
    destination: Place
    delete_source: bool
    storage_class: str | None = None
    manifest: bool = True

    @property
    def label(self) -> str:
        verb = "move" if self.delete_source else "copy"
        return f"{verb} {self.source.uri} -> {self.destination.uri}"


@dataclass(frozen=True)
class ObjectDecision:
    """One object of a transfer: copy it, check the copy already there, or leave it, with the reason."""

    action: Literal["copy", "check", "skip"]
    source_key: str
    dest_key: str
    size: int
    etag: str
    reason: str


def build_values(layout: Layout, key: str) -> dict[str, str] | None:
    """The placeholder values (and ``prefix``) of the build a key belongs to, or None outside the layout."""
    return layout.values_of(key)


def resolve_transfer(params: ArtefactMoverInput, marker_version: str | None = None) -> Transfer:
    """The source and destination of a promote or move, from explicit places or the layout.

    Refuses (``InputError``) a destination that is the source, or inside it, or contains it: however the two are
    spelled (``s3://`` URI, ARN, bucket and prefix, upper-case bucket, missing trailing ``/``), they are compared
    in one canonical form.
    """
    try:
        source, destination = params.places(marker_version)
    except ValueError as exc:
        raise InputError(f"invalid input: {exc}") from exc
    if source.overlaps(destination):
        raise InputError(
            f"refused: destination {destination.uri} and source {source.uri} overlap; "
            "objects would be moved onto themselves"
        )
    return Transfer(
        source=source,
        destination=destination,
        delete_source=params.operation == "move",
        storage_class=params.storage_class,
        manifest=params.write_manifest,
    )


def plan_transfer(
    transfer: Transfer,
    source_objects: Iterable[ObjectView],
    destination_objects: Mapping[str, ObjectView],
    manifest_name: str,
) -> list[ObjectDecision]:
    """One decision per source object, in key order.

    ``copy`` when nothing is at the destination key; ``check`` when something is (the executor verifies it and
    copies only if it differs, which makes re-runs finish a job without copying twice); ``skip`` for an object
    that would land on itself or on the release manifest (kept where it is, with the reason).
    """
    src, dst = transfer.source, transfer.destination
    manifest_key = dst.prefix + manifest_name if transfer.manifest else None
    decisions = []
    for obj in sorted(source_objects, key=lambda o: o.key):
        if not obj.key.startswith(src.prefix):
            continue
        dest_key = dst.prefix + obj.key[len(src.prefix) :]
        if src.bucket == dst.bucket and dest_key == obj.key:
            decisions.append(ObjectDecision("skip", obj.key, dest_key, obj.size, obj.etag, "destination is the source"))
        elif dest_key == manifest_key:
            decisions.append(
                ObjectDecision("skip", obj.key, dest_key, obj.size, obj.etag, "its key is that of the release manifest")
            )
        elif dest_key in destination_objects:
            decisions.append(
                ObjectDecision(
                    "check",
                    obj.key,
                    dest_key,
                    obj.size,
                    obj.etag,
                    "already at the destination: verify, copy if different",
                )
            )
        else:
            decisions.append(ObjectDecision("copy", obj.key, dest_key, obj.size, obj.etag, "not at the destination"))
    return decisions


def undeclared(sources: Iterable[ObjectView], prefix: str, marker_key: str, marker: Marker) -> str | None:
    """Why the build is not (yet) what its marker declares, or None when it is (or the marker declares nothing).

    The build's objects are those under ``prefix`` other than the marker itself.
    """
    there = {o.key[len(prefix) :] for o in sources if o.key.startswith(prefix) and o.key != marker_key}
    if marker.files is not None:
        listed = set(marker.files)
        if missing := sorted(listed - there):
            return f"the marker lists {len(listed)} files and {len(missing)} are not there (first: {missing[0]!r})"
        if extra := sorted(there - listed):
            return f"{len(extra)} files are there that the marker does not list (first: {extra[0]!r})"
    if marker.file_count is not None and marker.file_count != len(there):
        return f"the marker declares {marker.file_count} files and {len(there)} are there"
    return None


@dataclass(frozen=True)
class BuildView:
    """One build found under the builds layout."""

    project: str
    branch: str | None
    build: str
    prefix: str
    newest: datetime
    objects: int
    bytes: int

    @property
    def line(self) -> str:
        return f"{self.project}/{self.branch}" if self.branch is not None else self.project


@dataclass(frozen=True)
class BuildDecision:
    build: BuildView
    action: Literal["keep", "archive", "delete"]
    reason: str


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key where ``build-10`` comes after ``build-9``."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text) if p)


def builds_of(objects: Iterable[ObjectView], layout: Layout) -> list[BuildView]:
    """Group listed objects into builds; objects outside the layout are not part of any build."""
    found: dict[str, list[ObjectView]] = defaultdict(list)
    values: dict[str, dict[str, str]] = {}
    for obj in objects:
        v = build_values(layout, obj.key)
        if v is None:
            continue
        found[v["prefix"]].append(obj)
        values[v["prefix"]] = v
    return [
        BuildView(
            project=values[p]["project"],
            branch=values[p].get("branch"),
            build=values[p]["build"],
            prefix=p,
            newest=max(o.last_modified for o in objs),
            objects=len(objs),
            bytes=sum(o.size for o in objs),
        )
        for p, objs in sorted(found.items())
    ]


def newest_first(builds: Sequence[BuildView]) -> list[BuildView]:
    """Newest first by their newest object; ties broken by build id (naturally sorted), so plans are deterministic."""
    return sorted(builds, key=lambda b: (b.newest, natural_key(b.build), b.prefix), reverse=True)


def plan_retention(builds: Iterable[BuildView], retention: Retention, now: datetime) -> list[BuildDecision]:
    """Keep the newest ``keep_last`` builds of each project (and branch); archive or delete the older ones.

    Never touched: a build with an object younger than ``min_age_hours`` (it may still be uploading), and builds
    of projects not selected by ``retention.projects``.
    """
    lines: dict[tuple[str, str | None], list[BuildView]] = defaultdict(list)
    decisions = []
    for build in builds:
        if retention.projects and build.project not in retention.projects:
            decisions.append(BuildDecision(build, "keep", "project not selected"))
        else:
            lines[(build.project, build.branch)].append(build)
    young = now - timedelta(hours=retention.min_age_hours)
    for key in sorted(lines, key=lambda k: (k[0], k[1] or "")):
        for index, build in enumerate(newest_first(lines[key])):
            if index < retention.keep_last:
                decisions.append(
                    BuildDecision(build, "keep", f"one of the newest {retention.keep_last} of {build.line}")
                )
            elif build.newest > young:
                decisions.append(
                    BuildDecision(build, "keep", f"has objects younger than {retention.min_age_hours:g} hours")
                )
            else:
                decisions.append(
                    BuildDecision(
                        build, retention.action, f"older than the newest {retention.keep_last} of {build.line}"
                    )
                )
    return decisions
