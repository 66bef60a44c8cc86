"""A fanned-out run's state in the reports bucket: its manifest, one result per unit, and its final report.

Every object is written once with S3's conditional write (``If-None-Match: *``): a unit delivered twice by SQS has
its result written once, and of the workers that see the last unit report, exactly one writes the final report.
A unit's work is leased the same way, so two deliveries of one message never work on a unit side by side: the
second finds the lease live and hands the message back; a lease whose holder died (it has expired) is taken over
with ``If-Match`` on the ETag read, so only one of several deliveries takes it.
S3 is strongly consistent (read-after-write and list-after-write), so the worker that writes the last result
always sees every result when it lists them. Layout, under ``<report prefix>/<task>/runs/<run id>/``::

    manifest.json                       the run: id, units, deadline, input
    leases/<account>.<region>/<n>.json  who works on continuation n of a unit, until when (and its delivery)
    parts/<account>.<region>/<n>.json   what continuation n of a unit did, when more work followed it
    units/<account>.<region>.json       the unit's result (its parts merged) and what it kept for the run-wide
                                        step (``kept``), once
    final.json                          the final run report, once
    leases/finalize/0.json              who completes the run (its run-wide step, report and notification)
    finished.json                       the run is completed: written once, after its report and notification
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from shared.aws import error_code
from shared.report import UnitResult

ALREADY_WRITTEN = ("PreconditionFailed",)
"""What S3 answers a conditional write whose key exists (HTTP 412): another delivery wrote it first."""


class Manifest(BaseModel):
    """What a fanned-out run is: written by the dispatcher before the first unit message is sent."""

    model_config = ConfigDict(extra="forbid")

    task: str
    run_id: str
    started_at: datetime
    deadline: datetime
    units: list[str] = Field(description="account.region of every unit, in the order of the inline run")
    input: dict[str, Any] = Field(description="the run's validated input, as every unit runs it")
    prepared: Any = Field(default=None, description="the task's run-wide reads, made once by the dispatcher")


class Lease(BaseModel):
    """A delivery working on a unit's continuation, until its invocation's end at the latest."""

    model_config = ConfigDict(extra="forbid")

    until: datetime
    continuation: int
    receive_count: int = Field(description="SQS's ApproximateReceiveCount of the delivery")


class StoredResult(UnitResult):
    """A unit's result as the run keeps it: with what its work kept for the task's run-wide step, one entry per
    continuation (the task's ``keep``), so that a unit is never reported without what it found."""

    kept: list[Any] = Field(default_factory=list)

    def result(self) -> UnitResult:
        """The result alone, as the final report shows it."""
        return UnitResult.model_validate(self.model_dump(exclude={"kept"}))


def unit_key(account: str, region: str) -> str:
    """``123456789012.eu-west-1``; an account that could not be reached at all is ``<account>.account``."""
    return f"{account}.{'account' if region == '*' else region}"


@dataclass(frozen=True)
class RunStore:
    """The objects of one run in the reports bucket, read and written with one S3 client."""

    s3: Any
    bucket: str
    base: str

    @classmethod
    def of(cls, s3: Any, bucket: str, prefix: str, task: str, run_id: str) -> RunStore:
        head = f"{prefix}/" if prefix else ""
        return cls(s3, bucket, f"{head}{task}/runs/{run_id}/")

    @property
    def manifest_key(self) -> str:
        return self.base + "manifest.json"

    @property
    def final_key(self) -> str:
        return self.base + "final.json"

    @property
    def finished_key(self) -> str:
        return self.base + "finished.json"

    def result_key(self, unit: str) -> str:
        return f"{self.base}units/{unit}.json"

    def part_key(self, unit: str, n: int) -> str:
        return f"{self.base}parts/{unit}/{n}.json"

    def lease_key(self, unit: str, n: int) -> str:
        return f"{self.base}leases/{unit}/{n}.json"

    def lease(self, unit: str, n: int, body: Lease, now: datetime) -> bool:
        """Take the lease of continuation ``n`` of ``unit``: True unless another delivery holds it, unexpired."""
        key = self.lease_key(unit, n)
        if self.put_once(key, body.model_dump_json()):
            return True
        try:
            resp = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return False  # never deleted; the next delivery takes it
            raise
        held = Lease.model_validate_json(resp["Body"].read())
        if held.until > now:
            return False
        try:  # the holder died: take its lease over, unless another delivery just did
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body.model_dump_json().encode(),
                ContentType="application/json",
                IfMatch=resp["ETag"],
            )
        except ClientError as exc:
            if error_code(exc) in ALREADY_WRITTEN:
                return False
            raise
        return True

    def last_lease(self, unit: str) -> Lease | None:
        """The lease of the unit's latest continuation that any delivery started."""
        head = f"{self.base}leases/{unit}/"
        numbered = sorted(int(key[len(head) : -len(".json")]) for key in self._keys(head))
        if not numbered:
            return None
        text = self.get(self.lease_key(unit, numbered[-1]))
        return None if text is None else Lease.model_validate_json(text)

    def put_once(self, key: str, body: str) -> bool:
        """Write ``key`` unless it exists (``If-None-Match: *``): True if this call wrote it."""
        try:
            self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=body.encode(), ContentType="application/json", IfNoneMatch="*"
            )
        except ClientError as exc:
            if error_code(exc) in ALREADY_WRITTEN:
                return False
            raise  # 409 ConditionalRequestConflict (a concurrent write of the key) included: the message is retried
        return True

    def put(self, key: str, body: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body.encode(), ContentType="application/json")

    def get(self, key: str) -> str | None:
        """The object's text, or None if there is none."""
        try:
            resp = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise
        return str(resp["Body"].read().decode())

    def exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def _keys(self, prefix: str) -> Iterator[str]:
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield str(obj["Key"])

    def reported(self) -> set[str]:
        """The units whose result is written (one listing, 1,000 keys a page)."""
        head = self.base + "units/"
        return {key[len(head) : -len(".json")] for key in self._keys(head) if key.endswith(".json")}

    def parts(self, unit: str) -> list[StoredResult]:
        """The results of a unit's earlier continuations, in order."""
        head = f"{self.base}parts/{unit}/"
        numbered = sorted((int(key[len(head) : -len(".json")]), key) for key in self._keys(head))
        return [StoredResult.model_validate_json(self.get(key) or "{}") for _, key in numbered]

    def result(self, unit: str) -> StoredResult | None:
        text = self.get(self.result_key(unit))
        return None if text is None else StoredResult.model_validate_json(text)


def merge(parts: list[StoredResult], last: StoredResult) -> StoredResult:
    """One unit's result from the results of its continuations: every action, count, failure and kept entry of
    each."""
    merged = StoredResult(account=last.account, region=last.region, complete=last.complete)
    for part in [*parts, last]:
        merged.actions.extend(part.actions)
        merged.failures.extend(part.failures)
        merged.kept.extend(part.kept)
        for name, n in part.counts.items():
            merged.count(name, n)
    return merged
