"""The version planner: what is never deleted, the exact deletion set, idempotence, coverage and determinism."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from fnmatch import fnmatchcase

from hypothesis import given, settings

from functions.lambda_housekeeping.models import (
    LATEST,
    AliasView,
    FunctionScope,
    FunctionUsage,
    MappingView,
    VersionRetention,
    VersionView,
)
from functions.lambda_housekeeping.plan import Decision, plan_versions, usage_needed
from tests.unit.lambda_housekeeping.strategies import NOW, Estate, estates, fn_arn, published, version

PROPERTY = settings(max_examples=150)


def plan(e: Estate, versions: list[VersionView] | None = None) -> list[Decision]:
    return plan_versions(versions or e.versions, e.usage, e.mappings, e.scope, e.retention, e.now)


def deleted(decisions: list[Decision]) -> set[str]:
    return {d.resource for d in decisions if d.action == "delete"}


def refs_of(e: Estate, name: str) -> list[str | None]:
    found = []
    for m in e.mappings:
        tail = m.function_arn.split(":function:", 1)[1]
        fn, _, q = tail.partition(":")
        if fn == name:
            found.append(q or None)
    return found


def reference_deletions(e: Estate) -> set[str]:
    """A brute-force statement of the version rules, written independently of plan.py."""
    cutoff = NOW - timedelta(days=e.retention.max_age_days) if e.retention.max_age_days else None
    doomed: set[str] = set()
    for name in {v.function for v in e.versions}:
        if not any(fnmatchcase(name, p) for p in e.scope.names) or any(fnmatchcase(name, p) for p in e.scope.exclude):
            continue
        if any(fnmatchcase(name, p) for p in e.scope.edge):
            continue
        u = e.usage.get(name)
        if u is None:
            continue
        if e.scope.tags:
            if u.tags is None:
                continue
            if not all(k in u.tags and ("*" in ok or u.tags[k] in ok) for k, ok in e.scope.tags.items()):
                continue
        routes = {a.name: {a.version, *a.weights} for a in u.aliases}
        held = set().union(*routes.values()) if routes else set()
        unclear = False
        for q in [*refs_of(e, name), *u.provisioned]:
            if q is None or q == LATEST:
                continue
            if q.isdigit():
                held.add(q)
            elif q in routes:
                held |= routes[q]
            else:
                unclear = True
        if unclear:
            continue
        mine = [v for v in e.versions if v.function == name and v.version.isdigit()]
        numbers = sorted((int(v.version) for v in mine), reverse=True)
        for v in mine:
            rank = numbers.index(int(v.version))
            if v.version in held or rank == 0:
                continue
            too_old = cutoff is not None and v.last_modified is not None and v.last_modified < cutoff
            if rank >= e.retention.keep_last or too_old:
                doomed.add(v.arn)
    return doomed


@PROPERTY
@given(estates())
def test_never_deletes_latest_a_version_in_use_the_newest_or_one_of_the_newest_n(e: Estate) -> None:
    cutoff = NOW - timedelta(days=e.retention.max_age_days) if e.retention.max_age_days else None
    gone = deleted(plan(e))
    by_arn = {v.arn: v for v in e.versions}
    for arn in gone:
        v = by_arn[arn]
        assert v.version != LATEST
        assert v.version.isdigit()
        u = e.usage[v.function]  # never a function whose usage was not read
        for a in u.aliases:
            assert v.version not in {a.version, *a.weights}, (arn, a)
        assert v.version not in refs_of(e, v.function)
        assert v.version not in u.provisioned
        numbers = sorted(int(x.version) for x in e.versions if x.function == v.function and x.version.isdigit())
        assert int(v.version) != numbers[-1], "the newest published version"
        if int(v.version) in numbers[-e.retention.keep_last :]:
            assert cutoff is not None
            assert v.last_modified is not None
            assert v.last_modified < cutoff
        assert not any(fnmatchcase(v.function, p) for p in e.scope.edge)


@PROPERTY
@given(estates())
def test_deletes_exactly_what_the_rules_say(e: Estate) -> None:
    assert deleted(plan(e)) == reference_deletions(e)


@PROPERTY
@given(estates())
def test_planning_again_on_the_kept_versions_deletes_nothing(e: Estate) -> None:
    gone = deleted(plan(e))
    kept = [v for v in e.versions if v.arn not in gone]
    assert deleted(plan(e, kept)) == set()


@PROPERTY
@given(estates())
def test_every_version_of_a_selected_function_gets_one_decision_and_others_one_skip(e: Estate) -> None:
    decisions = plan(e)
    per_version = Counter(d.resource for d in decisions if d.kind == "version")
    skipped = {d.name for d in decisions if d.kind == "function"}
    assert all(d.action == "skip" for d in decisions if d.kind == "function")
    for v in e.versions:
        if v.function in skipped:
            assert per_version[v.arn] == 0
        else:
            assert per_version[v.arn] == 1, v.arn
    assert all(d.reason for d in decisions)
    assert len(skipped) == sum(1 for d in decisions if d.kind == "function")


@PROPERTY
@given(estates())
def test_the_plan_does_not_depend_on_listing_order(e: Estate) -> None:
    shuffled = list(e.versions)
    random.Random(7).shuffle(shuffled)
    assert sorted(map(repr, plan(e, shuffled))) == sorted(map(repr, plan(e)))


@PROPERTY
@given(estates())
def test_usage_is_read_for_every_function_that_can_lose_a_version(e: Estate) -> None:
    """Reading usage only for usage_needed() functions loses no deletion the full reads would allow."""
    needed = set(usage_needed(e.versions, e.scope, e.retention, e.now))
    narrowed = Estate(e.versions, {k: u for k, u in e.usage.items() if k in needed}, e.mappings, e.scope, e.retention)
    assert deleted(plan(narrowed)) == deleted(plan(e))


SCOPE = FunctionScope()
KEEP3 = VersionRetention(keep_last=3)


def decide(
    versions: list[VersionView],
    usage: dict[str, FunctionUsage] | None = None,
    mappings: list[MappingView] | None = None,
    scope: FunctionScope = SCOPE,
    retention: VersionRetention = KEEP3,
) -> dict[str, tuple[str, str]]:
    usage = {"api": FunctionUsage()} if usage is None else usage
    found = plan_versions(versions, usage, mappings or [], scope, retention, NOW)
    return {d.version or d.name: (d.action, d.reason) for d in found}


def test_an_alias_keeps_its_version_and_the_weighted_additional_version() -> None:
    usage = {"api": FunctionUsage(aliases=(AliasView("live", "7", {"5": 0.1}),))}
    plan_ = decide(published("api", list(range(1, 11))), usage)
    assert plan_["7"] == ("keep", "in use: alias live")
    assert plan_["5"] == ("keep", "in use: alias live (10% of its traffic)")
    assert plan_["6"][0] == "delete"
    assert plan_[LATEST] == ("keep", "$LATEST is never deleted")
    assert plan_["10"] == ("keep", "newest published version")
    assert plan_["9"] == plan_["8"] == ("keep", "one of the newest 3")


def test_mappings_and_provisioned_concurrency_keep_versions_directly_and_through_aliases() -> None:
    usage = {"api": FunctionUsage(aliases=(AliasView("blue", "2"),), provisioned=("3", "blue"))}
    mappings = [
        MappingView("m-1", fn_arn("api", "4")),
        MappingView("m-2", fn_arn("api", "blue")),
        MappingView("m-3", fn_arn("api")),
        MappingView("m-4", fn_arn("api", LATEST)),
    ]
    plan_ = decide(published("api", list(range(1, 11))), usage, mappings)
    assert plan_["4"] == ("keep", "in use: event source mapping m-1")
    assert plan_["3"] == ("keep", "in use: provisioned concurrency")
    assert plan_["2"] == (
        "keep",
        "in use: alias blue; event source mapping m-2 (alias blue); provisioned concurrency (alias blue)",
    )
    assert {v for v, (action, _) in plan_.items() if action == "delete"} == {"1", "5", "6", "7"}


def test_a_mapping_to_an_alias_that_was_not_listed_keeps_every_version_of_the_function() -> None:
    mappings = [MappingView("m-9", fn_arn("api", "green"))]
    plan_ = decide(published("api", list(range(1, 11))), {"api": FunctionUsage()}, mappings)
    assert not [v for v, (action, _) in plan_.items() if action == "delete"]
    assert plan_["1"] == (
        "keep",
        "not one of the newest 3 and not in use, but event source mapping m-9 invokes 'green', "
        "which is not a listed alias",
    )


def test_a_function_whose_usage_was_not_read_keeps_every_version() -> None:
    plan_ = decide(published("api", list(range(1, 11))), usage={})
    assert not [v for v, (action, _) in plan_.items() if action == "delete"]
    assert plan_["1"][1].endswith("but its aliases and provisioned concurrency were not read")


def test_lambda_edge_functions_by_configuration_keep_every_version() -> None:
    scope = FunctionScope(edge=["*-edge"])
    versions = published("site-edge", list(range(1, 11))) + published("api", list(range(1, 11)))
    usage = {"site-edge": FunctionUsage(), "api": FunctionUsage()}
    found = plan_versions(versions, usage, [], scope, KEEP3, NOW)
    edge = {d.version: d for d in found if d.name == "site-edge"}
    assert {d.action for d in edge.values()} == {"keep"}
    assert edge["1"].reason == "Lambda@Edge function (functions.edge): never deleted"
    assert any(d.action == "delete" for d in found if d.name == "api")
    assert "site-edge" not in usage_needed(versions, scope, KEEP3, NOW)


def test_max_age_deletes_old_versions_among_the_newest_n_but_never_the_newest() -> None:
    versions = [
        version("api", "1", days_old=100),
        version("api", "2", days_old=90),
        version("api", "3", days_old=80),
        version("api", "4", days_old=5),
        VersionView("api", "5", fn_arn("api", "5")),  # age unknown: the count rule alone decides
        version("api", "6", days_old=70),
    ]
    plan_ = decide(versions, retention=VersionRetention(keep_last=3, max_age_days=30))
    assert plan_["6"] == ("keep", "newest published version (older than 30 days)")
    assert plan_["5"] == ("keep", "one of the newest 3")
    assert plan_["4"] == ("keep", "one of the newest 3")
    assert plan_["3"] == ("delete", "not one of the newest 3 and not in use")
    assert plan_["1"][0] == plan_["2"][0] == "delete"
    young = [version("api", "1", days_old=40), version("api", "2", days_old=20), version("api", "3", days_old=10)]
    assert decide(young, retention=VersionRetention(keep_last=3, max_age_days=30))["1"] == (
        "delete",
        "older than 30 days and not in use",
    )


def test_scope_by_name_exclude_and_tags() -> None:
    versions = published("api", [1, 2, 3, 4, 5]) + published("api-admin", [1, 2, 3, 4, 5]) + published("web", [1, 2])
    usage = {"api": FunctionUsage(tags={"team": "a"}), "api-admin": FunctionUsage(tags={"team": "b"})}
    scope = FunctionScope(names=["api*"], exclude=["*-old"], tags={"team": ["a"]})
    found = plan_versions(versions, usage, [], scope, KEEP3, NOW)
    skips = {d.name: d.reason for d in found if d.kind == "function"}
    assert skips == {"web": "not selected by functions.names / functions.exclude", "api-admin": "tags do not match"}
    assert {d.version for d in found if d.action == "delete"} == {"1", "2"}
    assert {d.name for d in found if d.action == "delete"} == {"api"}


def test_tag_scope_with_tags_not_read_deletes_nothing() -> None:
    scope = FunctionScope(tags={"team": ["*"]})
    plan_ = decide(published("api", list(range(1, 8))), {"api": FunctionUsage(tags=None)}, scope=scope)
    assert not [v for v, (action, _) in plan_.items() if action == "delete"]
    assert plan_["1"][1].endswith("but its tags were not read")


def test_an_unrecognised_version_is_kept() -> None:
    versions = [*published("api", [1, 2, 3, 4, 5]), version("api", "$LATEST.PUBLISHED")]
    plan_ = decide(versions)
    assert plan_["$LATEST.PUBLISHED"] == ("keep", "unrecognised version '$LATEST.PUBLISHED'")
    assert {v for v, (action, _) in plan_.items() if action == "delete"} == {"1", "2"}
