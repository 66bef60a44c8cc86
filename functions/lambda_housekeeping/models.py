"""Input of the Lambda housekeeping task, small views of the Lambda objects the planner reads, and the storage
summary it reports."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from shared.inputs import TaskSettings

NAME_PATTERN = r"^[A-Za-z0-9_.*?-]{1,140}$"
"""A function or layer name, or a pattern of one with ``*`` and ``?``: the only wildcards that mean the same in
the planner (``fnmatchcase``) and in the IAM resource ARNs of serverless.yml. Lambda names hold letters, digits,
``-``, ``_`` (and ``.`` in newer functions) only, so no other character can carry a meaning."""

Patterns = Annotated[list[Annotated[str, Field(max_length=140)]], Field(max_length=100)]


def _patterns(values: list[str], what: str) -> list[str]:
    bad = [v for v in values if not re.match(NAME_PATTERN, v)]
    if bad:
        raise ValueError(f"not a {what} name pattern: {', '.join(map(repr, bad))} (letters, digits, -, _, * and ?)")
    return list(dict.fromkeys(values))


class FunctionScope(BaseModel):
    """Which functions have their versions pruned. A function must match ``names``, no ``exclude`` pattern, and
    every tag in ``tags``."""

    model_config = ConfigDict(extra="forbid")

    names: Patterns = Field(default_factory=lambda: ["*"], min_length=1, description="name patterns (* and ?)")
    exclude: Patterns = Field(default_factory=list, description="name patterns never touched")
    tags: dict[str, Annotated[list[Annotated[str, Field(max_length=256)]], Field(max_length=200)]] = Field(
        default_factory=dict,
        max_length=50,
        description="tag key -> accepted values ('*': any value); a function must carry every key",
    )
    edge: Patterns = Field(
        default_factory=list,
        description="name patterns of Lambda@Edge functions (us-east-1, replicated by CloudFront): never deleted",
    )

    @field_validator("names", "exclude", "edge")
    @classmethod
    def _names(cls, values: list[str]) -> list[str]:
        return _patterns(values, "function")

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, accepted in value.items():
            if not key or len(key) > 128:
                raise ValueError(f"tag key {key!r}: 1 to 128 characters")
            if not accepted:
                raise ValueError(f"tag {key!r}: give at least one accepted value (or '*')")
        return value


class VersionRetention(BaseModel):
    """Which published versions of a selected function to keep. Versions in use are always kept."""

    model_config = ConfigDict(extra="forbid")

    keep_last: int = Field(default=3, ge=1, le=1000, description="the newest N published versions")
    max_age_days: int | None = Field(
        default=None,
        ge=1,
        le=36_600,
        description="delete older versions even among the newest N; never the newest one, never one in use",
    )


class LayerPolicy(BaseModel):
    """Which versions of the account's own layers to keep. Versions any function in the unit uses are kept."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    names: Patterns = Field(default_factory=lambda: ["*"], min_length=1, description="layer name patterns")
    exclude: Patterns = Field(default_factory=list)
    keep_last: int = Field(default=3, ge=1, le=1000, description="the newest N versions of each layer")
    include_shared: bool = Field(
        default=False, description="also prune versions shared with other accounts or publicly (their users are unseen)"
    )

    @field_validator("names", "exclude")
    @classmethod
    def _names(cls, values: list[str]) -> list[str]:
        return _patterns(values, "layer")


class LambdaHousekeepingInput(TaskSettings):
    """The task's input: the schedule's ``input``, a manual payload, or defaults from the environment."""

    works_in_member_accounts: ClassVar[bool] = True

    functions: FunctionScope = Field(default_factory=FunctionScope)
    versions: VersionRetention = Field(default_factory=VersionRetention)
    layers: LayerPolicy = Field(default_factory=LayerPolicy)


LATEST = "$LATEST"


@dataclass(frozen=True)
class VersionView:
    """One entry of ``ListFunctions(FunctionVersion=ALL)``: a published version, or ``$LATEST``."""

    function: str
    version: str
    arn: str
    code_size: int = 0
    last_modified: datetime | None = None
    layers: tuple[str, ...] = ()
    """Layer version ARNs this version uses."""
    layer_sizes: Mapping[str, int] = field(default_factory=dict)
    """Their code sizes, as the function configuration states them."""
    number: int | None = field(init=False, compare=False, repr=False)
    """The version number, or None for ``$LATEST`` (and anything that is not a number)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "number", int(self.version) if self.version.isdigit() else None)


@dataclass(frozen=True)
class AliasView:
    name: str
    version: str
    weights: Mapping[str, float] = field(default_factory=dict)
    """RoutingConfig.AdditionalVersionWeights: other versions that get a share of the alias's traffic."""


@dataclass(frozen=True)
class FunctionUsage:
    """What keeps a function's versions in use, read only for functions that may lose a version."""

    aliases: tuple[AliasView, ...] = ()
    provisioned: tuple[str, ...] = ()
    """Qualifiers (version numbers or alias names) that hold provisioned concurrency."""
    tags: Mapping[str, str] | None = None
    """The function's tags, or None when they were not read (no tag scope)."""


@dataclass(frozen=True)
class MappingView:
    """An event source mapping: which function (and which qualifier, if any) it invokes."""

    uuid: str
    function_arn: str


@dataclass(frozen=True)
class LayerVersionView:
    layer: str
    version: int
    arn: str
    code_size: int = 0
    created: datetime | None = None


@dataclass(frozen=True)
class LayerShare:
    """Who besides the account may use a layer version (from its resource policy); empty: nobody."""

    principals: tuple[str, ...] = ()


class FunctionStorage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    versions: int
    code_bytes: int
    frees_bytes: int


class LayerStorage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    versions: int
    code_bytes: int
    frees_bytes: int


class StorageSummary(BaseModel):
    """Code storage of one (account, region) against its quota, and what this run's plan frees."""

    model_config = ConfigDict(extra="forbid")

    used_bytes: int | None = Field(description="AccountUsage.TotalCodeSize (GetAccountSettings)")
    quota_bytes: int | None = Field(description="AccountLimit.TotalCodeSize")
    listed_bytes: int = Field(
        description="code sizes of every version listed, and of the layer versions whose size is known (used by a "
        "function, or deleted): Lambda's listing of layer versions states no size"
    )
    frees_bytes: int = Field(description="code size of the deletions planned")
    freed_bytes: int = Field(description="code size of the deletions done (or already gone)")
    functions: list[FunctionStorage] = Field(default_factory=list)
    layers: list[LayerStorage] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def used_percent(self) -> float | None:
        if self.used_bytes is None or not self.quota_bytes:
            return None
        return 100.0 * self.used_bytes / self.quota_bytes


def function_name_of(arn: str) -> tuple[str, str | None]:
    """``arn:aws:lambda:r:a:function:NAME[:QUALIFIER]`` (or ``NAME[:QUALIFIER]``) -> (NAME, QUALIFIER or None)."""
    tail = arn.split(":function:", 1)[1] if ":function:" in arn else arn
    name, _, qualifier = tail.partition(":")
    return name, qualifier or None


def tags_match(tags: Mapping[str, str], wanted: Mapping[str, list[str]]) -> bool:
    """Every wanted key is present, with one of its accepted values ('*' accepts any)."""
    return all(key in tags and ("*" in accepted or tags[key] in accepted) for key, accepted in wanted.items())
