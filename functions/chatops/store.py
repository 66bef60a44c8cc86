"""Plans and decisions kept in the reports bucket: a plan under ``chatops/plans/``, its one decision (approved or
cancelled) under ``chatops/decisions/``, each written once with S3's conditional write (If-None-Match: *).

A second decision on the same plan (a replayed request, a double click, Lambda running the lazy listener again) is
refused by S3 itself: whoever writes first decides, and nothing else runs. No table to provision or expire: the
records share the bucket's lifecycle with the run reports they lead to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from shared.aws import error_code

PREFIX = "chatops"


class PlanRecord(BaseModel):
    """A plan as it was shown: what to run, its digest, who asked, until when it may be approved."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plan_id: str = Field(pattern=r"^[a-f0-9]{32}$")
    task: str
    policy: str | None = None
    input: dict[str, Any]
    digest: str
    requested_by: str
    channel: str | None = None
    created_at: datetime
    expires_at: datetime
    report_location: str | None = None


class DecisionRecord(BaseModel):
    """The one decision on a plan, with who made it and when; ``outcome`` is filled in when the run is over."""

    model_config = ConfigDict(extra="forbid")

    plan_id: str
    decision: Literal["approved", "cancelled"]
    by: str
    at: datetime
    channel: str | None = None


class AlreadyDecided(Exception):
    """The plan was approved or cancelled before: this request is a replay, or came second."""


class Store:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def _put_once(self, key: str, body: str) -> None:
        try:
            self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=body.encode(), ContentType="application/json", IfNoneMatch="*"
            )
        except ClientError as exc:
            # 412: the key exists; 409: a concurrent conditional write to the same key is in flight
            if error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise AlreadyDecided(key) from exc
            raise

    def save_plan(self, plan: PlanRecord) -> None:
        self._put_once(f"{PREFIX}/plans/{plan.plan_id}.json", plan.model_dump_json())

    def plan(self, plan_id: str) -> PlanRecord | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=f"{PREFIX}/plans/{plan_id}.json")["Body"].read()
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise
        return PlanRecord.model_validate_json(body)

    def decide(self, decision: DecisionRecord) -> None:
        """Record the decision, or raise :class:`AlreadyDecided` if the plan has one."""
        self._put_once(f"{PREFIX}/decisions/{decision.plan_id}.json", decision.model_dump_json())
