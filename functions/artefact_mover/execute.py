"""The only module that changes S3: copies, tags, manifests, deletions. Honours dry_run and the time budget.

For each object: copy exactly the object that was listed (conditional on its ETag), and only where the
destination is as we saw it (nothing there, or the object we replace); verify the version we wrote (size, then
checksum); confirm, once every copy is verified, that the current object at each destination key is still ours.
Only then are sources deleted, in DeleteObjects batches of up to 1,000 keys, each conditional on the ETag that
was verified (in a versioned bucket this leaves a delete marker, so no older version becomes current again). A
copy that does not verify is removed again by the VersionId (or, unversioned, the ETag) we wrote, and its source
kept; an object another writer put at the destination is never removed. Failures are recorded and the run fails
at the end.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from functions.artefact_mover import copies, inventory
from functions.artefact_mover.copies import Conflict, Written
from functions.artefact_mover.manifest import Moved, manifest_document
from functions.artefact_mover.models import ArtefactMoverInput
from functions.artefact_mover.plan import ObjectDecision, ObjectView, Transfer
from functions.artefact_mover.verify import KMS, Head, Verdict, compare, preserved_args
from shared.clock import TimeBudget
from shared.observability import logger
from shared.progress import advance
from shared.report import Action, ActionStatus, UnitResult

DELETE_BATCH = 1000
MANIFEST_ATTEMPTS = 5
PART_COPY_CONCURRENCY = 8
GONE = frozenset({"NoSuchKey", "NoSuchVersion"})
REPLACED = "another writer replaced our copy at the destination; theirs is kept, and so is the source"
RACED = "another writer put a different object at the destination meanwhile; not replaced, source kept"
CHANGED = "changed since it was listed (uploaded again); kept, not copied: a later run moves what is there then"

T = TypeVar("T")


@dataclass(frozen=True)
class _Copied:
    """A quick copy made, not yet verified."""

    d: ObjectDecision
    written: Written


class Mover:
    """Carries out one transfer's decisions and records every outcome in the unit's result."""

    def __init__(
        self,
        *,
        src_s3: Any,
        dst_s3: Any,
        transfer: Transfer,
        params: ArtefactMoverInput,
        result: UnitResult,
        budget: TimeBudget,
    ) -> None:
        self.src_s3, self.dst_s3 = src_s3, dst_s3
        self.transfer = transfer
        self.params = params
        self.result = result
        self.budget = budget
        self._decisions: dict[str, ObjectDecision] = {}

    # -- copies -------------------------------------------------------------------------------------------------

    def copy_all(self, decisions: Sequence[ObjectDecision]) -> list[Moved]:
        """Copy and verify every ``copy``/``check`` decision; return the objects verified (and still ours) at the
        destination.

        Single-part objects below the multipart threshold take the quick path: one CopyObject, verified by listing
        the destination (size and MD5 ETag, 1,000 keys a call). Whatever that cannot prove (a KMS-encrypted copy,
        a changed object), and every other object, takes the full path: HEAD the source and the copy with
        ``ChecksumMode=ENABLED`` and compare checksums. The same listing confirms that every verified object is
        still the current one at its key.
        """
        for d in decisions:
            if d.action == "skip":
                self._record(d, "skip", "skipped", d.reason)
        work = [d for d in decisions if d.action != "skip"]
        self._decisions = {d.dest_key: d for d in work}
        if self.params.dry_run:
            for d in work:
                self._record(d, d.action, "planned", d.reason, status="planned")
            return []
        quick = [d for d in work if self._quick(d)]
        full = [d for d in work if not self._quick(d)]
        total = len(work)
        with ThreadPoolExecutor(max_workers=self.params.object_workers, thread_name_prefix="copy") as pool:
            # Large objects first: the longest copies start early and the small ones fill the gaps.
            slow = [pool.submit(self._one, d, total, self._copy_verified) for d in full]
            fast = [pool.submit(self._one, d, total, self._quick_copy) for d in quick]
            done: list[Moved | None] = [f.result() for f in slow]
            copied = [f.result() for f in fast]
            done += [c for c in copied if isinstance(c, Moved)]
            unproven = [c for c in copied if isinstance(c, _Copied)]
            if not unproven and not any(done):
                return []
            listed = {o.key: o for o in inventory.list_objects(self.dst_s3, self.transfer.destination)}
            confirm = [pool.submit(self._one, c.d, 0, partial(self._confirm, c, listed)) for c in unproven]
            done += [f.result() for f in confirm]
        return self._still_ours([m for m in done if m is not None], listed)

    def _quick(self, d: ObjectDecision) -> bool:
        return (
            not self.params.head_every_object
            and d.action == "copy"
            and "-" not in d.etag
            and d.size < self.params.threshold
        )

    def _one(self, d: ObjectDecision, total: int, step: Callable[[ObjectDecision], T]) -> T | None:
        if self.budget.exhausted():
            self.result.complete = False
            self._record(d, d.action, "deferred", f"{d.reason}; not started: time budget exhausted", status="skipped")
            return None
        try:
            return step(d)
        except Exception as exc:  # noqa: BLE001 - one object's failure is recorded; the others go on
            self._failed(d, "copy", exc)
            return None
        finally:
            if total:
                advance("objects transferred", 1, total)

    def _quick_copy(self, d: ObjectDecision) -> _Copied | Moved | None:
        """One CopyObject of the listed object (its ETag) onto nothing (``IfNoneMatch``); S3 carries metadata and
        tags (COPY directives)."""
        try:
            written = copies.copy_object(
                self.dst_s3,
                source={"Bucket": self.transfer.source.bucket, "Key": d.source_key},
                source_etag=d.etag,
                bucket=self.transfer.destination.bucket,
                key=d.dest_key,
                IfNoneMatch="*",
                **self._extra(),
            )
        except Conflict:
            return self._copy_verified(d, conflicted=True)  # the source or the destination changed: look again
        return _Copied(d, written)

    def _confirm(self, c: _Copied, listed: dict[str, ObjectView], _: ObjectDecision) -> Moved | None:
        """Verify a quick copy by the destination listing, or else by HEADs and checksums."""
        d, w, found = c.d, c.written, listed.get(c.d.dest_key)
        if found is not None and found.etag == w.etag == d.etag and found.size == d.size and w.sse not in KMS:
            how = "size and md5 listed"
            logger.info("object copied", source=d.source_key, destination=d.dest_key, size=d.size, verified=how)
            self._record(d, "copy", "copied", f"{d.reason}; copied and verified ({how})")
            self.result.count("bytes_copied", d.size)
            checksum = "md5:" + d.etag.strip('"')
            return Moved(d.source_key, w.source_version, d.etag, d.dest_key, d.size, checksum, w.etag, w.version_id)
        src = inventory.head(self.src_s3, self.transfer.source.bucket, d.source_key, w.source_version)
        if src is None:
            self._failed(d, "verify", "the source version copied is gone; copy kept, nothing deleted")
            return None
        return self._verify_copy(d, src, w)

    def _copy_verified(self, d: ObjectDecision, conflicted: bool = False) -> Moved | None:
        """HEAD the source; copy it unless the same object is already at the destination; verify the copy.

        ``conflicted``: a conditional copy of this object was just refused, so the destination is looked at even
        for a ``copy`` decision, and an object found there is another writer's.
        """
        src_b, dst_b = self.transfer.source.bucket, self.transfer.destination.bucket
        src = inventory.head(self.src_s3, src_b, d.source_key)
        if src is None:
            self._record(d, d.action, "skipped", "source gone since it was listed", status="skipped")
            return None
        if src.etag != d.etag:
            self._failed(d, "copy", CHANGED)
            return None
        condition: dict[str, str] = {"IfNoneMatch": "*"}
        if d.action == "check" or conflicted:
            there = inventory.head(self.dst_s3, dst_b, d.dest_key)
            if there is not None:
                verdict = self._verdict(src, there)
                if verdict.same:
                    self._record(d, "verify", "already_there", f"already at the destination ({verdict.how})")
                    adopted = Written(there.etag, there.version_id)
                    if src.tag_count and there.tag_count != src.tag_count:
                        self._copy_tags(src, d, adopted)
                    return self._moved(d, src, verdict, adopted)
                if conflicted:
                    self._failed(d, "copy", RACED)
                    return None
                if self.params.on_conflict == "fail":
                    self._failed(d, "copy", f"the destination holds a different object ({verdict.how}); not replaced")
                    return None
                condition = {"IfMatch": there.etag}
        try:
            written = self._copy(src, d, condition)
        except Conflict:
            if conflicted:
                self._failed(d, "copy", "the source or the destination changed while being copied; kept")
                return None
            return self._copy_verified(d, conflicted=True)
        return self._verify_copy(d, src, written)

    def _verify_copy(self, d: ObjectDecision, src: Head, written: Written) -> Moved | None:
        """Compare the version we wrote with its source; remove it again (ours only) if it differs."""
        copy = inventory.head(self.dst_s3, self.transfer.destination.bucket, d.dest_key, written.version_id)
        if copy is None:
            self._failed(d, "verify", "the copy is not at the destination")
            return None
        if written.version_id is None and copy.etag != written.etag:
            self._failed(d, "verify", REPLACED)
            return None
        verdict = self._verdict(src, copy)
        if not verdict.same:
            self._discard(d.dest_key, written)
            self._failed(d, "verify", f"copy does not match its source ({verdict.how}); copy removed, source kept")
            return None
        if src.tag_count and self._multipart(src):
            self._copy_tags(src, d, written)
        logger.info("object copied", source=d.source_key, destination=d.dest_key, size=src.size, verified=verdict.how)
        self._record(d, "copy", "copied", f"{d.reason}; copied and verified ({verdict.how})")
        self.result.count("bytes_copied", src.size)
        return self._moved(d, src, verdict, written)

    def _still_ours(self, moved: list[Moved], listed: dict[str, ObjectView]) -> list[Moved]:
        """Keep what is still the current object at its destination key (listed after every copy was made)."""
        kept = []
        for m in moved:
            now = listed.get(m.dest_key)
            if now is not None and now.etag == m.dest_etag:
                kept.append(m)
            else:
                self._failed(self._decisions[m.dest_key], "verify", REPLACED)
        return kept

    def _multipart(self, src: Head) -> bool:
        """Multipart sources, and large ones whose full-object CRC a multipart copy can reproduce (the others are
        copied whole, which keeps their MD5 ETag comparable)."""
        return src.parts is not None or (src.size >= self.params.threshold and src.full_object_crc() is not None)

    def _extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.transfer.storage_class:
            extra["StorageClass"] = self.transfer.storage_class
        if self.params.kms_key_id:
            extra |= {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.params.kms_key_id}
        return extra

    def _copy(self, src: Head, d: ObjectDecision, condition: dict[str, str]) -> Written:
        """Copy the exact source version, on the destination ``condition``; return what was written.

        Multipart copies reproduce the source's full-object CRC where it has one (S3 combines the part CRCs and
        refuses to complete a copy whose CRC differs), else the source's own part boundaries (so its ETag and
        composite checksum are the source's).
        """
        source: dict[str, Any] = {"Bucket": self.transfer.source.bucket, "Key": d.source_key}
        if src.version_id:
            source["VersionId"] = src.version_id
        where = {"bucket": self.transfer.destination.bucket, "key": d.dest_key}
        if not self._multipart(src):
            return copies.copy_object(
                self.dst_s3, source=source, source_etag=src.etag, **where, **condition, **self._extra()
            )
        create = self._extra() | preserved_args(src)
        complete: dict[str, Any] = {"MpuObjectSize": src.size, **condition}
        boundaries = None
        crc = src.full_object_crc()
        if crc is not None:
            algorithm, value = crc
            create |= {"ChecksumAlgorithm": algorithm, "ChecksumType": "FULL_OBJECT"}
            complete |= {"ChecksumType": "FULL_OBJECT", f"Checksum{algorithm}": value}
        else:
            boundaries = inventory.part_sizes(self.src_s3, src, self.transfer.source.bucket, PART_COPY_CONCURRENCY)
            if composite := src.composite_algorithm():
                create["ChecksumAlgorithm"] = composite
        return copies.copy_multipart(
            self.dst_s3,
            source=source,
            source_etag=src.etag,
            **where,
            ranges=copies.part_ranges(src.size, self.params.part_size, boundaries),
            create=create,
            complete=complete,
            workers=PART_COPY_CONCURRENCY,
        )

    def _copy_tags(self, src: Head, d: ObjectDecision, written: Written) -> None:
        """Multipart copies carry no tags: copy them from the source version onto the version we wrote."""
        tag_set = inventory.tags(self.src_s3, self.transfer.source.bucket, d.source_key, src.version_id)
        params: dict[str, Any] = {
            "Bucket": self.transfer.destination.bucket,
            "Key": d.dest_key,
            "Tagging": {"TagSet": tag_set},
        }
        if written.version_id:
            params["VersionId"] = written.version_id
        self.dst_s3.put_object_tagging(**params)

    def _verdict(self, src: Head, dst: Head) -> Verdict:
        verdict = compare(src, dst)
        if verdict.status != "unknown" or not self.params.verify_by_reading:
            return verdict
        a = inventory.sha256_of(self.src_s3, self.transfer.source.bucket, src.key, src.version_id)
        b = inventory.sha256_of(self.dst_s3, self.transfer.destination.bucket, dst.key, dst.version_id)
        how = "sha256 read back " + ("matches" if a == b else "differs")
        return Verdict("same" if a == b else "different", how, f"sha256:{a}")

    def _discard(self, key: str, written: Written) -> None:
        """Remove a copy that failed verification: our version only, or (unversioned) only while it is ours."""
        params: dict[str, Any] = {"Bucket": self.transfer.destination.bucket, "Key": key}
        if written.version_id:
            params["VersionId"] = written.version_id
        else:
            params["IfMatch"] = written.etag
        try:
            self.dst_s3.delete_object(**params)
        except Exception:  # noqa: BLE001 - the failure is already recorded; a re-run finds and replaces the copy
            logger.exception("bad copy not removed", key=key)

    def _moved(self, d: ObjectDecision, src: Head, verdict: Verdict, written: Written) -> Moved:
        return Moved(
            d.source_key,
            src.version_id,
            src.etag,
            d.dest_key,
            src.size,
            verdict.checksum,
            written.etag,
            written.version_id,
        )

    # -- manifest and deletions ----------------------------------------------------------------------------------

    def write_manifest(self, moved: Sequence[Moved], *, operation: str, run_id: str, now: datetime) -> bool:
        """Write (or merge into) the release manifest next to the artefacts, before any source is deleted.

        Read, merge, then write conditionally on what was read (``IfMatch`` its ETag, or ``IfNoneMatch`` when
        there was none): a manifest another promote wrote meanwhile makes S3 refuse the write, and it is read and
        merged again (this is optimistic concurrency, not a retry of a failed request: botocore cannot merge).
        Returns False, with the failure recorded, when the manifest could not be written.
        """
        if not self.transfer.manifest or self.params.dry_run or not moved:
            return True
        dst = self.transfer.destination
        key = dst.prefix + self.params.manifest_name
        try:
            doc = self._merge_manifest(key, moved, operation=operation, run_id=run_id, now=now)
        except Exception as exc:  # noqa: BLE001 - recorded; the sources are kept and the run fails at the end
            logger.warning("manifest not written", bucket=dst.bucket, key=key, error=str(exc))
            self.result.fail("manifest", exc, resource=f"s3://{dst.bucket}/{key}")
            return False
        self.result.add(
            Action(
                action="manifest",
                resource=f"s3://{dst.bucket}/{key}",
                reason="release manifest",
                status="done",
                detail={"objects": len(doc["objects"])},
            )
        )
        self.result.count("manifests")
        return True

    def _merge_manifest(
        self, key: str, moved: Sequence[Moved], *, operation: str, run_id: str, now: datetime
    ) -> dict[str, Any]:
        dst = self.transfer.destination
        for attempt in range(1, MANIFEST_ATTEMPTS + 1):
            previous, etag = inventory.read_document(self.dst_s3, dst.bucket, key)
            doc = manifest_document(
                operation=operation,
                source=self.transfer.source.uri,
                destination=dst.uri,
                dest_prefix=dst.prefix,
                moved=moved,
                source_bucket=self.transfer.source.bucket,
                previous=previous,
                run_id=run_id,
                now=now,
            )
            condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
            try:
                self.dst_s3.put_object(
                    Bucket=dst.bucket,
                    Key=key,
                    Body=json.dumps(doc, indent=2).encode(),
                    ContentType="application/json",
                    ChecksumAlgorithm="SHA256",
                    **condition,
                )
                return doc
            except ClientError as exc:
                if not copies.is_conflict(exc):
                    raise
                logger.info("manifest changed meanwhile: merged again", key=key, attempt=attempt)
                time.sleep(random.uniform(0, 0.05 * attempt))  # two promotes that collided do not collide again
        raise RuntimeError(f"changed by another writer {MANIFEST_ATTEMPTS} times while being merged; not written")

    def delete_sources(self, moved: Sequence[Moved]) -> bool:
        """Delete verified sources: DeleteObjects in batches of 1,000, each conditional on the verified ETag.

        Returns whether every source is gone (False when a batch or a key failed, or the time budget ran out).
        """
        if not moved:
            return True
        bucket = self.transfer.source.bucket
        if self.params.dry_run:
            self.result.count("delete_planned", len(moved))
            return True
        all_gone = True
        for start in range(0, len(moved), DELETE_BATCH):
            if self.budget.exhausted():
                self.result.complete = False
                self.result.count("deferred", len(moved) - start)
                return False
            batch = moved[start : start + DELETE_BATCH]
            # No VersionId: in a versioned bucket a delete marker hides the key, so an older version never becomes
            # current again; every version stays recoverable until the bucket's lifecycle expires it.
            objects = [{"Key": m.source_key, "ETag": m.source_etag} for m in batch]
            try:
                resp = self.src_s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
            except Exception as exc:  # noqa: BLE001 - this batch's sources stay; a re-run deletes them
                self.result.fail("delete", exc, resource=f"s3://{bucket}/{batch[0].source_key} (+{len(batch) - 1})")
                all_gone = False
                continue
            errors = [e for e in resp.get("Errors", []) if e.get("Code") not in GONE]
            for e in errors:
                code = e.get("Code")
                why = "changed since it was verified; kept" if code in copies.CONFLICT else e.get("Message")
                self.result.fail("delete", f"{code}: {why}", resource=f"s3://{bucket}/{e.get('Key')}")
            deleted = len(batch) - len(errors)
            self.result.count("deleted", deleted)
            advance("sources deleted", deleted, len(moved))
            self.result.add(
                Action(
                    action="delete",
                    resource=f"s3://{bucket}/{self.transfer.source.prefix}",
                    reason="verified at the destination",
                    status="done" if not errors else "failed",
                    detail={"deleted": deleted, "failed": len(errors)},
                )
            )
            logger.info("sources deleted", bucket=bucket, deleted=deleted, failed=len(errors))
            all_gone = all_gone and not errors
        return all_gone

    # -- recording ------------------------------------------------------------------------------------------------

    def _record(self, d: ObjectDecision, action: str, counter: str, reason: str, status: ActionStatus = "done") -> None:
        self.result.add(
            Action(
                action=action,
                resource=f"s3://{self.transfer.source.bucket}/{d.source_key}",
                reason=reason,
                status=status,
                detail={"destination": f"s3://{self.transfer.destination.bucket}/{d.dest_key}", "size": d.size},
            )
        )
        self.result.count(counter if status != "planned" else f"{action}_planned")

    def _failed(self, d: ObjectDecision, operation: str, exc: BaseException | str) -> None:
        logger.warning("object not transferred", source=d.source_key, operation=operation, error=str(exc))
        self.result.add(
            Action(
                action=d.action,
                resource=f"s3://{self.transfer.source.bucket}/{d.source_key}",
                reason=d.reason,
                status="failed",
                detail={"destination": f"s3://{self.transfer.destination.bucket}/{d.dest_key}", "error": str(exc)},
            )
        )
        self.result.fail(operation, exc, resource=f"s3://{self.transfer.source.bucket}/{d.source_key}")
