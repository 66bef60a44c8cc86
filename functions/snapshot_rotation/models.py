"""Input of the snapshot rotation task, and small views of the EC2 objects the planner reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.fanout import FanOutSettings
from shared.inputs import Region

TAG_PREFIX = "devops-tasks:"
MANAGED_TAG = f"{TAG_PREFIX}managed"
POLICY_TAG = f"{TAG_PREFIX}policy"
VOLUME_TAG = f"{TAG_PREFIX}volume-id"
SOURCE_SNAPSHOT_TAG = f"{TAG_PREFIX}source-snapshot"
SOURCE_REGION_TAG = f"{TAG_PREFIX}source-region"


TagValues = Annotated[list[Annotated[str, Field(max_length=256)]], Field(min_length=1, max_length=200)]
"""Tag values of one DescribeVolumes/DescribeInstances filter: EC2 takes at most 200, each at most 256 characters."""


class Retention(BaseModel):
    """Which snapshots of a volume to keep. A snapshot kept by any rule is kept."""

    model_config = ConfigDict(extra="forbid")

    keep_last: int = Field(default=7, ge=1, le=1000, description="the newest N completed snapshots")
    daily: int = Field(default=7, ge=0, le=3660, description="newest snapshot of each of the newest N days")
    weekly: int = Field(default=4, ge=0, le=520, description="... of each of the newest N ISO weeks")
    monthly: int = Field(default=12, ge=0, le=240, description="... of each of the newest N months")
    yearly: int = Field(default=0, ge=0, le=100, description="... of each of the newest N years")
    max_age_days: int | None = Field(
        default=None,
        ge=1,
        le=36_600,
        description="delete anything older, whatever the tiers say (safety rules still win)",
    )
    timezone: str = Field(default="UTC", description="IANA zone in which days, weeks, months and years begin")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class DrCopy(BaseModel):
    """Copy the newest snapshot of each volume to a disaster-recovery region, rotated there by the same policy."""

    model_config = ConfigDict(extra="forbid")

    region: Region
    kms_key_id: str | None = Field(default=None, description="key in the DR region; the copy is encrypted with it")
    max_in_flight: int = Field(default=20, ge=1, le=20, description="copies pending at once per DR region")


class Policy(BaseModel):
    """Which volumes to snapshot, how often, and how long to keep what this policy made."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    volume_tag_key: str | None = Field(default="Backup", min_length=1, max_length=128)
    volume_tag_values: TagValues = Field(default_factory=lambda: ["true"])
    instance_tag_key: str | None = Field(default=None, min_length=1, max_length=128)
    instance_tag_values: TagValues = Field(default_factory=lambda: ["true"])
    period: Literal["hour", "day", "week"] = Field(default="day", description="at most one snapshot per period")
    retention: Retention = Field(default_factory=Retention)
    dr: DrCopy | None = None

    @model_validator(mode="after")
    def _some_selector(self) -> Policy:
        if not self.volume_tag_key and not self.instance_tag_key:
            raise ValueError("set volume_tag_key or instance_tag_key: a policy must select volumes by tag")
        return self


class SnapshotRotationInput(FanOutSettings):
    """The task's input: the schedule's ``input``, a manual payload, or defaults from the environment."""

    works_in_member_accounts: ClassVar[bool] = True

    policy: Policy = Field(default_factory=Policy)
    create: bool = Field(default=True, description="create this period's snapshots")
    rotate: bool = Field(default=True, description="delete snapshots outside retention")

    @model_validator(mode="after")
    def _dr_elsewhere(self) -> SnapshotRotationInput:
        if self.policy.dr and self.policy.dr.region in self.regions:
            raise ValueError(f"policy.dr.region {self.policy.dr.region} is also a source region")
        return self


@dataclass(frozen=True)
class SnapshotView:
    """What the planner needs of a snapshot."""

    snapshot_id: str
    volume_id: str
    start_time: datetime
    state: str
    tags: Mapping[str, str] = field(default_factory=dict)

    def owned_by(self, policy_name: str) -> bool:
        return self.tags.get(MANAGED_TAG) == "true" and self.tags.get(POLICY_TAG) == policy_name


@dataclass(frozen=True)
class VolumeView:
    """What the planner needs of a volume (and the tags of the instance it is attached to)."""

    volume_id: str
    state: str
    tags: Mapping[str, str] = field(default_factory=dict)
    instance_id: str | None = None
    instance_tags: Mapping[str, str] = field(default_factory=dict)
