"""Input of the resource audit task: thresholds, required tags, which checks run, and suppressions."""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.fanout import FanOutSettings
from shared.inputs import CLI_ONLY, Region

Severity = Literal["critical", "high", "medium", "low", "info"]
Category = Literal["cost", "security", "reliability"]
Status = Literal["FAIL", "PASS", "ERROR", "SUPPRESSED"]
TaggedType = Literal["instance", "volume", "snapshot", "security-group", "bucket"]

SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info")
CATEGORIES: tuple[Category, ...] = ("cost", "security", "reliability")
STATUSES: tuple[Status, ...] = ("FAIL", "ERROR", "SUPPRESSED", "PASS")
IGNORE_TAG = "devops-tasks:audit-ignore"
DEFAULT_TAGGED: tuple[TaggedType, ...] = ("instance", "volume", "bucket")
RETIRED = {
    "s3-bucket-encryption": "every S3 bucket has had default encryption since January 2023, so it could not fail; "
    "s3-bucket-secure-transport checks what a bucket policy must add",
}
"""Check ids that existed once: accepted in skip_checks and suppressions (no effect), refused in checks."""


MAX_DAYS = 36_600
"""A hundred years: every age threshold is below it."""
Ids = Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=200)]


class Thresholds(BaseModel):
    """Ages, ports and lengths the checks compare against."""

    model_config = ConfigDict(extra="forbid")

    snapshot_max_age_days: int = Field(default=365, ge=1, le=MAX_DAYS, description="a snapshot older than this is old")
    volume_snapshot_max_age_days: int = Field(
        default=7, ge=1, le=MAX_DAYS, description="an in-use volume needs a newer snapshot"
    )
    instance_stopped_days: int = Field(
        default=30, ge=1, le=MAX_DAYS, description="stopped longer than this: terminate or image"
    )
    ami_max_age_days: int = Field(
        default=180, ge=1, le=MAX_DAYS, description="an AMI older than this, used by no instance"
    )
    access_key_max_age_days: int = Field(default=90, ge=1, le=MAX_DAYS)
    credentials_unused_days: int = Field(
        default=90, ge=1, le=MAX_DAYS, description="a password or key unused this long"
    )
    admin_ports: list[Annotated[int, Field(ge=0, le=65535)]] = Field(
        default_factory=lambda: [22, 3389], min_length=1, max_length=100
    )
    password_min_length: int = Field(default=14, ge=8, le=128)
    root_used_days: int = Field(default=90, ge=1, le=MAX_DAYS, description="the root user used within this is FAIL")

    @field_validator("admin_ports")
    @classmethod
    def _ports(cls, value: list[int]) -> list[int]:
        bad = [p for p in value if not 0 <= p <= 65535]
        if bad:
            raise ValueError(f"not a port: {bad}")
        return sorted(set(value))


class Suppression(BaseModel):
    """Accept a finding on purpose: (check, resource pattern), a reason, and a date after which it stops applying."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check: str = Field(min_length=1, description="a check id, or * for every check")
    resource: str = Field(min_length=1, description="fnmatch pattern on the resource id or ARN, e.g. vol-0ab*")
    reason: str = Field(min_length=3)
    expires: date = Field(description="last day (UTC) on which the suppression applies")


class SecurityHubExport(BaseModel):
    """Findings to AWS Security Hub (ASFF, BatchImportFindings): each account imports its own findings."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, description="import FAIL findings and archive resolved ones")
    region: Region | None = Field(
        default=None,
        description="the Security Hub region findings are imported into, in every account (default: the function's "
        "region; your aggregation region if you use one)",
    )


class OcsfExport(BaseModel):
    """Findings as OCSF 1.1.0 Detection Findings (JSON Lines) next to the dated reports."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, description="write <dated key>.ocsf.jsonl to the report bucket")


class ResourceAuditInput(FanOutSettings):
    """The task's input: the schedule's ``input``, a manual payload, or defaults from the environment."""

    works_in_member_accounts: ClassVar[bool] = True

    thresholds: Thresholds = Field(default_factory=Thresholds)
    required_tags: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        default_factory=lambda: ["Owner"],
        max_length=50,
        description="empty disables the tag check (at most 50, as AWS)",
    )
    tagged_types: list[TaggedType] = Field(
        default_factory=lambda: list(DEFAULT_TAGGED), max_length=10, description="resource types the tag check reads"
    )
    trusted_accounts: list[Annotated[str, Field(max_length=12, pattern=r"^\d{12}$")]] = Field(
        default_factory=list,
        max_length=1000,
        description="accounts outside the organization that snapshots may be shared with (partners, vendors)",
    )
    checks: Ids = Field(default_factory=list, description="run only these check ids (empty: all)")
    skip_checks: Ids = Field(default_factory=list, description="check ids not to run")
    suppressions: list[Suppression] = Field(default_factory=list, max_length=1000)
    ignore_tag: str = Field(default=IGNORE_TAG, min_length=1, description="tag whose value lists check ids to ignore")
    include_passes: bool = Field(default=True, description="keep PASS findings in the reports")
    compare_with_previous: bool = Field(default=True, description="diff against the previous report (latest key)")
    report_link: Literal["console", "presigned"] = Field(
        default="console",
        description="the notification's link to the HTML report: the AWS console (needs a sign-in), or a presigned "
        "URL that anyone holding the message can open until it expires",
    )
    presign_seconds: int = Field(
        default=3600, ge=60, le=43_200, description="lifetime of the presigned link (report_link: presigned only)"
    )
    refresh_prices: bool = Field(
        default=False,
        description="read current EBS prices from the AWS Price List API (cached in the reports bucket) instead of "
        "the shipped, dated table; a failed refresh falls back to the table and the report says so",
    )
    price_cache_days: int = Field(
        default=30, ge=1, le=365, description="a cached Price List refresh younger than this is used as is"
    )
    fail_on_check_error: bool = Field(
        default=False, description="also fail the invocation when a check ends in ERROR (it is always reported)"
    )
    security_hub: SecurityHubExport = Field(
        default_factory=SecurityHubExport, description="optional export of findings to AWS Security Hub (ASFF)"
    )
    ocsf: OcsfExport = Field(default_factory=OcsfExport, description="optional export of findings as OCSF lines")
    local_dir: str | None = Field(
        default=None,
        max_length=4096,
        description="also write the three formats here (CLI only: devops-tasks invoke --open; refused in events)",
        json_schema_extra=CLI_ONLY,
    )

    @model_validator(mode="after")
    def _presign_only_when_asked(self) -> ResourceAuditInput:
        if "presign_seconds" in self.model_fields_set and self.report_link != "presigned":
            raise ValueError("presign_seconds applies only with report_link: presigned (the default is a console link)")
        return self

    @model_validator(mode="after")
    def _ocsf_has_a_destination(self) -> ResourceAuditInput:
        if self.ocsf.enabled and not (self.report_bucket or self.local_dir):
            raise ValueError("ocsf.enabled writes next to the reports: set report_bucket")
        return self

    @model_validator(mode="after")
    def _known_checks(self) -> ResourceAuditInput:
        from functions.resource_audit.checks import CHECKS

        known = {c.id for c in CHECKS}
        retired = sorted(set(self.checks) & set(RETIRED))
        if retired:
            raise ValueError("; ".join(f"check {cid} is retired: {RETIRED[cid]}" for cid in retired))
        known |= set(RETIRED)  # skipping or suppressing a retired check is harmless: nothing to skip
        unknown = sorted({*self.checks, *self.skip_checks} - known)
        unknown += sorted({s.check for s in self.suppressions if s.check != "*"} - known)
        if unknown:
            raise ValueError(f"unknown check id(s): {', '.join(unknown)}")
        return self
