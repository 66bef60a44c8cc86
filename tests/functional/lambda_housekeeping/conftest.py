"""Fixtures of the Lambda housekeeping functional tests: a seeded estate under in-process moto."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.functional.lambda_housekeeping import estate


@dataclass
class Seeded:
    """The estate every test starts from (versions 1..30 of each function, oldest first)."""

    lam: Any
    deps: list[str]
    shared: list[str]
    mappings: dict[str, str]

    # what a run with the default policy (keep 3) must keep
    API_KEPT = (5, 7, 12, 25, 28, 29, 30)  # alias old, mapping, provisioned, weighted, alias live + newest 3
    WORKER_KEPT = (28, 29, 30)
    DEPS_KEPT = (1, 3, 4, 5, 6)  # 1 and 3 used by api, 4-6 the newest 3
    SHARED_KEPT = (1, 3, 4, 5)  # 1 shared publicly, 3-5 the newest 3


@pytest.fixture
def seeded(aws: None) -> Seeded:
    """api: aliases (one weighted), mappings, provisioned concurrency, two layers over time; worker: tagged, plain;
    layers deps (6 versions) and shared (5, the oldest shared publicly)."""
    estate.reports_bucket()
    lam = estate.lam()
    deps = estate.layer(lam, "deps", 6)
    shared = estate.layer(lam, "shared", 5)
    estate.share_layer_version(lam, "shared", 1)
    estate.function(lam, "api", 30, layers_at={1: [deps[0]], 20: [deps[2]]})
    estate.function(lam, "worker", 30, tags={"team": "data"})
    estate.alias(lam, "api", "live", "28", {"25": 0.1})
    estate.alias(lam, "api", "old", "5")
    mappings = {"7": estate.mapping(lam, "api:7", "orders"), "latest": estate.mapping(lam, "api", "audit")}
    estate.provisioned(lam, "api", "12")
    return Seeded(lam=lam, deps=deps, shared=shared, mappings=mappings)
