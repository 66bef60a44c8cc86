"""Listings served in pages (moto serves one): every page is read once, the plan does not depend on page sizes, and
a run makes the minimum number of calls."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from functions.lambda_housekeeping.task import TASK
from shared.aws import Clients
from shared.runner import execute
from tests.faults import CallLog
from tests.functional.lambda_housekeeping import estate
from tests.functional.lambda_housekeeping.pages import LambdaPages
from tests.helpers import FakeContext

SMALL = {
    "ListFunctions": 7,
    "ListEventSourceMappings": 2,
    "ListAliases": 2,
    "ListLayers": 1,
    "ListLayerVersions": 4,
    "ListProvisionedConcurrencyConfigs": 1,
}


def seed() -> None:
    lam = estate.lam()
    deps = estate.layer(lam, "deps", 6)
    estate.layer(lam, "tools", 6)
    estate.layer(lam, "fonts", 6)
    for name in ("api", "worker", "cron"):
        estate.function(lam, name, 12, layers_at={1: [deps[0]], 9: [deps[4]]})
        for alias, version in (("blue", "3"), ("green", "5"), ("live", "10")):
            estate.alias(lam, name, alias, version)
    for i, target in enumerate(["api:2", "worker:4", "cron", "api:live", "worker:6"]):
        estate.mapping(lam, target, f"q{i}")
    estate.provisioned(lam, "api", "7")
    estate.provisioned(lam, "api", "8")


def planned(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted((a["action"], a["resource"], a["reason"]) for a in estate.actions(report) if a["action"] != "measure")


def run(limits: dict[str, int] | None, **extra: Any) -> tuple[dict[str, Any], LambdaPages, CallLog]:
    session = estate.session()
    pages = LambdaPages(estate.lam(), limits).attach(session)
    log = CallLog().attach(session)
    report = execute(TASK, {"dry_run": True} | extra, FakeContext(), clients=Clients(session))
    return report, pages, log


def test_every_page_is_read_once_and_the_plan_does_not_depend_on_page_sizes(aws: None) -> None:
    seed()
    unpaged = execute(TASK, {"dry_run": True}, FakeContext(), clients=Clients(estate.session()))
    paged, pages, _ = run(SMALL)
    assert planned(paged) == planned(unpaged)
    assert paged["units"][0]["counts"]["delete_planned"] == unpaged["units"][0]["counts"]["delete_planned"] > 0

    entries = 3 * 13  # 12 versions and $LATEST of each function
    assert pages.pages("ListFunctions") == math.ceil(entries / 7)
    markers = [marker for op, marker, _ in pages.served if op == "ListFunctions"]
    assert markers == [None, *[str(7 * i) for i in range(1, math.ceil(entries / 7))]]
    assert pages.pages("ListEventSourceMappings") == 3
    assert pages.pages("ListLayers") == 3
    assert pages.pages("ListLayerVersions") == 3 * 2
    assert pages.pages("ListAliases") == 3 * 2
    assert pages.pages("ListProvisionedConcurrencyConfigs") == 3 + 1  # api has two configurations


def test_a_run_makes_the_minimum_number_of_calls_at_aws_page_sizes(aws: None) -> None:
    seed()
    report, pages, log = run(None, dry_run=False)
    served = Counter(op for op, _, _ in pages.served)  # the listings (answered before the call log sees them)
    calls = log.operations("lambda") + served
    deletes = Counter(
        a["detail"]["kind"] for a in estate.actions(report) if a["action"] == "delete" and a["status"] == "done"
    )
    # versions 1-9 less the aliases' 3 and 5: api keeps 2 (mapping), 7 and 8 (provisioned); worker 4 and 6 (mappings)
    assert deletes == {"version": 4 + 5 + 7, "layer-version": 8}
    assert calls == {
        "ListFunctions": 1,  # 39 entries: one page of 50, all versions of every function
        "ListEventSourceMappings": 1,
        "ListAliases": 3,  # one per function that may lose a version
        "ListProvisionedConcurrencyConfigs": 3,
        "ListLayers": 1,
        "ListLayerVersions": 3,  # one per layer
        "GetLayerVersionPolicy": 8,  # one per layer version that may be deleted: deps 2-3, tools and fonts 1-3
        "GetLayerVersion": 8,
        "GetAccountSettings": 1,
        "DeleteFunction": deletes["version"],  # one call per deletion
        "DeleteLayerVersion": deletes["layer-version"],
    }
    assert all(marker is None for _, marker, _ in pages.served), "one page per listing"
    sent = {op: p for _, op, p in pages.requests}
    assert sent["ListFunctions"] == {"FunctionVersion": "ALL", "MaxItems": 50}
    assert sent["ListLayerVersions"]["MaxItems"] == 50
    assert sent["ListAliases"]["MaxItems"] == 10_000
    assert sent["ListEventSourceMappings"] == {"MaxItems": 100}
