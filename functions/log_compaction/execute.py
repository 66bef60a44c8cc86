"""The only module of the compaction that changes AWS: it writes generations, switches partitions, deletes.

One partition, in this order, each step safe to interrupt (the partition stays readable and complete):
  1. each output file: its inputs downloaded (``If-Match`` the listed ETag), merged sorted by event time,
     checked locally, uploaded under the generation's prefix, read back from S3 and checked again (row count,
     event-time range and sum, non-null counts per column, time order) against its inputs;
  2. the partition's lake prefix listed again: a file added or changed since the plan defers the partition;
  3. the generation's manifest written (inputs with their ETags, outputs, fingerprint);
  4. the Glue partition switched to the generation (``UpdatePartition``), if it still has the planned location;
  5. the manifest updated with the switch time.
A later run, ``grace_hours`` after the switch, deletes the generation's inputs, each only while it still has
the ETag recorded in the manifest (``If-Match``), and records that in the manifest. A generation that was written
and never switched to (its switch deferred or refused, and the partition compacted into another since) is
discarded by a run ``grace_hours`` after its manifest was last written: its outputs in the versions the manifest
records, then the manifest in the version read.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from functions.log_compaction.inventory import files_under, generation_of, manifest_doc
from functions.log_compaction.merge import MergeError, Tally, check_file, merge_files, schema_of
from functions.log_compaction.models import CompactionInput, Fingerprint, Generation, LakeFile
from functions.log_compaction.plan import Compaction, Deletion, Discard, PartitionPlan, location_of, manifest_key
from shared.observability import logger
from shared.report import Action, UnitResult

GONE = frozenset({"NoSuchKey", "404", "NotFound"})
CHANGED = frozenset({"PreconditionFailed", "412"})


class Deferred(Exception):
    """The partition changed while it was being compacted; the next run plans it again."""


def _code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def combine(prints: Iterable[Fingerprint]) -> Fingerprint:
    tally = Tally()
    for fp in prints:
        tally.rows += fp.rows
        if fp.min_time is not None:
            tally.min_time = fp.min_time if tally.min_time is None else min(tally.min_time, fp.min_time)
        if fp.max_time is not None:
            tally.max_time = fp.max_time if tally.max_time is None else max(tally.max_time, fp.max_time)
        tally.time_sum = (tally.time_sum + fp.time_sum) & ((1 << 64) - 1)
        for name, n in fp.non_null:
            tally.non_null[name] = tally.non_null.get(name, 0) + n
    return tally.done()


@dataclass
class Compactor:
    params: CompactionInput
    s3: Any
    glue: Any
    result: UnitResult
    now: datetime
    spool_dir: str | None = None

    @property
    def bucket(self) -> str:
        return self.params.lake_bucket or ""

    def run(self, p: PartitionPlan) -> None:
        where = location_of(self.bucket, p.state.base_prefix)
        if p.record_switch is not None:
            self._guarded("record-switch", where, lambda: self._record_switch(p, p.record_switch))
        for deletion in p.deletions:
            self._guarded("delete", where, lambda d=deletion: self._delete(p, d))
        for discard in p.discards:
            self._guarded("discard", where, lambda d=discard: self._discard(p, d))
        if p.action == "error":
            self.result.fail("plan", p.reason, resource=where)
            self.result.add(Action(action="compact", resource=where, reason=p.reason, status="failed"))
            return
        if p.action == "skip" or p.compaction is None:
            self.result.add(Action(action="compact", resource=where, reason=p.reason, status="skipped"))
            self.result.count("partitions_skipped")
            return
        c = p.compaction
        detail: dict[str, Any] = {
            "generation": c.id,
            "files_in": len(c.inputs),
            "files_out": len(c.groups),
            "bytes_in": sum(f.size for f in c.inputs),
            "outputs": {key: [f.key for f in group] for key, group in zip(c.output_keys, c.groups, strict=True)},
        }
        if self.params.dry_run:
            self.result.add(Action(action="compact", resource=where, reason=p.reason, status="planned", detail=detail))
            self.result.count("partitions_planned")
            return
        try:
            gen, fingerprint = self._compact(p, c)
        except Deferred as exc:
            self.result.add(Action(action="compact", resource=where, reason=str(exc), status="skipped"))
            self.result.count("partitions_deferred")
            return
        except Exception as exc:  # noqa: BLE001 - recorded; the partition keeps its location, the run fails
            logger.exception("compaction failed", partition=where, generation=c.id)
            self.result.fail("compact", exc, resource=where)
            self.result.add(Action(action="compact", resource=where, reason=p.reason, status="failed", detail=detail))
            return
        detail.update(rows=fingerprint.rows, bytes_out=sum(f.size for f in gen.outputs))
        self.result.add(Action(action="compact", resource=where, reason=p.reason, status="done", detail=detail))
        self.result.count("partitions_compacted")
        self.result.count("files_in", len(c.inputs))
        self.result.count("files_out", len(gen.outputs))
        self.result.count("rows_compacted", fingerprint.rows)

    def _guarded(self, operation: str, where: str, step: Any) -> None:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - recorded; the step is retried by the next run
            logger.exception("compaction step failed", operation=operation, partition=where)
            self.result.fail(operation, exc, resource=where)

    # -- writing a generation ------------------------------------------------------------------------------

    def _compact(self, p: PartitionPlan, c: Compaction) -> tuple[Generation, Fingerprint]:
        """Write, check and switch to the generation. When the partition changed meanwhile (:class:`Deferred`) or
        an output does not hold its inputs' rows (:class:`MergeError`), nothing points at what this run wrote:
        those objects are deleted again, each in the version this run wrote, before the error goes on."""
        wrote: list[LakeFile] = []
        try:
            return self._write_generation(p, c, wrote)
        except (Deferred, MergeError):
            self._remove_written(wrote)
            raise

    def _write_generation(
        self, p: PartitionPlan, c: Compaction, wrote: list[LakeFile]
    ) -> tuple[Generation, Fingerprint]:
        outputs: list[LakeFile] = []
        prints: list[Fingerprint] = []
        with tempfile.TemporaryDirectory(dir=self.spool_dir, prefix="compaction-") as tmp:
            folder = Path(tmp)
            for key, group in zip(c.output_keys, c.groups, strict=True):
                written, fp = self._write_output(folder, key, group, wrote)
                outputs.append(written)
                prints.append(fp)
        if set(files_under(self.s3, self.bucket, p.state.base_prefix)) != set(p.state.base_files):
            raise Deferred("files were added to or changed in the lake prefix during the compaction; next run")
        fingerprint = combine(prints)
        gen = Generation(id=c.id, prefix=c.prefix, inputs=c.inputs, outputs=tuple(outputs), covered=c.covered)
        wrote.append(self._put_manifest(p, gen, c.replaces, fingerprint))
        self._switch(p, c)
        self._put_manifest(p, _with(gen, switched_at=self.now), c.replaces, fingerprint)
        logger.info("partition compacted", partition=p.state.base_prefix, generation=c.id, rows=fingerprint.rows)
        return gen, fingerprint

    def _remove_written(self, wrote: list[LakeFile]) -> None:
        outcomes = [self._delete_version(f.key, f.etag) for f in reversed(wrote)]
        self.result.count("written_removed", outcomes.count("deleted"))
        logger.info("written objects removed", objects=len(wrote), deleted=outcomes.count("deleted"))

    def _write_output(
        self, folder: Path, key: str, group: tuple[LakeFile, ...], wrote: list[LakeFile]
    ) -> tuple[LakeFile, Fingerprint]:
        paths = [self._download(f, folder / f"in-{i}.parquet") for i, f in enumerate(group)]
        schema = schema_of(paths[0])
        out = folder / "out.parquet"
        expected, _ = merge_files(
            paths, out, compression=self.params.compression, row_group_rows=self.params.row_group_rows
        )
        for path in paths:
            path.unlink()
        _same(check_file(out, schema), expected, f"{key} (local)")
        with out.open("rb") as body:
            resp = self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType="application/vnd.apache.parquet"
            )
        written = LakeFile(key, str(resp["ETag"]).strip('"'), out.stat().st_size)
        wrote.append(written)
        out.unlink()
        back = self._download(written, folder / "back.parquet")
        _same(check_file(back, schema), expected, f"s3://{self.bucket}/{key}")
        back.unlink()
        return written, expected

    def _download(self, f: LakeFile, path: Path) -> Path:
        resp = self.s3.get_object(Bucket=self.bucket, Key=f.key, IfMatch=f'"{f.etag}"')
        with path.open("wb") as fh:
            shutil.copyfileobj(resp["Body"], fh, 1 << 20)
        return path

    def _put_manifest(self, p: PartitionPlan, gen: Generation, replaces: str, fingerprint: Fingerprint) -> LakeFile:
        s = p.state
        doc = manifest_doc(gen, log_format=s.format, dt=s.dt, hour=s.hour, replaces=replaces, fingerprint=fingerprint)
        return self._write_doc(manifest_key(self.params.compacted_prefix, s.format, s.dt, s.hour, gen.id), doc)

    def _write_doc(self, key: str, doc: dict[str, Any]) -> LakeFile:
        body = json.dumps(doc, indent=1, sort_keys=True).encode()
        resp = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        return LakeFile(key, str(resp["ETag"]).strip('"'), len(body))

    def _switch(self, p: PartitionPlan, c: Compaction) -> None:
        s = p.state
        table = self.params.table_name(s.format)
        db = self.params.glue_database
        part = self.glue.get_partition(DatabaseName=db, TableName=table, PartitionValues=[s.dt, s.hour])["Partition"]
        descriptor = dict(part["StorageDescriptor"])
        location = str(descriptor.get("Location", ""))
        location = location if location.endswith("/") else location + "/"
        if location == location_of(self.bucket, c.prefix):
            return  # switched to this very generation already (an earlier delivery of the same compaction)
        if location != c.replaces:
            raise Deferred(f"the partition's location changed to {location} during the compaction; next run")
        descriptor["Location"] = location_of(self.bucket, c.prefix)
        partition_input: dict[str, Any] = {"Values": [s.dt, s.hour], "StorageDescriptor": descriptor}
        if part.get("Parameters"):
            partition_input["Parameters"] = part["Parameters"]
        self.glue.update_partition(
            DatabaseName=db, TableName=table, PartitionValueList=[s.dt, s.hour], PartitionInput=partition_input
        )

    # -- after the switch -----------------------------------------------------------------------------------

    def _update_manifest(self, p: PartitionPlan, gen: Generation, **fields: str) -> None:
        s = p.state
        key = manifest_key(self.params.compacted_prefix, s.format, s.dt, s.hour, gen.id)
        doc = json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        if generation_of(doc).id != gen.id:
            raise MergeError(f"manifest {key} is not the one of generation {gen.id}")
        doc.update(fields)
        self._write_doc(key, doc)

    def _record_switch(self, p: PartitionPlan, gen: Generation) -> None:
        if self.params.dry_run:
            return
        self._update_manifest(p, gen, switched_at=self.now.isoformat())
        self.result.count("switches_recorded")

    def _delete(self, p: PartitionPlan, d: Deletion) -> None:
        where = location_of(self.bucket, p.state.base_prefix)
        keys = [f.key for f in d.files]
        if self.params.dry_run:
            self.result.add(
                Action(
                    action="delete",
                    resource=where,
                    reason=f"replaced by generation {d.generation.id}; grace period over",
                    status="planned",
                    detail={"keys": keys},
                )
            )
            self.result.count("delete_planned", len(keys))
            return
        deleted = kept = 0
        for f in d.files:
            try:
                self.s3.delete_object(Bucket=self.bucket, Key=f.key, IfMatch=f'"{f.etag}"')
                deleted += 1
            except self.s3.exceptions.ClientError as exc:
                if _code(exc) in GONE:
                    continue
                if _code(exc) in CHANGED:
                    kept += 1  # rewritten since the compaction recorded it: not the file it replaced
                    continue
                raise
        self._update_manifest(p, d.generation, deleted_at=self.now.isoformat())
        self.result.count("files_deleted", deleted)
        if kept:
            self.result.count("files_kept_changed", kept)
        self.result.add(
            Action(
                action="delete",
                resource=where,
                reason=f"replaced by generation {d.generation.id}; grace period over",
                status="done",
                detail={"keys": keys, "deleted": deleted, "kept_changed": kept},
            )
        )

    def _discard(self, p: PartitionPlan, d: Discard) -> None:
        """An abandoned generation's outputs, each in the version its manifest records, then the manifest in the
        version read; a file or manifest rewritten since is kept (the next run looks again)."""
        s, gen = p.state, d.generation
        where = location_of(self.bucket, p.state.base_prefix)
        key = manifest_key(self.params.compacted_prefix, s.format, s.dt, s.hour, gen.id)
        keys = [f.key for f in gen.outputs]
        reason = f"generation {gen.id} was written and never switched to; idle longer than the grace period"
        if self.params.dry_run:
            plan: dict[str, Any] = {"keys": keys, "manifest": key}
            self.result.add(Action(action="discard", resource=where, reason=reason, status="planned", detail=plan))
            self.result.count("discard_planned", len(keys))
            return
        deleted = kept = 0
        for f in gen.outputs:
            outcome = self._delete_version(f.key, f.etag)
            deleted += outcome == "deleted"
            kept += outcome == "changed"
        manifest = self._delete_version(key, gen.manifest_etag or "") if not kept else "kept"
        self.result.count("generations_discarded" if manifest in ("deleted", "gone") else "generations_kept")
        self.result.count("files_discarded", deleted)
        if kept:
            self.result.count("files_kept_changed", kept)
        done: dict[str, Any] = {
            "keys": keys,
            "deleted": deleted,
            "kept_changed": kept,
            "manifest": f"{key}: {manifest}",
        }
        self.result.add(Action(action="discard", resource=where, reason=reason, status="done", detail=done))

    def _delete_version(self, key: str, etag: str) -> str:
        """Delete ``key`` only while it has ``etag``: "deleted", "gone" (nothing there) or "changed"."""
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=key, IfMatch=f'"{etag}"')
        except self.s3.exceptions.ClientError as exc:
            if _code(exc) in GONE:
                return "gone"
            if _code(exc) in CHANGED:
                return "changed"
            raise
        return "deleted"


def _with(gen: Generation, **changes: Any) -> Generation:
    from dataclasses import replace

    return replace(gen, **changes)


def _same(got: Fingerprint, expected: Fingerprint, what: str) -> None:
    if got != expected:
        raise MergeError(f"{what} does not hold the rows of its inputs: {got.to_dict()} != {expected.to_dict()}")
