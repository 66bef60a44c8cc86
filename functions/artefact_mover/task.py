"""The work of a run: promote or move one build, or sweep old builds (retain)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import ValidationError

from functions.artefact_mover import inventory
from functions.artefact_mover.execute import Mover
from functions.artefact_mover.manifest import Moved
from functions.artefact_mover.models import ArtefactMoverInput, Marker, Place, render
from functions.artefact_mover.plan import (
    BuildDecision,
    ObjectView,
    Transfer,
    builds_of,
    plan_retention,
    plan_transfer,
    resolve_transfer,
    undeclared,
)
from shared.errors import InputError
from shared.observability import logger
from shared.report import Action, UnitResult
from shared.runner import RunContext, Task
from shared.units import Unit

NAME = "artefact-mover"

PERMISSIONS = frozenset(
    {
        "s3:ListBucket",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectTagging",
        "s3:GetObjectVersionTagging",
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:PutObjectVersionTagging",
        "s3:AbortMultipartUpload",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        # the SQS event source mapping polls the marker queue with the function's role
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
)
"""The IAM actions this task calls (besides the shared ones); serverless.yml grants exactly these, per bucket."""

KMS_PERMISSIONS = frozenset({"kms:Decrypt", "kms:GenerateDataKey"})
"""Needed only when artefacts are encrypted with (or copied to) a customer-managed KMS key."""


def work(params: ArtefactMoverInput, unit: Unit, result: UnitResult, ctx: RunContext) -> None:
    base = unit.clients
    src = base.assume(params.source_role_arn) if params.source_role_arn else base
    dst = base.assume(params.destination_role_arn) if params.destination_role_arn else base
    src_s3: Any = src.client("s3", unit.region)
    dst_s3: Any = dst.client("s3", unit.region)
    if params.operation == "retain":
        if params.bucket is None:
            raise InputError(
                "retain needs bucket (the builds bucket; DEVOPS_TASKS_BUCKET in the function's environment)"
            )
        retain(params, src_s3, dst_s3, result, ctx)
        return
    marker = None
    if params.marker_key and params.bucket:
        marker = read_marker(src_s3, params.bucket, params.marker_key)
    version = marker.version if marker is not None and not params.version and params.destination is None else None
    transfer = resolve_transfer(params, version)
    run_transfer(transfer, params, src_s3, dst_s3, result, ctx, operation=params.operation, marker=marker)


def read_marker(s3: Any, bucket: str, key: str) -> Marker:
    """The marker's declarations: an empty or non-JSON marker declares nothing; a JSON object is validated."""
    try:
        return Marker.model_validate(inventory.read_json(s3, bucket, key) or {})
    except ValidationError as exc:
        raise InputError.from_validation(f"marker s3://{bucket}/{key}", exc) from exc


def run_transfer(
    transfer: Transfer,
    params: ArtefactMoverInput,
    src_s3: Any,
    dst_s3: Any,
    result: UnitResult,
    ctx: RunContext,
    *,
    operation: str,
    sources: list[ObjectView] | None = None,
    marker: Marker | None = None,
) -> bool:
    """Copy and verify every object; then write the manifest; then, for a move, delete the sources.

    Sources are deleted only when every object of the transfer is verified at the destination (and the manifest
    is written), so a failed or interrupted run leaves every source in place and the next run finishes the job.
    Returns whether the transfer is complete (for a move: every source deleted).
    """
    logger.info("transfer started", transfer=transfer.label)
    if sources is None:
        sources = inventory.list_objects(src_s3, transfer.source)
    if not sources:
        _nothing_to_do(transfer, params, dst_s3, result)
        return True
    if marker is not None and params.marker_key:
        why = undeclared(sources, transfer.source.prefix, params.marker_key, marker)
        if why is not None:
            logger.warning("build deferred: still uploading", transfer=transfer.label, reason=why)
            result.complete = False
            result.count("deferred")
            result.add(
                Action(
                    action="transfer",
                    resource=transfer.source.uri,
                    reason=f"{why}: still uploading; deferred",
                    status="skipped",
                )
            )
            return False
    existing = {o.key: o for o in inventory.list_objects(dst_s3, transfer.destination)}
    decisions = plan_transfer(transfer, sources, existing, params.manifest_name)
    mover = Mover(src_s3=src_s3, dst_s3=dst_s3, transfer=transfer, params=params, result=result, budget=ctx.budget)
    failed_before, deferred_before = len(result.failures), result.counts.get("deferred", 0)
    moved = mover.copy_all(decisions)
    wanted = sum(1 for d in decisions if d.action != "skip")
    complete = (
        len(moved) == wanted
        and len(result.failures) == failed_before
        and result.counts.get("deferred", 0) == deferred_before
    )
    if params.dry_run:
        if transfer.delete_source:
            result.count("delete_planned", wanted)
        return True
    if not complete:
        logger.warning("transfer incomplete: sources kept", transfer=transfer.label, verified=len(moved), of=wanted)
        return False
    if not mover.write_manifest(moved, operation=operation, run_id=ctx.report.run_id, now=ctx.now):
        return False
    if transfer.delete_source:
        return mover.delete_sources(moved)
    return True


def _nothing_to_do(transfer: Transfer, params: ArtefactMoverInput, dst_s3: Any, result: UnitResult) -> None:
    """An empty source is a finished move when its manifest is at the destination, and a mistake otherwise."""
    manifest_key = transfer.destination.prefix + params.manifest_name
    if transfer.manifest and inventory.head(dst_s3, transfer.destination.bucket, manifest_key) is not None:
        result.add(
            Action(
                action="transfer",
                resource=transfer.source.uri,
                reason=f"nothing left at the source; {transfer.destination.uri}{params.manifest_name} exists",
                status="done",
            )
        )
        result.count("already_done")
        return
    result.fail("list", f"no objects under {transfer.source.uri}", resource=transfer.source.uri)


def retain(params: ArtefactMoverInput, src_s3: Any, dst_s3: Any, result: UnitResult, ctx: RunContext) -> None:
    """Keep the newest builds of each project (and branch); archive (move) or delete the older ones."""
    assert params.bucket is not None
    layout = params.layout
    root = Place(params.bucket, layout.builds.split("{", 1)[0])
    objects = inventory.list_objects(src_s3, root)
    by_build: dict[str, list[ObjectView]] = defaultdict(list)
    for obj in objects:
        found = layout.values_of(obj.key)
        if found is not None:
            by_build[found["prefix"]].append(obj)
    decisions = plan_retention(builds_of(objects, layout), params.retention, ctx.now)
    for d in decisions:
        if d.action == "keep":
            _record_build(result, d, "done")
            result.count("builds_kept")
    for d in (d for d in decisions if d.action != "keep"):
        if ctx.budget.exhausted():
            result.complete = False
            _record_build(result, d, "skipped", "; not started: time budget exhausted")
            result.count("deferred")
            continue
        if params.dry_run:
            _record_build(result, d, "planned")
            result.count(f"{d.action}_planned")
            continue
        if d.action == "archive":
            _archive(params, d, by_build[d.build.prefix], src_s3, dst_s3, result, ctx)
        else:
            _delete_build(params, d, by_build[d.build.prefix], src_s3, result, ctx)


def _archive(
    params: ArtefactMoverInput,
    d: BuildDecision,
    objects: list[ObjectView],
    src_s3: Any,
    dst_s3: Any,
    result: UnitResult,
    ctx: RunContext,
) -> None:
    assert params.bucket is not None
    values = {"project": d.build.project, "branch": d.build.branch, "build": d.build.build}
    target = Place(params.archive_bucket or params.bucket, render(params.layout.archive, values))
    transfer = Transfer(
        Place(params.bucket, d.build.prefix),
        target,
        delete_source=True,
        storage_class=params.archive_storage_class,
        manifest=False,
    )
    if transfer.source.overlaps(transfer.destination):
        result.fail("archive", InputError(f"archive {target.uri} overlaps the build"), resource=transfer.source.uri)
        return
    done = run_transfer(transfer, params, src_s3, dst_s3, result, ctx, operation="archive", sources=objects)
    _record_build(result, d, "done" if done else "failed", f"; archived to {target.uri}" if done else "")
    result.count("builds_archived" if done else "builds_not_archived")


def _delete_build(
    params: ArtefactMoverInput,
    d: BuildDecision,
    objects: list[ObjectView],
    s3: Any,
    result: UnitResult,
    ctx: RunContext,
) -> None:
    """Delete the build's current objects, each only if unchanged since listed (versioned buckets keep them)."""
    assert params.bucket is not None
    transfer = Transfer(Place(params.bucket, d.build.prefix), Place(params.bucket, d.build.prefix), True)
    mover = Mover(src_s3=s3, dst_s3=s3, transfer=transfer, params=params, result=result, budget=ctx.budget)
    ok = mover.delete_sources([Moved(o.key, None, o.etag, o.key, o.size, None) for o in objects])
    _record_build(result, d, "done" if ok else "failed")
    result.count("builds_deleted" if ok else "builds_not_deleted")


def _record_build(result: UnitResult, d: BuildDecision, status: Any, note: str = "") -> None:
    b = d.build
    result.add(
        Action(
            action=d.action,
            resource=f"{b.prefix}",
            reason=d.reason + note,
            status=status,
            detail={"project": b.project, "branch": b.branch, "build": b.build, "objects": b.objects, "bytes": b.bytes},
        )
    )


TASK = Task(name=NAME, params_model=ArtefactMoverInput, work=work)
