"""The log ETL task: S3 log objects -> Parquet lake partitioned by event time, Glue catalog, quarantine.

Three triggers share one loader: S3 ``ObjectCreated`` notifications through SQS (see :mod:`.events`), a
scheduled backfill over a prefix and a last-modified window, and a manual run over a list of keys (both through
:func:`work`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.log_etl.catalog import Catalog
from functions.log_etl.execute import ObjectOutcome, SupersededError, load_object
from functions.log_etl.models import LogEtlInput, SourceObject
from functions.log_etl.plan import (
    Decision,
    Policy,
    manifest_key,
    manifest_listing_prefix,
    plan_backfill,
)
from shared.aws import Clients
from shared.errors import InputError
from shared.progress import advance
from shared.report import Action, UnitResult
from shared.runner import RunContext, Task
from shared.units import Unit

NAME = "log-etl"

PERMISSIONS = frozenset(
    {
        # source objects (and the lake's manifests, read back to skip loaded objects)
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucket",
        # lake: Parquet, quarantine, manifests (multipart uploads above 64 MB; aborted on failure)
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        # catalog
        "glue:GetDatabase",
        "glue:CreateDatabase",
        "glue:GetTable",
        "glue:CreateTable",
        "glue:BatchCreatePartition",
        # the SQS event source mapping polls the queue with the function's role
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
)
"""The IAM actions this task calls (besides shared.permissions); serverless.yml grants exactly these."""

COUNT_KEYS = ("lines_in", "rows_out", "rows_rejected", "lines_skipped")


def policy_of(params: LogEtlInput) -> Policy:
    return Policy(
        format_override=params.format,
        source_formats=tuple((entry.prefix, entry.format) for entry in params.source_formats),
        reprocess=params.reprocess,
        lake_bucket=params.lake_bucket,
        own_prefixes=(params.lake_prefix, params.quarantine_prefix, params.manifest_prefix, params.report_prefix),
    )


def require_lake(params: LogEtlInput) -> str:
    if not params.lake_bucket:
        raise InputError("lake_bucket is not set (DEVOPS_TASKS_LAKE_BUCKET)")
    return params.lake_bucket


@dataclass
class Loader:
    """Loads objects one by one into the lake and records each outcome in ``result``."""

    params: LogEtlInput
    s3: Any
    catalog: Catalog | None
    result: UnitResult
    now: datetime

    def manifest_exists(self, obj: SourceObject) -> bool:
        if self.params.reprocess or not (obj.etag or obj.version_id):
            return False
        try:
            self.s3.head_object(Bucket=self.params.lake_bucket, Key=manifest_key(self.params.manifest_prefix, obj))
        except self.s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def skip(self, decision: Decision) -> None:
        self.result.add(Action(action="skip", resource=decision.obj.uri, reason=decision.reason, status="skipped"))
        self.result.count("objects_skipped")

    def plan_only(self, decision: Decision) -> None:
        self.result.add(
            Action(
                action="load",
                resource=decision.obj.uri,
                reason=decision.reason,
                status="planned",
                detail={"format": decision.format},
            )
        )
        self.result.count("objects_planned")

    def load(self, decision: Decision) -> bool:
        """Load one object; False (and a recorded failure) when it could not be loaded."""
        uri = decision.obj.uri
        if decision.format is None:
            raise ValueError(f"no format decided for {uri}")
        try:
            outcome = load_object(
                self.s3, decision.obj, decision.format, self.params, now=self.now, before_manifest=self._register
            )
        except SupersededError as exc:
            self.result.add(Action(action="skip", resource=uri, reason=str(exc), status="skipped"))
            self.result.count("objects_superseded")
            return True
        except Exception as exc:  # noqa: BLE001 - recorded; the run (or the SQS message) fails at the end
            self.result.fail("load", exc, resource=uri)
            self.result.add(Action(action="load", resource=uri, reason=decision.reason, status="failed"))
            return False
        return self._record(decision, outcome)

    def _register(self, outcome: ObjectOutcome) -> None:
        """Register the object's partitions (before its manifest: a failure here leaves the object to retry)."""
        if self.catalog is not None and outcome.partitions:
            self.catalog.register(outcome.format, {(p.dt, p.hour) for p in outcome.partitions})

    def _record(self, decision: Decision, outcome: ObjectOutcome) -> bool:
        uri = decision.obj.uri
        detail = outcome.detail()
        if outcome.unreadable is not None:
            self.result.add(
                Action(
                    action="quarantine",
                    resource=uri,
                    reason=f"object unreadable: {outcome.unreadable}",
                    status="done",
                    detail=detail,
                )
            )
            self.result.count("objects_unreadable")
            return True
        self.result.add(Action(action="load", resource=uri, reason=decision.reason, status="done", detail=detail))
        self.result.count("objects_loaded")
        self.result.count("partition_files", len(outcome.partitions))
        for key in COUNT_KEYS:
            self.result.count(key, getattr(outcome, key))
        return True


def make_loader(params: LogEtlInput, clients: Clients, region: str, result: UnitResult, now: datetime) -> Loader:
    lake = require_lake(params)
    catalog = None
    if params.glue_database:
        catalog = Catalog(
            clients.client("glue", region),
            database=params.glue_database,
            lake_bucket=lake,
            lake_prefix=params.lake_prefix,
            table_prefix=params.table_prefix,
            compression=params.compression,
        )
    return Loader(params, clients.client("s3", region), catalog, result, now)


def _listed(s3: Any, bucket: str, prefix: str) -> Iterator[SourceObject]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield SourceObject(
                bucket=bucket,
                key=item["Key"],
                etag=str(item.get("ETag", "")).strip('"') or None,
                size=item.get("Size"),
                last_modified=item.get("LastModified"),
            )


def _manifests(s3: Any, params: LogEtlInput, bucket: str) -> frozenset[str]:
    if params.reprocess:
        return frozenset()
    prefix = manifest_listing_prefix(params.manifest_prefix, bucket, params.prefix)
    found: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=params.lake_bucket, Prefix=prefix):
        found.update(item["Key"] for item in page.get("Contents", []))
    return frozenset(found)


def _manual(s3: Any, bucket: str, keys: list[str], result: UnitResult) -> Iterator[SourceObject]:
    for key in keys:
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except Exception as exc:  # noqa: BLE001 - recorded as this key's failure; the others go on
            result.fail("head", exc, resource=f"s3://{bucket}/{key}")
            continue
        yield SourceObject(
            bucket=bucket,
            key=key,
            etag=str(head.get("ETag", "")).strip('"') or None,
            size=head.get("ContentLength"),
            last_modified=head.get("LastModified"),
        )


def work(params: LogEtlInput, unit: Unit, result: UnitResult, ctx: RunContext) -> None:
    """Backfill (``prefix`` + window) or manual (``keys``) load of ``source_bucket`` for one unit."""
    if not params.source_bucket:
        raise InputError("source_bucket is not set (DEVOPS_TASKS_SOURCE_BUCKET) for a backfill or manual run")
    loader = make_loader(params, unit.clients, unit.region, result, ctx.now)
    s3 = loader.s3
    if params.keys:
        objects = list(_manual(s3, params.source_bucket, params.keys, result))
        window = None
    else:
        objects = list(_listed(s3, params.source_bucket, params.prefix))
        window = params.window(ctx.now)
    plan = plan_backfill(
        objects,
        policy_of(params),
        loaded=_manifests(s3, params, params.source_bucket),
        manifest_prefix=params.manifest_prefix,
        window=window,
        max_objects=params.max_objects,
    )
    result.count("objects_listed", len(objects))
    if plan.outside_window:
        result.count("objects_outside_window", plan.outside_window)
    if plan.deferred:
        result.count("objects_deferred", plan.deferred)
        result.complete = False
    for decision in plan.skips:
        loader.skip(decision)
    total = len(plan.loads)
    for decision in plan.loads:
        if params.dry_run:
            loader.plan_only(decision)
            continue
        if ctx.budget.exhausted():
            result.complete = False
            result.count("objects_not_started")
            continue
        loader.load(decision)
        advance("objects loaded", 1, total)


TASK = Task(name=NAME, params_model=LogEtlInput, work=work)
