"""The only module that changes S3: copies, tags, manifests, deletions. Honours dry_run and the time budget.

For each object: HEAD the source (checksums, metadata, version), copy it pinned to that version (or to its
ETag with ``CopySourceIfMatch``), HEAD the copy and compare (size, then checksum); only verified objects are
ever deleted at the source, in DeleteObjects batches of up to 1,000 keys, by VersionId where the bucket is
versioned (else conditional on the verified ETag). A copy that does not verify is removed again and its source
kept; the failure is recorded and the run fails at the end.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from s3transfer.manager import TransferManager
from s3transfer.subscribers import BaseSubscriber

from functions.artefact_mover import inventory
from functions.artefact_mover.manifest import Moved, manifest_document
from functions.artefact_mover.models import ArtefactMoverInput
from functions.artefact_mover.plan import ObjectDecision, ObjectView, Transfer
from functions.artefact_mover.verify import KMS, Head, Verdict, compare, preserved_args
from shared.aws import error_code
from shared.clock import TimeBudget
from shared.observability import logger
from shared.progress import advance
from shared.report import Action, ActionStatus, UnitResult

DELETE_BATCH = 1000
PART_COPY_CONCURRENCY = 8
GONE = frozenset({"NoSuchKey", "NoSuchVersion"})


class _KnownObject(BaseSubscriber):
    """Tells s3transfer the size and ETag we already have, so it does not HEAD the source again."""

    def __init__(self, size: int, etag: str) -> None:
        self.size, self.etag = size, etag

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        future.meta.provide_transfer_size(self.size)
        if hasattr(future.meta, "provide_object_etag"):
            future.meta.provide_object_etag(self.etag)


T = TypeVar("T")


def _version(value: Any) -> str | None:
    return None if value in (None, "", "null") else str(value)


@dataclass(frozen=True)
class _Copied:
    """A quick copy made, not yet verified."""

    d: ObjectDecision
    source_version: str | None
    dest_version: str | None
    etag: str
    sse: str | None


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

    # -- copies -------------------------------------------------------------------------------------------------

    def copy_all(self, decisions: Sequence[ObjectDecision]) -> list[Moved]:
        """Copy and verify every ``copy``/``check`` decision; return the objects verified at the destination.

        Single-part objects below the multipart threshold take the quick path: one CopyObject pinned to the listed
        ETag, verified by listing the destination (size and MD5 ETag, 1,000 keys a call). Whatever that cannot
        prove (a KMS-encrypted copy, a changed object), and every other object, takes the full path: HEAD the
        source and the copy with ``ChecksumMode=ENABLED`` and compare checksums.
        """
        for d in decisions:
            if d.action == "skip":
                self._record(d, "skip", "skipped", d.reason)
        work = [d for d in decisions if d.action != "skip"]
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
            if unproven:
                listed = {o.key: o for o in inventory.list_objects(self.dst_s3, self.transfer.destination)}
                confirm = [pool.submit(self._one, c.d, 0, partial(self._confirm, c, listed)) for c in unproven]
                done += [f.result() for f in confirm]
        return [m for m in done if m is not None]

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
        """One CopyObject, conditional on the listed ETag; S3 carries metadata and tags (COPY directives)."""
        try:
            resp = self.dst_s3.copy_object(
                CopySource={"Bucket": self.transfer.source.bucket, "Key": d.source_key},
                CopySourceIfMatch=d.etag,
                Bucket=self.transfer.destination.bucket,
                Key=d.dest_key,
                MetadataDirective="COPY",
                TaggingDirective="COPY",
                **self._extra(),
            )
        except ClientError as exc:
            if error_code(exc) in ("PreconditionFailed", "412"):
                return self._copy_verified(d)  # changed since it was listed: HEAD it and copy what is there now
            raise
        result = resp.get("CopyObjectResult", {})
        return _Copied(
            d,
            _version(resp.get("CopySourceVersionId")),
            _version(resp.get("VersionId")),
            str(result.get("ETag", "")),
            resp.get("ServerSideEncryption"),
        )

    def _confirm(self, c: _Copied, listed: dict[str, ObjectView], _: ObjectDecision) -> Moved | None:
        """Verify a quick copy by the destination listing, or else by HEADs and checksums."""
        d, found = c.d, listed.get(c.d.dest_key)
        if found and found.size == d.size and found.etag == d.etag == c.etag and c.sse not in KMS:
            how = "size and md5 listed"
            logger.info("object copied", source=d.source_key, destination=d.dest_key, size=d.size, verified=how)
            self._record(d, "copy", "copied", f"{d.reason}; copied and verified ({how})")
            self.result.count("bytes_copied", d.size)
            return Moved(d.source_key, c.source_version, d.etag, d.dest_key, d.size, "md5:" + d.etag.strip('"'))
        src = inventory.head(self.src_s3, self.transfer.source.bucket, d.source_key, c.source_version)
        if src is None:
            self._failed(d, "verify", "the source version copied is gone; copy kept, nothing deleted")
            return None
        return self._verify_copy(d, src, c.dest_version)

    def _copy_verified(self, d: ObjectDecision) -> Moved | None:
        src_b, dst_b = self.transfer.source.bucket, self.transfer.destination.bucket
        src = inventory.head(self.src_s3, src_b, d.source_key)
        if src is None:
            self._record(d, d.action, "skipped", "source gone since it was listed", status="skipped")
            return None
        if d.action == "check":
            there = inventory.head(self.dst_s3, dst_b, d.dest_key)
            if there is not None:
                verdict = self._verdict(src, there)
                if verdict.same:
                    self._record(d, "verify", "already_there", f"already at the destination ({verdict.how})")
                    return self._moved(d, src, verdict)
                if self.params.on_conflict == "fail":
                    self._failed(d, "copy", f"the destination holds a different object ({verdict.how}); not replaced")
                    return None
        copied_version = self._copy(src, d)
        if src.tag_count and self._multipart(src):
            copy = inventory.head(self.dst_s3, dst_b, d.dest_key, copied_version)
            self._copy_tags(src, d, copy.version_id if copy else None)
        return self._verify_copy(d, src, copied_version)

    def _verify_copy(self, d: ObjectDecision, src: Head, copied_version: str | None) -> Moved | None:
        copy = inventory.head(self.dst_s3, self.transfer.destination.bucket, d.dest_key, copied_version)
        if copy is None:
            self._failed(d, "verify", "the copy is not at the destination")
            return None
        verdict = self._verdict(src, copy)
        if not verdict.same:
            self._discard(d.dest_key, copy.version_id)
            self._failed(d, "verify", f"copy does not match its source ({verdict.how}); copy removed, source kept")
            return None
        logger.info("object copied", source=d.source_key, destination=d.dest_key, size=src.size, verified=verdict.how)
        self._record(d, "copy", "copied", f"{d.reason}; copied and verified ({verdict.how})")
        self.result.count("bytes_copied", src.size)
        return self._moved(d, src, verdict)

    def _multipart(self, src: Head) -> bool:
        return src.parts is not None or src.size >= self.params.threshold

    def _extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.transfer.storage_class:
            extra["StorageClass"] = self.transfer.storage_class
        if self.params.kms_key_id:
            extra |= {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.params.kms_key_id}
        return extra

    def _copy(self, src: Head, d: ObjectDecision) -> str | None:
        """Copy the exact source version; returns the new version's id when the call tells it."""
        source: dict[str, Any] = {"Bucket": self.transfer.source.bucket, "Key": d.source_key}
        if src.version_id:
            source["VersionId"] = src.version_id
        extra: dict[str, Any] = {"CopySourceIfMatch": src.etag, **self._extra()}
        if not self._multipart(src):
            resp = self.dst_s3.copy_object(
                CopySource=source,
                Bucket=self.transfer.destination.bucket,
                Key=d.dest_key,
                MetadataDirective="COPY",
                TaggingDirective="COPY",
                **extra,
            )
            version = resp.get("VersionId")
            return str(version) if version else None
        part = self.params.part_size
        if src.parts is not None:
            part = inventory.first_part_size(self.src_s3, self.transfer.source.bucket, d.source_key, src.version_id)
        config = TransferConfig(
            multipart_threshold=1, multipart_chunksize=part, max_concurrency=PART_COPY_CONCURRENCY, use_threads=True
        )
        with TransferManager(self.dst_s3, config) as manager:
            manager.copy(
                copy_source=source,
                bucket=self.transfer.destination.bucket,
                key=d.dest_key,
                extra_args=extra | preserved_args(src),
                subscribers=[_KnownObject(src.size, src.etag)],
                source_client=self.src_s3,
            ).result()
        return None

    def _copy_tags(self, src: Head, d: ObjectDecision, dest_version: str | None) -> None:
        """Multipart copies carry no tags: copy them from the source version."""
        tag_set = inventory.tags(self.src_s3, self.transfer.source.bucket, d.source_key, src.version_id)
        params: dict[str, Any] = {
            "Bucket": self.transfer.destination.bucket,
            "Key": d.dest_key,
            "Tagging": {"TagSet": tag_set},
        }
        if dest_version:
            params["VersionId"] = dest_version
        self.dst_s3.put_object_tagging(**params)

    def _verdict(self, src: Head, dst: Head) -> Verdict:
        verdict = compare(src, dst)
        if verdict.status != "unknown" or not self.params.verify_by_reading:
            return verdict
        a = inventory.sha256_of(self.src_s3, self.transfer.source.bucket, src.key, src.version_id)
        b = inventory.sha256_of(self.dst_s3, self.transfer.destination.bucket, dst.key, dst.version_id)
        how = "sha256 read back " + ("matches" if a == b else "differs")
        return Verdict("same" if a == b else "different", how, f"sha256:{a}")

    def _discard(self, key: str, version: str | None) -> None:
        """Remove a copy that failed verification (the source is kept, so nothing is lost)."""
        params: dict[str, Any] = {"Bucket": self.transfer.destination.bucket, "Key": key}
        if version:
            params["VersionId"] = version
        try:
            self.dst_s3.delete_object(**params)
        except Exception:  # noqa: BLE001 - the failure is already recorded; a re-run finds and replaces the copy
            logger.exception("bad copy not removed", key=key)

    def _moved(self, d: ObjectDecision, src: Head, verdict: Verdict) -> Moved:
        return Moved(d.source_key, src.version_id, src.etag, d.dest_key, src.size, verdict.checksum)

    # -- manifest and deletions ----------------------------------------------------------------------------------

    def write_manifest(self, moved: Sequence[Moved], *, operation: str, run_id: str, now: datetime) -> None:
        """Write (or merge into) the release manifest next to the artefacts, before any source is deleted."""
        if not self.transfer.manifest or self.params.dry_run or not moved:
            return
        dst = self.transfer.destination
        key = dst.prefix + self.params.manifest_name
        doc = manifest_document(
            operation=operation,
            source=self.transfer.source.uri,
            destination=dst.uri,
            dest_prefix=dst.prefix,
            moved=moved,
            source_bucket=self.transfer.source.bucket,
            previous=inventory.read_json(self.dst_s3, dst.bucket, key),
            run_id=run_id,
            now=now,
        )
        self.dst_s3.put_object(
            Bucket=dst.bucket,
            Key=key,
            Body=json.dumps(doc, indent=2).encode(),
            ContentType="application/json",
            ChecksumAlgorithm="SHA256",
        )
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

    def delete_sources(self, moved: Sequence[Moved]) -> bool:
        """Delete verified sources: DeleteObjects in batches of 1,000, by VersionId, else conditional on the ETag.

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
            objects = [
                {"Key": m.source_key, "VersionId": m.source_version}
                if m.source_version
                else {"Key": m.source_key, "ETag": m.source_etag}
                for m in batch
            ]
            try:
                resp = self.src_s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
            except Exception as exc:  # noqa: BLE001 - this batch's sources stay; a re-run deletes them
                self.result.fail("delete", exc, resource=f"s3://{bucket}/{batch[0].source_key} (+{len(batch) - 1})")
                all_gone = False
                continue
            errors = [e for e in resp.get("Errors", []) if e.get("Code") not in GONE]
            for e in errors:
                self.result.fail(
                    "delete", f"{e.get('Code')}: {e.get('Message')}", resource=f"s3://{bucket}/{e.get('Key')}"
                )
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
