"""Input of the log ETL task, and the small views of S3 objects the planner reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from functions.log_etl.formats import DELIMITED_FORMATS, Layout
from shared.inputs import TaskSettings

_BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
_PREFIX_FIELDS = ("prefix", "lake_prefix", "quarantine_prefix", "manifest_prefix")
FormatName = Literal[
    "alb", "s3_access", "vpc_flow", "cloudfront", "nlb", "classic_elb", "cloudtrail", "cloudwatch_logs", "waf"
]


class CustomFormat(BaseModel):
    """The field list a log source was configured with, for the objects under ``prefix`` that carry no header.

    For ``vpc_flow``: the flow log's LogFormat, e.g. ``${version} ${vpc-id} ${srcaddr} ... ${start} ${end}``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: FormatName
    prefix: str = Field(description="source key prefix the format applies to ('' for every key)")
    log_format: str = Field(min_length=1, max_length=4096)

    @model_validator(mode="after")
    def _readable(self) -> CustomFormat:
        self.layout()
        return self

    def layout(self) -> Layout:
        """The layout of the lines; raises ``ValueError`` naming what is wrong with ``log_format``."""
        fmt = DELIMITED_FORMATS.get(self.format)
        if fmt is None or fmt.layout_from_config is None:
            raise ValueError(f"{self.format} has no configurable log format")
        return fmt.layout_from_config(self.log_format)


class SourceFormat(BaseModel):
    """The format of every object under ``prefix``: for sources whose keys do not name one (Firehose deliveries)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prefix: str = Field(min_length=1, max_length=1024, description="source key prefix (e.g. firehose/app-logs/)")
    format: FormatName


class LogEtlInput(TaskSettings):
    """Where logs come from and where the lake is; which objects a backfill or a manual run loads.

    The S3 trigger (SQS) reads the same settings from the environment; the objects come from the events. A
    scheduled or manual run loads ``keys`` when given, else every object under ``prefix`` last modified in
    [``start``, ``end``) (default: the ``lookback_days`` before now).
    """

    source_bucket: str | None = Field(default=None, pattern=_BUCKET, description="bucket of backfill/manual runs")
    keys: list[Annotated[str, Field(max_length=1024)]] = Field(
        default_factory=list, max_length=10_000, description="manual run: these objects only"
    )
    prefix: str = Field(default="", description="backfill: keys under this prefix")
    start: date | datetime | None = Field(default=None, description="backfill: last modified at or after (UTC)")
    end: date | datetime | None = Field(default=None, description="backfill: last modified before (UTC)")
    lookback_days: float = Field(default=2.0, gt=0, le=3660, description="backfill window when start is not set")
    format: FormatName | None = Field(
        default=None, description="parse every object as this format instead of detecting it from the key"
    )
    custom_formats: list[CustomFormat] = Field(
        default_factory=list,
        max_length=1000,
        description="per source prefix, the log format the source was configured with (objects without a header)",
    )
    source_formats: list[SourceFormat] = Field(
        default_factory=list,
        max_length=1000,
        description="per source prefix, the format of its objects, over the key layout (the longest prefix wins)",
    )
    reprocess: bool = Field(default=False, description="load objects again even when their manifest exists")
    max_objects: int = Field(default=10_000, ge=1, le=1_000_000, description="objects loaded per run at most")

    lake_bucket: str | None = Field(default=None, pattern=_BUCKET, description="where Parquet and quarantine go")
    lake_prefix: str = "lake"
    quarantine_prefix: str = "quarantine"
    manifest_prefix: str = "manifests"
    compression: Literal["zstd", "snappy"] = "zstd"
    row_group_rows: int = Field(default=262_144, ge=1_000, le=10_000_000)

    glue_database: str | None = Field(
        default="devops_tasks_logs", pattern=r"^[a-z0-9_]{1,255}$", description="None: no catalog updates"
    )
    table_prefix: str = Field(default="", pattern=r"^[a-z0-9_]{0,64}$", description="Glue table = prefix + format")

    @field_validator(*_PREFIX_FIELDS)
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip("/")

    @field_validator("custom_formats")
    @classmethod
    def _one_per_prefix(cls, value: list[CustomFormat]) -> list[CustomFormat]:
        seen: set[tuple[str, str]] = set()
        for entry in value:
            if (entry.format, entry.prefix) in seen:
                raise ValueError(f"two log formats for {entry.format} under {entry.prefix!r}")
            seen.add((entry.format, entry.prefix))
        return value

    @field_validator("source_formats")
    @classmethod
    def _one_format_per_prefix(cls, value: list[SourceFormat]) -> list[SourceFormat]:
        prefixes = [entry.prefix for entry in value]
        repeated = sorted({p for p in prefixes if prefixes.count(p) > 1})
        if repeated:
            raise ValueError(f"source_formats names a prefix more than once: {', '.join(repeated)}")
        return value

    @field_validator("keys")
    @classmethod
    def _no_empty_keys(cls, value: list[str]) -> list[str]:
        if any(not k for k in value):
            raise ValueError("keys must not be empty strings")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _consistent(self) -> LogEtlInput:
        names = {self.lake_prefix, self.quarantine_prefix, self.manifest_prefix}
        if len(names) < 3 or "" in names:
            raise ValueError("lake_prefix, quarantine_prefix and manifest_prefix must be distinct and not empty")
        if self.start is not None and self.end is not None and _utc(self.start) >= _utc(self.end):
            raise ValueError("start must be before end")
        return self

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """The backfill window [start, end) in UTC; ``now`` decides the defaults."""
        end = _utc(self.end) if self.end is not None else now
        start = _utc(self.start) if self.start is not None else end - timedelta(days=self.lookback_days)
        return start, end

    def table_name(self, log_format: str) -> str:
        return f"{self.table_prefix}{log_format}"

    def layout_for(self, log_format: str, key: str) -> Layout | None:
        """The configured layout of ``log_format`` for the object at ``key``: the longest matching prefix's."""
        matching = [c for c in self.custom_formats if c.format == log_format and key.startswith(c.prefix)]
        if not matching:
            return None
        return max(matching, key=lambda c: len(c.prefix)).layout()


def _utc(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.combine(value, time(), tzinfo=UTC)


@dataclass(frozen=True)
class SourceObject:
    """One S3 object to load, as listed or as announced by an S3 event."""

    bucket: str
    key: str
    etag: str | None = None
    version_id: str | None = None
    size: int | None = None
    last_modified: datetime | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"
