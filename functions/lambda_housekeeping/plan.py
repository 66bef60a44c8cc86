"""Pure planning of Lambda version and layer version deletions: no AWS calls, no clock reads.

Every version of every selected function and every version of every selected layer gets a decision with a
reason; a function or layer outside the scope gets one ``skip``. Nothing the planner cannot account for is
deleted: a version whose aliases, provisioned concurrency or event source mappings are unknown or unclear is kept,
and so is a layer version whose sharing was not read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Literal

from functions.lambda_housekeeping.models import (
    LATEST,
    AliasView,
    FunctionScope,
    FunctionStorage,
    FunctionUsage,
    LayerPolicy,
    LayerShare,
    LayerStorage,
    LayerVersionView,
    MappingView,
    StorageSummary,
    VersionRetention,
    VersionView,
    function_name_of,
    tags_match,
)

Verb = Literal["keep", "delete", "skip"]
Kind = Literal["version", "layer-version", "function", "layer"]


@dataclass(frozen=True)
class Decision:
    """One planned action on a function version or layer version (keep/delete), or a function or layer (skip)."""

    kind: Kind
    resource: str
    name: str
    version: str
    action: Verb
    reason: str
    code_size: int = 0


def selected(name: str, names: Iterable[str], exclude: Iterable[str]) -> bool:
    """Whether a name matches one of ``names`` and none of ``exclude`` (``*`` and ``?`` wildcards, case-sensitive)."""
    return any(fnmatchcase(name, p) for p in names) and not any(fnmatchcase(name, p) for p in exclude)


def by_function(versions: Iterable[VersionView]) -> dict[str, list[VersionView]]:
    groups: dict[str, list[VersionView]] = defaultdict(list)
    for v in versions:
        groups[v.function].append(v)
    return groups


def newest_published(versions: Iterable[VersionView]) -> list[VersionView]:
    """Published versions, newest (highest number) first. Version numbers only grow and are never reused."""
    return sorted((v for v in versions if v.number is not None), key=_number, reverse=True)


def _number(v: VersionView) -> int:
    return v.number or 0


def _cutoff(retention: VersionRetention, now: datetime) -> datetime | None:
    return now - timedelta(days=retention.max_age_days) if retention.max_age_days else None


def _is_edge(name: str, scope: FunctionScope) -> bool:
    return any(fnmatchcase(name, p) for p in scope.edge)


def usage_needed(
    versions: Iterable[VersionView], scope: FunctionScope, retention: VersionRetention, now: datetime
) -> list[str]:
    """The functions that may lose a version, whose aliases and provisioned concurrency (and tags, with a tag
    scope) must be read: selected by name, not Lambda@Edge, with a published version outside the newest N, or
    older than ``max_age_days`` besides the newest. The others keep every version without those reads."""
    cutoff = _cutoff(retention, now)
    wanted = []
    for name, group in sorted(by_function(versions).items()):
        if not selected(name, scope.names, scope.exclude) or _is_edge(name, scope):
            continue
        published = newest_published(group)
        aged = cutoff is not None and any(v.last_modified and v.last_modified < cutoff for v in published[1:])
        if len(published) > retention.keep_last or aged:
            wanted.append(name)
    return wanted


def mapping_references(mappings: Iterable[MappingView]) -> dict[str, list[tuple[str | None, str]]]:
    """Function name -> (qualifier or None, mapping uuid) of every event source mapping."""
    refs: dict[str, list[tuple[str | None, str]]] = defaultdict(list)
    for m in mappings:
        name, qualifier = function_name_of(m.function_arn)
        refs[name].append((qualifier, m.uuid))
    return refs


def _alias_versions(alias: AliasView) -> list[tuple[str, str]]:
    """(version, how) for the alias's version and the versions its routing configuration weights in."""
    found = [(alias.version, "")]
    found += [(v, f" ({weight:.0%} of its traffic)") for v, weight in sorted(alias.weights.items())]
    return found


def in_use(
    usage: FunctionUsage | None, references: Sequence[tuple[str | None, str]]
) -> tuple[dict[str, list[str]], list[str]]:
    """Why each version is in use (version -> reasons), and references that name something not listed.

    A qualifier is a version number or an alias name; an alias stands for the versions it routes to. An
    unqualified ARN, or ``$LATEST``, invokes ``$LATEST`` and keeps no published version in use.
    """
    uses: dict[str, list[str]] = defaultdict(list)
    unclear: list[str] = []
    aliases = {a.name: a for a in usage.aliases} if usage else {}
    for alias in aliases.values():
        for version, how in _alias_versions(alias):
            uses[version].append(f"alias {alias.name}{how}")

    def through(qualifier: str | None, what: str) -> None:
        if qualifier is None or qualifier == LATEST:
            return
        if qualifier.isdigit():
            uses[qualifier].append(what)
        elif qualifier in aliases:
            for version, _ in _alias_versions(aliases[qualifier]):
                uses[version].append(f"{what} (alias {qualifier})")
        else:
            unclear.append(f"{what} invokes {qualifier!r}, which is not a listed alias")

    for qualifier, uuid in references:
        through(qualifier, f"event source mapping {uuid}")
    for qualifier in usage.provisioned if usage else ():
        through(qualifier, "provisioned concurrency")
    return uses, unclear


def plan_versions(
    versions: Iterable[VersionView],
    usage: Mapping[str, FunctionUsage],
    mappings: Iterable[MappingView],
    scope: FunctionScope,
    retention: VersionRetention,
    now: datetime,
) -> list[Decision]:
    """Keep or delete every version of every selected function, with a reason; skip the other functions.

    Never deleted: ``$LATEST``; a version an alias routes to (its weighted additional version too), one an event
    source mapping or provisioned concurrency names (directly or through an alias); one of the newest
    ``keep_last`` published versions, unless older than ``max_age_days``; the newest published version; any
    version of a Lambda@Edge function (``functions.edge``); any version of a function whose usage was not read
    (absent from ``usage``) or names a qualifier that was not listed.
    """
    refs = mapping_references(mappings)
    rules = _Rules(retention, now)
    decisions: list[Decision] = []
    for name, group in sorted(by_function(versions).items()):
        function_arn = group[0].arn.rsplit(":", 1)[0]
        if not selected(name, scope.names, scope.exclude):
            why = "not selected by functions.names / functions.exclude"
            total = sum(v.code_size for v in group)
            decisions.append(Decision("function", function_arn, name, "", "skip", why, total))
            continue
        fu = usage.get(name)
        if scope.tags and fu is not None and fu.tags is not None and not tags_match(fu.tags, scope.tags):
            total = sum(v.code_size for v in group)
            decisions.append(Decision("function", function_arn, name, "", "skip", "tags do not match", total))
            continue
        uses, unclear = in_use(fu, refs.get(name, []))
        veto = _veto(name, fu, scope, unclear)
        published = newest_published(group)
        rank = {v.version: i for i, v in enumerate(published)}
        newest = published[0].version if published else None
        for v in sorted(group, key=lambda v: (v.number is None, v.number or 0)):
            action, reason = rules.decide(v, rank, newest, uses)
            if action == "delete" and veto:
                action, reason = "keep", veto if veto.startswith("Lambda@Edge") else f"{reason}, but {veto}"
            decisions.append(Decision("version", v.arn, name, v.version, action, reason, v.code_size))
    return decisions


def _veto(name: str, usage: FunctionUsage | None, scope: FunctionScope, unclear: list[str]) -> str | None:
    """Why no version of this function may be deleted this run, if anything forbids it."""
    if _is_edge(name, scope):
        return "Lambda@Edge function (functions.edge): never deleted"
    if usage is None:
        return "its aliases and provisioned concurrency were not read"
    if scope.tags and usage.tags is None:
        return "its tags were not read"
    if unclear:
        return "; ".join(unclear)
    return None


class _Rules:
    """The count and age rules of one plan, with their reasons worded once."""

    def __init__(self, retention: VersionRetention, now: datetime) -> None:
        self.keep_last = retention.keep_last
        self.cutoff = _cutoff(retention, now)
        days = retention.max_age_days
        self.newest = "newest published version"
        self.newest_old = f"newest published version (older than {days} days)"
        self.recent = f"one of the newest {self.keep_last}"
        self.too_old = f"older than {days} days and not in use"
        self.surplus = f"not one of the newest {self.keep_last} and not in use"

    def decide(
        self, v: VersionView, rank: Mapping[str, int], newest: str | None, uses: Mapping[str, list[str]]
    ) -> tuple[Verb, str]:
        if v.version == LATEST:
            return "keep", "$LATEST is never deleted"
        if v.number is None:
            return "keep", f"unrecognised version {v.version!r}"
        if v.version in uses:
            return "keep", "in use: " + "; ".join(uses[v.version])
        old = self.cutoff is not None and v.last_modified is not None and v.last_modified < self.cutoff
        if v.version == newest:
            return "keep", self.newest_old if old else self.newest
        if rank[v.version] < self.keep_last:
            return ("delete", self.too_old) if old else ("keep", self.recent)
        return "delete", self.surplus


def referenced_layers(versions: Iterable[VersionView]) -> dict[str, list[str]]:
    """Layer version ARN -> the function versions (``name:version``) that use it."""
    users: dict[str, list[str]] = defaultdict(list)
    for v in versions:
        for arn in v.layers:
            users[arn].append(f"{v.function}:{v.version}")
    return users


def layer_sizes(versions: Iterable[VersionView]) -> dict[str, int]:
    """Layer version ARN -> code size, as the function configurations that use it state it."""
    return {arn: size for v in versions for arn, size in v.layer_sizes.items()}


def _layer_candidates(
    layer_versions: Iterable[LayerVersionView], referenced: Mapping[str, list[str]], policy: LayerPolicy
) -> tuple[dict[str, list[LayerVersionView]], set[str]]:
    groups: dict[str, list[LayerVersionView]] = defaultdict(list)
    for lv in layer_versions:
        groups[lv.layer].append(lv)
    candidates = set()
    for name, group in groups.items():
        if not selected(name, policy.names, policy.exclude):
            continue
        ordered = sorted(group, key=lambda lv: lv.version, reverse=True)
        candidates |= {lv.arn for lv in ordered[policy.keep_last :] if lv.arn not in referenced}
    return groups, candidates


def share_checks_needed(
    layer_versions: Iterable[LayerVersionView], referenced: Mapping[str, list[str]], policy: LayerPolicy
) -> list[str]:
    """Layer versions that may be deleted, whose resource policy must be read first (sharing)."""
    return sorted(_layer_candidates(layer_versions, referenced, policy)[1])


def plan_layers(
    layer_versions: Iterable[LayerVersionView],
    referenced: Mapping[str, list[str]],
    shares: Mapping[str, LayerShare],
    policy: LayerPolicy,
    others: Mapping[str, str] | None = None,
) -> list[Decision]:
    """Keep or delete every version of every selected layer of the account, with a reason; skip the other layers
    (those among ``layer_versions``, and ``others``: name -> layer ARN of layers whose versions were not listed).

    Never deleted: a version any function version in the unit uses; one of the newest ``keep_last``; one whose
    sharing is unknown (absent from ``shares``); one shared with other accounts or publicly, unless
    ``include_shared``.
    """
    groups, candidates = _layer_candidates(layer_versions, referenced, policy)
    decisions: list[Decision] = []
    unselected = "not selected by layers.names / layers.exclude"
    for name, arn in sorted((others or {}).items()):
        decisions.append(Decision("layer", arn, name, "", "skip", unselected))
    for name in sorted(groups):
        group = sorted(groups[name], key=lambda lv: lv.version, reverse=True)
        if not selected(name, policy.names, policy.exclude):
            layer_arn = group[0].arn.rsplit(":", 1)[0]
            total = sum(lv.code_size for lv in group)
            decisions.append(Decision("layer", layer_arn, name, "", "skip", unselected, total))
            continue
        for index, lv in enumerate(group):
            action: Verb = "keep"
            users = referenced.get(lv.arn, [])
            share = shares.get(lv.arn)
            if users:
                shown = ", ".join(users[:3]) + (f" and {len(users) - 3} more" if len(users) > 3 else "")
                reason = f"used by {shown}"
            elif index < policy.keep_last:
                reason = f"one of the newest {policy.keep_last}"
            elif lv.arn not in candidates or share is None:
                reason = "not used by any function here, but its sharing was not read"
            elif share.principals and not policy.include_shared:
                reason = f"shared with {', '.join(share.principals)} (layers.include_shared is off)"
            else:
                action = "delete"
                shared = f"; shared with {', '.join(share.principals)}" if share.principals else ""
                reason = f"not one of the newest {policy.keep_last} and not used by any function here{shared}"
            decisions.append(Decision("layer-version", lv.arn, name, str(lv.version), action, reason, lv.code_size))
    return decisions


def storage_summary(
    versions: Iterable[VersionView],
    layer_versions: Iterable[LayerVersionView],
    decisions: Iterable[Decision],
    *,
    used_bytes: int | None,
    quota_bytes: int | None,
) -> StorageSummary:
    """Code storage per function and layer, and what the plan's deletions free (``freed_bytes`` is the executor's)."""
    frees: dict[tuple[str, str], int] = defaultdict(int)
    for d in decisions:
        if d.action == "delete":
            frees[("layer" if d.kind == "layer-version" else "function", d.name)] += d.code_size
    functions: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for v in versions:
        functions[v.function][0] += 1
        functions[v.function][1] += v.code_size
    layers: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for lv in layer_versions:
        layers[lv.layer][0] += 1
        layers[lv.layer][1] += lv.code_size
    return StorageSummary(
        used_bytes=used_bytes,
        quota_bytes=quota_bytes,
        listed_bytes=sum(b for _, b in functions.values()) + sum(b for _, b in layers.values()),
        frees_bytes=sum(frees.values()),
        freed_bytes=0,
        functions=sorted(
            (
                FunctionStorage(name=n, versions=c, code_bytes=b, frees_bytes=frees[("function", n)])
                for n, (c, b) in functions.items()
            ),
            key=lambda f: (-f.code_bytes, f.name),
        ),
        layers=sorted(
            (
                LayerStorage(name=n, versions=c, code_bytes=b, frees_bytes=frees[("layer", n)])
                for n, (c, b) in layers.items()
            ),
            key=lambda s: (-s.code_bytes, s.name),
        ),
    )
