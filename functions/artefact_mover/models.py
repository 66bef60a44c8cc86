"""Input of the artefact mover: where builds, releases and archives live (prefix layouts), and what to do.

Layouts are configuration: ``builds/{project}/{build}/`` by default, or e.g. ``ci/{project}/{branch}/{build}/``.
Placeholders are whole path segments; their values may not contain ``/`` and may not be ``.`` or ``..``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.inputs import RoleArn, TaskSettings

Operation = Literal["promote", "move", "retain"]
PLACEHOLDERS = ("project", "branch", "build", "version")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
SEGMENT_RE = re.compile(r"^\{(" + "|".join(PLACEHOLDERS) + r")\}$")
STORAGE_CLASSES = (
    "STANDARD",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
)
MiB = 1024 * 1024


def check_prefix(prefix: str) -> str:
    """A key prefix spelled one way only: ``""`` or ``a/b/`` (no leading ``/``, no empty, ``.`` or ``..`` segment).

    S3 keys are literal, so ``a//b/`` and ``a/./b/`` name other objects than ``a/b/``; some tools normalise such
    paths and some do not, so they are refused rather than guessed at.
    """
    if prefix == "":
        return prefix
    if not prefix.endswith("/"):
        prefix += "/"
    if prefix.startswith("/"):
        raise ValueError(f"prefix {prefix!r} starts with '/': S3 keys do not (write it without the leading '/')")
    if any(seg in ("", ".", "..") for seg in prefix[:-1].split("/")):
        raise ValueError(f"prefix {prefix!r} has an empty, '.' or '..' segment")
    return prefix


def check_bucket(bucket: str) -> str:
    name = bucket.strip().lower()
    if not BUCKET_RE.match(name) or ".." in name:
        raise ValueError(f"not a bucket name: {bucket!r}")
    return name


def check_segment(name: str, value: str) -> str:
    if not value or "/" in value or value in (".", "..") or len(value) > 255:
        raise ValueError(f"{name} {value!r} must be one path segment (no '/', not '.' or '..')")
    return value


@dataclass(frozen=True)
class Place:
    """A bucket and a key prefix, spelled canonically (see :func:`check_prefix`)."""

    bucket: str
    prefix: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "bucket", check_bucket(self.bucket))
        object.__setattr__(self, "prefix", check_prefix(self.prefix))

    @classmethod
    def parse(cls, text: str) -> Place:
        """``s3://bucket/prefix/``, ``arn:aws:s3:::bucket/prefix/`` or ``bucket/prefix/``."""
        rest = text.strip()
        for head in ("s3://", "arn:aws:s3:::", "arn:aws-us-gov:s3:::", "arn:aws-cn:s3:::"):
            if rest.lower().startswith(head):
                rest = rest[len(head) :]
                break
        bucket, _, prefix = rest.partition("/")
        return cls(bucket, prefix)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def overlaps(self, other: Place) -> bool:
        """Same bucket and one prefix inside the other: a transfer between them would move objects onto themselves."""
        return self.bucket == other.bucket and (
            self.prefix.startswith(other.prefix) or other.prefix.startswith(self.prefix)
        )


class PlaceInput(BaseModel):
    """An explicit location: ``"s3://bucket/prefix/"`` or ``{"bucket": ..., "prefix": ...}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: str
    prefix: str = ""

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            place = Place.parse(value)
            return {"bucket": place.bucket, "prefix": place.prefix}
        return value

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        return check_bucket(value)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return check_prefix(value)

    def place(self) -> Place:
        return Place(self.bucket, self.prefix)


class Layout(BaseModel):
    """Where builds, releases and archived builds live, as key templates ending in ``/``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    builds: str = "builds/{project}/{build}/"
    releases: str = "releases/{project}/{version}/"
    archive: str = "archive/{project}/{build}/"

    @field_validator("builds", "releases", "archive")
    @classmethod
    def _template(cls, value: str) -> str:
        value = check_prefix(value)
        if not value:
            raise ValueError("a layout template may not be empty")
        for seg in value[:-1].split("/"):
            if ("{" in seg or "}" in seg) and not SEGMENT_RE.match(seg):
                raise ValueError(f"{seg!r}: a placeholder ({', '.join(PLACEHOLDERS)}) must be a whole segment")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Layout:
        have = set(placeholders(self.builds))
        if not {"project", "build"} <= have:
            raise ValueError("layout.builds must contain {project} and {build}")
        if "version" in have:
            raise ValueError("layout.builds may not contain {version}")
        if len(placeholders(self.builds)) != len(have):
            raise ValueError("layout.builds uses a placeholder twice")
        if missing := set(placeholders(self.archive)) - have:
            raise ValueError(f"layout.archive uses {sorted(missing)}, which layout.builds does not have")
        if missing := set(placeholders(self.releases)) - have - {"version"}:
            raise ValueError(f"layout.releases uses {sorted(missing)}, which layout.builds does not have")
        return self

    def build_pattern(self) -> re.Pattern[str]:
        """Matches keys inside a build; named groups per placeholder and ``prefix`` for the build's prefix."""
        parts = []
        for seg in self.builds[:-1].split("/"):
            m = SEGMENT_RE.match(seg)
            parts.append(f"(?P<{m.group(1)}>[^/]+)" if m else re.escape(seg))
        return re.compile("^(?P<prefix>" + "/".join(parts) + "/)(?P<rest>.+)$", re.DOTALL)

    def may_hold_builds(self, prefix: str) -> bool:
        """Whether keys under ``prefix`` can lie inside a build of this layout (retain would take them for builds)."""
        template = self.builds[:-1].split("/")
        segments = prefix[:-1].split("/") if prefix else []
        return all(SEGMENT_RE.match(t) or t == s for t, s in zip(template, segments, strict=False))

    def values_of(self, key: str) -> dict[str, str] | None:
        """The placeholder values (and ``prefix``) of the build a key belongs to, or None outside the layout."""
        m = self.build_pattern().match(key)
        if not m:
            return None
        return {k: v for k, v in m.groupdict().items() if k != "rest"}


def placeholders(template: str) -> list[str]:
    return re.findall(r"\{(" + "|".join(PLACEHOLDERS) + r")\}", template)


def render(template: str, values: Mapping[str, str | None]) -> str:
    """Fill a layout template; every placeholder it uses needs a one-segment value."""
    out = template
    for name in placeholders(template):
        value = values.get(name)
        if value is None:
            raise ValueError(f"{name} is needed by the layout {template!r}")
        out = out.replace("{" + name + "}", check_segment(name, value), 1)
    return out


class Retention(BaseModel):
    """The scheduled sweep: keep the newest builds of each project (and branch), archive or delete the others."""

    model_config = ConfigDict(extra="forbid")

    keep_last: int = Field(default=10, ge=1, le=10_000, description="newest builds kept per project (and branch)")
    min_age_hours: float = Field(
        default=24,
        ge=0,
        le=87_600,
        description="builds with an object younger than this are never touched (may be uploading); at most 10 years",
    )
    action: Literal["archive", "delete"] = Field(
        default="archive", description="archive (move to layout.archive in archive_bucket) or delete older builds"
    )
    projects: list[Annotated[str, Field(max_length=255)]] = Field(
        default_factory=list, max_length=1000, description="only these projects; empty means all"
    )


class Marker(BaseModel):
    """What a build's marker object may declare (a JSON object; other keys are CI's own and ignored).

    ``file_count`` (the build's objects besides the marker) or ``files`` (their keys relative to the build) let a
    build that is still uploading be told from a complete one: on a mismatch the build is deferred.
    """

    model_config = ConfigDict(extra="ignore")

    version: str | None = Field(default=None, description="the release version (otherwise the build id)")
    file_count: int | None = Field(
        default=None, ge=0, strict=True, description="objects in the build, not counting the marker"
    )
    files: list[str] | None = Field(default=None, description="keys of the build's objects, relative to the build")

    @field_validator("version")
    @classmethod
    def _version(cls, value: str | None) -> str | None:
        return None if value is None else check_segment("version", value)

    @field_validator("files")
    @classmethod
    def _files(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not f or f.startswith("/") for f in value):
            raise ValueError("files are keys relative to the build: non-empty, without a leading '/'")
        return value


class ArtefactMoverInput(TaskSettings):
    """One operation on build artefacts. Builds and releases are named through ``layout`` or given explicitly."""

    operation: Operation = "promote"
    bucket: str | None = Field(default=None, description="the builds bucket")
    release_bucket: str | None = Field(default=None, description="where releases go; default: the builds bucket")
    archive_bucket: str | None = Field(default=None, description="where retain archives; default: the builds bucket")
    layout: Layout = Field(default_factory=Layout)
    project: str | None = None
    branch: str | None = None
    build: str | None = None
    version: str | None = None
    marker_key: str | None = Field(
        default=None, description="the marker object whose upload triggered this run (names the build)"
    )
    source: PlaceInput | None = Field(default=None, description="explicit source, instead of the layout")
    destination: PlaceInput | None = Field(default=None, description="explicit destination, instead of the layout")
    source_role_arn: RoleArn | None = Field(default=None, description="role for the source bucket's account")
    destination_role_arn: RoleArn | None = Field(default=None, description="role for the destination bucket's account")
    storage_class: Literal[STORAGE_CLASSES] | None = Field(default=None, description="of promoted/moved copies")  # type: ignore[valid-type]
    archive_storage_class: Literal[STORAGE_CLASSES] | None = Field(  # type: ignore[valid-type]
        default=None, description="of archived builds (e.g. GLACIER_IR)"
    )
    kms_key_id: str | None = Field(default=None, description="SSE-KMS key for the copies; default: bucket default")
    on_conflict: Literal["fail", "overwrite"] = Field(
        default="fail", description="when the destination holds a different object under the same key"
    )
    marker_name: str = Field(default="_BUILD_COMPLETE", min_length=1, description="file that marks a build done")
    manifest_name: str = Field(default="release-manifest.json", min_length=1)
    write_manifest: bool = True
    multipart_threshold_mb: int = Field(default=64, ge=5, le=5120)
    part_size_mb: int = Field(default=64, ge=5, le=5120)
    object_workers: int = Field(default=16, ge=1, le=128, description="objects transferred at once")
    head_every_object: bool = Field(
        default=False,
        description="HEAD every source and copy (checksums) instead of verifying small single-part copies by listing",
    )
    verify_by_reading: bool = Field(
        default=True, description="when no checksum or ETag is comparable, read both objects and compare SHA-256"
    )
    retention: Retention = Field(default_factory=Retention)

    @field_validator("bucket", "release_bucket", "archive_bucket")
    @classmethod
    def _buckets(cls, value: str | None) -> str | None:
        return None if value is None else check_bucket(value)

    @field_validator("project", "branch", "build", "version")
    @classmethod
    def _segments(cls, value: str | None, info: Any) -> str | None:
        return None if value is None else check_segment(info.field_name, value)

    @field_validator("marker_name", "manifest_name")
    @classmethod
    def _file_name(cls, value: str, info: Any) -> str:
        return check_segment(info.field_name, value)

    @model_validator(mode="after")
    def _one_place(self) -> ArtefactMoverInput:
        if self.accounts:
            raise ValueError("accounts: name the buckets' accounts with source_role_arn / destination_role_arn")
        if len(self.regions) > 1 or self.regions == ["all"]:
            raise ValueError("regions: at most one (the region of the clients; S3 reaches buckets anywhere)")
        if self.operation != "retain" and self.source is None and not self.bucket:
            raise ValueError(f"{self.operation} needs source, or bucket and the build's project/build")
        if self.operation != "retain":
            source, destination = self.places()
            if source.overlaps(destination):
                raise ValueError(
                    f"refused: destination {destination.uri} and source {source.uri} overlap; "
                    "objects would be moved onto themselves"
                )
            if destination.bucket == self.bucket and self.layout.may_hold_builds(destination.prefix):
                raise ValueError(
                    f"refused: destination {destination.uri} lies inside layout.builds {self.layout.builds!r} of "
                    "the builds bucket: retain would archive or delete the release as an old build"
                )
        elif (self.archive_bucket or self.bucket) == self.bucket and self.retention.action == "archive":
            sample = {"project": "p", "branch": "b", "build": "1"}
            if self.layout.values_of(render(self.layout.archive, sample) + "x") is not None:
                raise ValueError("layout.archive lies inside layout.builds: archived builds would be builds again")
        return self

    def places(self, marker_version: str | None = None) -> tuple[Place, Place]:
        """Source and destination of a promote or move (ValueError names what is missing or invalid)."""
        values: dict[str, str | None] = {"project": self.project, "branch": self.branch, "build": self.build}
        if self.marker_key is not None:
            found = self.layout.values_of(self.marker_key)
            if found is None:
                raise ValueError(f"marker {self.marker_key!r} is not inside a build of {self.layout.builds!r}")
            if "/" in self.marker_key[len(found["prefix"]) :]:
                # a marker deeper in the build may be written before the build's other files are uploaded
                raise ValueError(f"marker {self.marker_key!r} is not at the root of its build {found['prefix']!r}")
            values.update({k: v for k, v in found.items() if k != "prefix"})
        if self.source is not None:
            source = self.source.place()
        elif self.bucket is None:
            raise ValueError("bucket is needed to find the build")
        else:
            source = Place(self.bucket, render(self.layout.builds, values))
        if self.destination is not None:
            return source, self.destination.place()
        version = self.version or marker_version or (values["build"] if self.marker_key else None)
        bucket = self.release_bucket or self.bucket
        if bucket is None:
            raise ValueError("release_bucket (or bucket) is needed for the release location")
        return source, Place(bucket, render(self.layout.releases, values | {"version": version}))

    @property
    def threshold(self) -> int:
        return self.multipart_threshold_mb * MiB

    @property
    def part_size(self) -> int:
        return self.part_size_mb * MiB
