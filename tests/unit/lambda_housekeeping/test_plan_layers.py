"""The layer planner: what is never deleted, the exact deletion set, idempotence, and its reasons."""

from __future__ import annotations

from hypothesis import given, settings

from functions.lambda_housekeeping.models import LayerPolicy, LayerShare
from functions.lambda_housekeeping.plan import (
    Decision,
    plan_layers,
    referenced_layers,
    share_checks_needed,
    storage_summary,
)
from tests.unit.lambda_housekeeping.strategies import (
    LayerEstate,
    layer_arn,
    layer_estates,
    layer_versions,
    published,
    version,
)

PROPERTY = settings(max_examples=200)


def deleted(decisions: list[Decision]) -> set[str]:
    return {d.resource for d in decisions if d.action == "delete"}


@PROPERTY
@given(layer_estates())
def test_never_deletes_a_used_newest_unchecked_or_unselected_version_nor_a_shared_one_unless_asked(
    e: LayerEstate,
) -> None:
    gone = deleted(plan_layers(e.layer_versions, e.referenced, e.shares, e.policy))
    from fnmatch import fnmatchcase

    for lv in e.layer_versions:
        if lv.arn not in gone:
            continue
        assert lv.arn not in e.referenced
        newer = [x for x in e.layer_versions if x.layer == lv.layer and x.version > lv.version]
        assert len(newer) >= e.policy.keep_last
        assert lv.arn in e.shares, "sharing was read"
        assert e.policy.include_shared or not e.shares[lv.arn].principals
        assert any(fnmatchcase(lv.layer, p) for p in e.policy.names)
        assert not any(fnmatchcase(lv.layer, p) for p in e.policy.exclude)


@PROPERTY
@given(layer_estates())
def test_deletes_every_version_the_rules_allow_and_reads_sharing_only_for_those(e: LayerEstate) -> None:
    from fnmatch import fnmatchcase

    expected = set()
    for lv in e.layer_versions:
        if not any(fnmatchcase(lv.layer, p) for p in e.policy.names):
            continue
        if any(fnmatchcase(lv.layer, p) for p in e.policy.exclude):
            continue
        newer = [x for x in e.layer_versions if x.layer == lv.layer and x.version > lv.version]
        share = e.shares.get(lv.arn)
        if lv.arn in e.referenced or len(newer) < e.policy.keep_last or share is None:
            continue
        if share.principals and not e.policy.include_shared:
            continue
        expected.add(lv.arn)
    assert deleted(plan_layers(e.layer_versions, e.referenced, e.shares, e.policy)) == expected
    checks = set(share_checks_needed(e.layer_versions, e.referenced, e.policy))
    assert expected <= checks
    assert not checks & set(e.referenced)


@PROPERTY
@given(layer_estates())
def test_planning_again_on_the_kept_layer_versions_deletes_nothing(e: LayerEstate) -> None:
    gone = deleted(plan_layers(e.layer_versions, e.referenced, e.shares, e.policy))
    kept = [lv for lv in e.layer_versions if lv.arn not in gone]
    assert deleted(plan_layers(kept, e.referenced, e.shares, e.policy)) == set()


def test_reasons_for_each_layer_version() -> None:
    deps = layer_versions("deps", [1, 2, 3, 4, 5, 6, 7])
    other = layer_versions("vendor", [1, 2])
    versions = [
        version("api", "3", layers=(layer_arn("deps", 2),)),
        version("api", "4", layers=(layer_arn("deps", 2),)),
    ]
    referenced = referenced_layers(versions)
    shares = {
        layer_arn("deps", 1): LayerShare(),
        layer_arn("deps", 3): LayerShare(principals=("*",)),
        layer_arn("deps", 4): LayerShare(principals=("210987654321",)),
    }
    policy = LayerPolicy(names=["deps"], keep_last=2)
    assert share_checks_needed(deps + other, referenced, policy) == [layer_arn("deps", n) for n in (1, 3, 4, 5)]
    found = {(d.name, d.version): (d.action, d.reason) for d in plan_layers(deps + other, referenced, shares, policy)}
    assert found == {
        ("deps", "7"): ("keep", "one of the newest 2"),
        ("deps", "6"): ("keep", "one of the newest 2"),
        ("deps", "5"): ("keep", "not used by any function here, but its sharing was not read"),
        ("deps", "4"): ("keep", "shared with 210987654321 (layers.include_shared is off)"),
        ("deps", "3"): ("keep", "shared with * (layers.include_shared is off)"),
        ("deps", "2"): ("keep", "used by api:3, api:4"),
        ("deps", "1"): ("delete", "not one of the newest 2 and not used by any function here"),
        ("vendor", ""): ("skip", "not selected by layers.names / layers.exclude"),
    }
    shared_too = LayerPolicy(names=["deps"], keep_last=2, include_shared=True)
    again = {d.version: d for d in plan_layers(deps, referenced, shares, shared_too) if d.action == "delete"}
    assert sorted(again) == ["1", "3", "4"]
    assert again["3"].reason.endswith("; shared with *")


def test_storage_summary_per_function_and_layer_with_what_the_plan_frees() -> None:
    versions = published("api", [1, 2, 3, 4, 5]) + published("worker", [1])
    deps = layer_versions("deps", [1, 2])
    decisions = [
        Decision("version", "a:1", "api", "1", "delete", "r", 1000),
        Decision("version", "a:2", "api", "2", "keep", "r", 1000),
        Decision("layer-version", "l:1", "deps", "1", "delete", "r", 500),
    ]
    summary = storage_summary(versions, deps, decisions, used_bytes=10_000, quota_bytes=40_000)
    assert summary.listed_bytes == 8 * 1000 + 2 * 500
    assert summary.frees_bytes == 1500
    assert summary.used_percent == 25.0
    assert [(f.name, f.versions, f.code_bytes, f.frees_bytes) for f in summary.functions] == [
        ("api", 6, 6000, 1000),
        ("worker", 2, 2000, 0),
    ]
    assert [(s.name, s.versions, s.code_bytes, s.frees_bytes) for s in summary.layers] == [("deps", 2, 1000, 500)]
    assert storage_summary([], [], [], used_bytes=None, quota_bytes=None).used_percent is None
