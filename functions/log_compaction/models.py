"""Input of the lake compaction, and the small views of lake files, partitions and generations it plans over."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, get_args

from pydantic import Field, field_validator, model_validator

from functions.log_etl.models import FormatName
from shared.inputs import TaskSettings

_BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
ALL_FORMATS: tuple[FormatName, ...] = get_args(FormatName)
"""Every format the log ETL loads: each has its table."""


class CompactionInput(TaskSettings):
    """Which tables of the lake to compact, what counts as a closed partition, and how large files grow.

    A partition (one event-time hour of one table) is closed once its hour ended ``min_age_hours`` ago: the ETL
    has loaded what AWS delivers late and the daily backfill has caught up. Its small files are merged into files
    of about ``target_file_mb`` under a new generation prefix; the files it replaced are deleted by a run at
    least ``grace_hours`` after the partition was switched to the new generation.
    """

    lake_bucket: str | None = Field(default=None, pattern=_BUCKET, description="the log ETL's lake bucket")
    lake_prefix: str = Field(default="lake", min_length=1, max_length=256)
    compacted_prefix: str = Field(
        default="compacted", min_length=1, max_length=256, description="where generations (and their manifests) go"
    )
    glue_database: str = Field(default="devops_tasks_logs", pattern=r"^[a-z0-9_]{1,255}$")
    table_prefix: str = Field(default="", pattern=r"^[a-z0-9_]{0,64}$", description="Glue table = prefix + format")
    formats: list[FormatName] = Field(
        default_factory=lambda: list(ALL_FORMATS), min_length=1, max_length=len(ALL_FORMATS)
    )
    min_age_hours: float = Field(default=48.0, ge=1, le=24 * 3660, description="partitions closed this long")
    max_age_days: float = Field(
        default=7.0, gt=0, le=3660, description="partitions older than this are left as they are (not listed)"
    )
    target_file_mb: int = Field(default=256, ge=1, le=4096, description="size of a compacted file")
    grace_hours: float = Field(
        default=24.0, ge=1, le=24 * 90, description="replaced files are kept this long after the switch"
    )
    max_partitions: int = Field(default=500, ge=1, le=100_000, description="partitions compacted per run at most")
    compression: str = Field(default="zstd", pattern=r"^(zstd|snappy)$")
    row_group_rows: int = Field(default=262_144, ge=1_000, le=10_000_000)

    @field_validator("lake_prefix", "compacted_prefix")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip("/")
        if not value:
            raise ValueError("must name a prefix")
        return value

    @field_validator("formats")
    @classmethod
    def _each_once(cls, value: list[FormatName]) -> list[FormatName]:
        if len(set(value)) != len(value):
            raise ValueError("a format is named twice")
        return value

    @model_validator(mode="after")
    def _apart(self) -> CompactionInput:
        a, b = self.lake_prefix + "/", self.compacted_prefix + "/"
        if a.startswith(b) or b.startswith(a):
            raise ValueError(
                "lake_prefix and compacted_prefix must not contain each other (readers of one "
                "would see the other's rows twice)"
            )
        return self

    def table_name(self, log_format: str) -> str:
        return f"{self.table_prefix}{log_format}"


@dataclass(frozen=True, order=True)
class LakeFile:
    """One Parquet object of the lake: its key, ETag (without quotes) and size."""

    key: str
    etag: str
    size: int


@dataclass(frozen=True)
class Fingerprint:
    """What a set of rows must keep through compaction: row count, event-time range and sum, non-null counts."""

    rows: int
    min_time: int | None
    max_time: int | None
    time_sum: int
    non_null: tuple[tuple[str, int], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "min_time": self.min_time,
            "max_time": self.max_time,
            "time_sum": self.time_sum,
            "non_null": dict(self.non_null),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fingerprint:
        return cls(
            rows=int(data["rows"]),
            min_time=data["min_time"],
            max_time=data["max_time"],
            time_sum=int(data["time_sum"]),
            non_null=tuple(sorted((str(k), int(v)) for k, v in data["non_null"].items())),
        )


@dataclass(frozen=True)
class Generation:
    """A compaction of one partition, as its manifest records it.

    ``inputs`` are the files it merged (and replaced), ``outputs`` the files it wrote under ``prefix``;
    ``covered`` the keys of every file of the base prefix whose rows it holds (its own inputs and those of the
    generation it replaced), so a base file seen again later is recognised as already compacted.
    """

    id: str
    prefix: str
    inputs: tuple[LakeFile, ...]
    outputs: tuple[LakeFile, ...]
    covered: frozenset[str]
    switched_at: datetime | None = None
    """When the partition was switched to it (None: written, not switched)."""
    deleted_at: datetime | None = None
    """When its inputs were deleted (None: not yet)."""
    written_at: datetime | None = None
    """When its manifest was last written (S3's LastModified of the listing; None: not known)."""
    manifest_etag: str | None = None
    """The manifest's ETag as listed (without quotes): it is deleted only in that version."""


@dataclass(frozen=True)
class PartitionState:
    """One registered partition as the catalog and the lake bucket show it."""

    format: str
    dt: str
    hour: str
    location: str
    """The Glue partition's location, ``s3://<bucket>/<prefix>/``."""
    base_prefix: str
    """Where the ETL writes this partition's files (``<lake>/format=../dt=../hour=../``)."""
    base_files: tuple[LakeFile, ...] = ()
    generations: tuple[Generation, ...] = field(default=())
