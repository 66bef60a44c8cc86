"""Hypothesis strategies and builders for the Lambda housekeeping planner tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from functions.lambda_housekeeping.models import (
    LATEST,
    AliasView,
    FunctionScope,
    FunctionUsage,
    LayerPolicy,
    LayerShare,
    LayerVersionView,
    MappingView,
    VersionRetention,
    VersionView,
)

ACCOUNT = "123456789012"
PREFIX = f"arn:aws:lambda:eu-west-1:{ACCOUNT}"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
FUNCTIONS = ["api", "api-edge", "worker", "cron"]
ALIASES = ["live", "canary", "beta"]


def fn_arn(name: str, qualifier: str | None = None) -> str:
    return f"{PREFIX}:function:{name}" + (f":{qualifier}" if qualifier else "")


def layer_arn(name: str, version: int) -> str:
    return f"{PREFIX}:layer:{name}:{version}"


def version(name: str, v: str, *, days_old: float = 1.0, size: int = 1000, layers: tuple[str, ...] = ()) -> VersionView:
    return VersionView(
        function=name,
        version=v,
        arn=fn_arn(name, v),
        code_size=size,
        last_modified=NOW - timedelta(days=days_old),
        layers=layers,
    )


def published(name: str, numbers: list[int], *, latest: bool = True) -> list[VersionView]:
    """Versions ``numbers`` of ``name`` (the higher the newer: one day apart), plus ``$LATEST``."""
    top = max(numbers, default=0)
    found = [version(name, str(n), days_old=float(top - n + 1)) for n in numbers]
    return found + ([version(name, LATEST, days_old=0.0)] if latest else [])


@dataclass
class Estate:
    versions: list[VersionView]
    usage: dict[str, FunctionUsage]
    mappings: list[MappingView]
    scope: FunctionScope
    retention: VersionRetention
    now: datetime = NOW
    notes: dict[str, str] = field(default_factory=dict)


qualifiers = st.one_of(st.none(), st.just(LATEST), st.integers(1, 40).map(str), st.sampled_from([*ALIASES, "gone"]))


@st.composite
def usages(draw: st.DrawFn, numbers: list[int]) -> FunctionUsage:
    targets = st.sampled_from([str(n) for n in numbers] or [LATEST]) if numbers else st.just(LATEST)
    aliases = []
    for name in draw(st.lists(st.sampled_from(ALIASES), unique=True, max_size=3)):
        weights = draw(st.dictionaries(targets, st.floats(0.01, 0.99), max_size=1))
        aliases.append(AliasView(name=name, version=draw(st.one_of(targets, st.just(LATEST))), weights=weights))
    provisioned = tuple(draw(st.lists(st.one_of(targets, st.sampled_from(ALIASES)), max_size=2)))
    tags = draw(st.one_of(st.none(), st.sampled_from([{"team": "a"}, {"team": "b"}, {}])))
    return FunctionUsage(aliases=tuple(aliases), provisioned=provisioned, tags=tags)


@st.composite
def estates(draw: st.DrawFn) -> Estate:
    versions: list[VersionView] = []
    usage: dict[str, FunctionUsage] = {}
    mappings: list[MappingView] = []
    for name in draw(st.lists(st.sampled_from(FUNCTIONS), unique=True, min_size=1)):
        numbers = sorted(draw(st.sets(st.integers(1, 40), max_size=25)))
        ages = draw(st.lists(st.one_of(st.none(), st.floats(0, 400)), min_size=len(numbers), max_size=len(numbers)))
        for n, days in zip(numbers, ages, strict=True):
            v = version(name, str(n), days_old=days or 0.0)
            versions.append(v if days is not None else VersionView(v.function, v.version, v.arn, v.code_size))
        if draw(st.booleans()):
            versions.append(version(name, LATEST, days_old=0.0))
        if draw(st.integers(0, 4)):  # usage usually read
            usage[name] = draw(usages(numbers))
        for i, q in enumerate(draw(st.lists(qualifiers, max_size=3))):
            mappings.append(MappingView(uuid=f"{name}-esm-{i}", function_arn=fn_arn(name, q)))
    scope = FunctionScope(
        names=draw(st.sampled_from([["*"], ["api*"], ["worker", "cron"]])),
        exclude=draw(st.sampled_from([[], ["cron"]])),
        tags=draw(st.sampled_from([{}, {}, {"team": ["a"]}, {"team": ["*"]}])),
        edge=draw(st.sampled_from([[], ["*-edge"]])),
    )
    retention = VersionRetention(
        keep_last=draw(st.integers(1, 6)), max_age_days=draw(st.one_of(st.none(), st.integers(1, 300)))
    )
    return Estate(versions, usage, mappings, scope, retention)


def layer_versions(name: str, numbers: list[int]) -> list[LayerVersionView]:
    return [LayerVersionView(layer=name, version=n, arn=layer_arn(name, n), code_size=500) for n in numbers]


@dataclass
class LayerEstate:
    layer_versions: list[LayerVersionView]
    referenced: dict[str, list[str]]
    shares: dict[str, LayerShare]
    policy: LayerPolicy


@st.composite
def layer_estates(draw: st.DrawFn) -> LayerEstate:
    found: list[LayerVersionView] = []
    for name in draw(st.lists(st.sampled_from(["deps", "deps-big", "shared-utils"]), unique=True, min_size=1)):
        found += layer_versions(name, sorted(draw(st.sets(st.integers(1, 30), min_size=1, max_size=20))))
    arns = [lv.arn for lv in found]
    referenced = {a: [f"api:{i}"] for i, a in enumerate(draw(st.lists(st.sampled_from(arns), unique=True)))}
    shares: dict[str, LayerShare] = {}
    for arn in arns:
        kind = draw(st.sampled_from(["none", "none", "public", "account", "unknown"]))
        if kind == "none":
            shares[arn] = LayerShare()
        elif kind == "public":
            shares[arn] = LayerShare(principals=("*",))
        elif kind == "account":
            shares[arn] = LayerShare(principals=("210987654321",))
    policy = LayerPolicy(
        names=draw(st.sampled_from([["*"], ["deps*"]])),
        exclude=draw(st.sampled_from([[], ["deps-big"]])),
        keep_last=draw(st.integers(1, 5)),
        include_shared=draw(st.booleans()),
    )
    return LayerEstate(found, referenced, shares, policy)
