"""API calls and planner speed of the Lambda housekeeping task on large estates.

moto does not paginate and lacks GetAccountSettings and provisioned concurrency, so this benchmark runs the real
task (``shared.runner.execute``) against botocore clients whose ``before-call`` handlers answer from an in-memory
Lambda region: every listing serves real pages (MaxItems and Marker honoured, at most AWS's page size), deletions
change the estate. Nothing leaves the process.

Usage: python bench/lambda_housekeeping.py [--functions 200,1000] [--versions 30] [--planner 100000]
Prints API calls by operation against the minimum, and planner CPU and wall seconds per 100,000 versions.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import _support

_support.environment("WARNING")

import boto3  # noqa: E402
from botocore.awsrequest import AWSResponse  # noqa: E402

from functions.lambda_housekeeping.models import (  # noqa: E402
    LATEST,
    AliasView,
    FunctionScope,
    FunctionUsage,
    MappingView,
    VersionRetention,
    VersionView,
)
from functions.lambda_housekeeping.plan import plan_versions, usage_needed  # noqa: E402
from functions.lambda_housekeeping.task import TASK  # noqa: E402
from shared.aws import Clients  # noqa: E402
from shared.pacing import Pacer  # noqa: E402
from shared.runner import execute  # noqa: E402
from tests.faults import SimulatedClock  # noqa: E402

ACCOUNT = "123456789012"
REGION = "eu-west-1"
PREFIX = f"arn:aws:lambda:{REGION}:{ACCOUNT}"
NOW = datetime(2025, 6, 1, 3, 45, tzinfo=UTC)
LAYERS, LAYER_VERSIONS = 20, 10
PAGE = {  # AWS's largest page per listing
    "ListFunctions": 50,
    "ListVersionsByFunction": 50,
    "ListEventSourceMappings": 100,
    "ListAliases": 10_000,
    "ListProvisionedConcurrencyConfigs": 50,
    "ListLayers": 50,
    "ListLayerVersions": 50,
}
READS = (*PAGE, "ListTags", "GetLayerVersionPolicy", "GetLayerVersion", "GetAccountSettings")
WRITES = ("DeleteFunction", "DeleteLayerVersion")


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class Region:
    """A Lambda region in memory: ``functions`` functions of ``versions`` versions, aliases on every other one,
    a mapping on a version of every tenth, provisioned concurrency on every twentieth, and 20 layers of 10."""

    def __init__(self, functions: int, versions: int, pacer: Pacer | None = None) -> None:
        self.pacer = pacer
        self.calls: Counter[str] = Counter()
        self.versions: dict[str, dict[int, dict[str, Any]]] = {}
        self.aliases: dict[str, list[dict[str, Any]]] = {}
        self.provisioned: dict[str, list[str]] = {}
        self.mappings: list[dict[str, Any]] = []
        self.layers: dict[str, dict[int, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        for lv in range(LAYERS):
            name = f"layer-{lv:03d}"
            self.layers[name] = {
                n: {"Version": n, "LayerVersionArn": f"{PREFIX}:layer:{name}:{n}", "CodeSize": 2_000_000}
                for n in range(1, LAYER_VERSIONS + 1)
            }
        for f in range(functions):
            name = f"fn-{f:05d}"
            layer = f"{PREFIX}:layer:layer-{f % LAYERS:03d}"
            self.versions[name] = {
                n: self._config(name, str(n), NOW - timedelta(days=versions - n), f"{layer}:{7 + n * 3 // versions}")
                for n in range(1, versions + 1)
            }
            if f % 2 == 0:
                weights = {"AdditionalVersionWeights": {str(versions - 4): 0.05}}
                self.aliases[name] = [
                    {"Name": "live", "FunctionVersion": str(versions - 3), "RoutingConfig": weights},
                    {"Name": "stable", "FunctionVersion": str(versions // 2)},
                ]
            if f % 10 == 0:
                self.mappings.append({"UUID": f"esm-{f}", "FunctionArn": f"{PREFIX}:function:{name}:{versions // 3}"})
            if f % 20 == 0:
                self.provisioned[name] = ["stable"]

    @staticmethod
    def _config(name: str, version: str, at: datetime, layer: str) -> dict[str, Any]:
        return {
            "FunctionName": name,
            "FunctionArn": f"{PREFIX}:function:{name}:{version}",
            "Version": version,
            "CodeSize": 5_000_000,
            "LastModified": _stamp(at),
            "Layers": [{"Arn": layer, "CodeSize": 2_000_000}],
        }

    def attach(self, session: boto3.Session) -> None:
        session.events.register("before-call.lambda", self._answer)
        session.events.register("before-call.sts", self._answer)
        session.events.register("before-parameter-build.lambda", _support.keep_params)

    def _answer(self, model: Any, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        op = model.name
        params = _support.params_of(context)
        if self.pacer is not None and model.service_model.service_name == "lambda":
            # Answered before any HTTP request exists, so the client's own pacing hook never fires: wait here
            # as it would have, on the pacer's (simulated) clock.
            self.pacer.wait(ACCOUNT, REGION, f"lambda:{op}")
        with self._lock:
            self.calls[op] += 1
            body = getattr(self, f"_{op}")(params)
        return _support.answered(body, url="https://lambda.bench.invalid/")

    @staticmethod
    def _page(items: list[Any], params: dict[str, Any], key: str, op: str) -> dict[str, Any]:
        size = min(int(params.get("MaxItems") or PAGE[op]), PAGE[op])
        start = int(params.get("Marker") or 0)
        page: dict[str, Any] = {key: items[start : start + size]}
        if start + size < len(items):
            page["NextMarker"] = str(start + size)
        return page

    def _ListFunctions(self, params: dict[str, Any]) -> dict[str, Any]:
        assert params.get("FunctionVersion") == "ALL"
        entries = []
        for name, versions in self.versions.items():
            latest = dict(self._config(name, LATEST, NOW, f"{PREFIX}:layer:layer-000:10"))
            entries += [latest, *versions.values()]
        return self._page(entries, params, "Functions", "ListFunctions")

    def _ListEventSourceMappings(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._page(self.mappings, params, "EventSourceMappings", "ListEventSourceMappings")

    def _ListAliases(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._page(self.aliases.get(params["FunctionName"], []), params, "Aliases", "ListAliases")

    def _ListProvisionedConcurrencyConfigs(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["FunctionName"]
        configs = [{"FunctionArn": f"{PREFIX}:function:{name}:{q}"} for q in self.provisioned.get(name, [])]
        return self._page(configs, params, "ProvisionedConcurrencyConfigs", "ListProvisionedConcurrencyConfigs")

    def _ListLayers(self, params: dict[str, Any]) -> dict[str, Any]:
        layers = [{"LayerName": n, "LayerArn": f"{PREFIX}:layer:{n}"} for n in self.layers]
        return self._page(layers, params, "Layers", "ListLayers")

    def _ListLayerVersions(self, params: dict[str, Any]) -> dict[str, Any]:
        found = [
            {"Version": v["Version"], "LayerVersionArn": v["LayerVersionArn"]}
            for v in sorted(self.layers[params["LayerName"]].values(), key=lambda v: -v["Version"])
        ]
        return self._page(found, params, "LayerVersions", "ListLayerVersions")

    def _GetLayerVersionPolicy(self, params: dict[str, Any]) -> dict[str, Any]:
        statement = {"Effect": "Allow", "Principal": ACCOUNT, "Action": "lambda:GetLayerVersion"}
        return {"Policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})}

    def _layer(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.layers[params["LayerName"].rsplit(":", 1)[-1]][int(params["VersionNumber"])]

    def _GetLayerVersion(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"Content": {"CodeSize": self._layer(params)["CodeSize"]}}

    def _GetAccountSettings(self, params: dict[str, Any]) -> dict[str, Any]:
        used = sum(v["CodeSize"] for vs in self.versions.values() for v in vs.values())
        used += sum(v["CodeSize"] for vs in self.layers.values() for v in vs.values())
        return {"AccountLimit": {"TotalCodeSize": 75 * 1024**3}, "AccountUsage": {"TotalCodeSize": used}}

    def _DeleteFunction(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["FunctionName"].rsplit(":", 1)[-1]
        del self.versions[name][int(params["Qualifier"])]
        return {}

    def _DeleteLayerVersion(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["LayerName"].rsplit(":", 1)[-1]
        del self.layers[name][int(params["VersionNumber"])]
        return {}

    def _GetCallerIdentity(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/bench", "UserId": "bench"}


def issue_minimum(functions: int, versions: int, mappings: int) -> int:
    """The reads the issue names as the minimum for one unit: ListFunctions pages of 50, one ListVersionsByFunction
    listing and one ListAliases per function, one ListEventSourceMappings and ListLayers/ListLayerVersions."""
    per_function = math.ceil((versions + 1) / 50) + 1
    layers = math.ceil(LAYERS / 50) + LAYERS * math.ceil(LAYER_VERSIONS / 50)
    return math.ceil(functions / 50) + functions * per_function + math.ceil(max(mappings, 1) / 100) + layers


def run_task(functions: int, versions: int) -> dict[str, Any]:
    # Simulated seconds for the pacer: a wait returns at once and moves the waiting thread's time on, so the run
    # shows how long its pacing would take on AWS without sleeping. Threads waiting side by side overlap.
    paced = SimulatedClock()
    pacer = paced.pacer()
    region = Region(functions, versions, pacer)
    session = boto3.Session(region_name=REGION)
    region.attach(session)
    clients = Clients(session, pacer=pacer)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    report = execute(TASK, {"regions": [REGION]}, clients=clients, clock=lambda: NOW)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    unit = report["units"][0]
    deletions = unit["counts"].get("deleted", 0)
    layer_candidates = region.calls["GetLayerVersion"]
    candidates = region.calls["ListProvisionedConcurrencyConfigs"]
    reads = sum(region.calls[op] for op in READS)
    entries = functions * (versions + 1)
    own_minimum = (
        math.ceil(entries / 50)
        + math.ceil(max(len(region.mappings), 1) / 100)
        + 2 * candidates
        + math.ceil(LAYERS / 50)
        + LAYERS
        + 2 * layer_candidates
        + 1
    )
    return {
        "functions": functions,
        "entries": entries,
        "calls": dict(sorted(region.calls.items())),
        "reads": reads,
        "own_minimum": own_minimum,
        "issue_minimum": issue_minimum(functions, versions, len(region.mappings)),
        "issue_total": issue_minimum(functions, versions, len(region.mappings)) + candidates + 2 * layer_candidates + 1,
        "writes": sum(region.calls[op] for op in WRITES),
        "deletions": deletions,
        "wall": wall,
        "cpu": cpu,
        "paced": paced.latest,
        "status": report["status"],
    }


def planner_estate(
    n: int, per_function: int = 50
) -> tuple[list[VersionView], dict[str, FunctionUsage], list[MappingView]]:
    functions = math.ceil(n / per_function)
    versions: list[VersionView] = []
    usage: dict[str, FunctionUsage] = {}
    mappings: list[MappingView] = []
    for f in range(functions):
        name = f"fn-{f:05d}"
        for v in range(1, per_function + 1):
            versions.append(
                VersionView(
                    function=name,
                    version=str(v),
                    arn=f"{PREFIX}:function:{name}:{v}",
                    code_size=5_000_000,
                    last_modified=NOW - timedelta(days=per_function - v),
                    layers=(f"{PREFIX}:layer:layer-{f % LAYERS:03d}:{1 + v // 10}",),
                )
            )
        usage[name] = FunctionUsage(
            aliases=(AliasView("live", str(per_function - 2), {str(per_function - 5): 0.1}), AliasView("stable", "20")),
            provisioned=("stable",) if f % 20 == 0 else (),
        )
        if f % 10 == 0:
            mappings.append(MappingView(f"esm-{f}", f"{PREFIX}:function:{name}:7"))
    return versions[:n], usage, mappings


def time_planner(n: int) -> tuple[float, float]:
    """Best of 3: (CPU seconds, wall seconds) per 100,000 versions for usage_needed + plan_versions.

    The target is on CPU time: on a shared machine the wall time measures the other jobs too."""
    versions, usage, mappings = planner_estate(n)
    scope, retention = FunctionScope(), VersionRetention(keep_last=3, max_age_days=365)
    best_cpu = best_wall = float("inf")
    for _ in range(3):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        usage_needed(versions, scope, retention, NOW)
        plan_versions(versions, usage, mappings, scope, retention, NOW)
        best_cpu = min(best_cpu, time.process_time() - cpu0)
        best_wall = min(best_wall, time.perf_counter() - wall0)
    return best_cpu * 100_000 / n, best_wall * 100_000 / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", default="200,1000", help="functions per region to run the task on")
    parser.add_argument("--versions", type=int, default=30, help="published versions per function")
    parser.add_argument("--planner", type=int, default=100_000, help="versions for the planner timing")
    args = parser.parse_args()
    ok = True
    print(f"task against a paginating in-memory Lambda region ({args.versions} versions per function, keep 3)")
    for size in (int(s) for s in args.functions.split(",")):
        r = run_task(size, args.versions)
        reads_ok = r["reads"] <= r["own_minimum"]
        writes_ok = r["writes"] == r["deletions"]
        ok &= reads_ok and writes_ok and r["status"] == "succeeded"
        print(
            f"\n  {r['functions']:,} functions, {r['entries']:,} versions: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU"
        )
        for op, n in r["calls"].items():
            print(f"    {op:<36} {n:>6}")
        print(f"    reads  {r['reads']} vs this design's minimum {r['own_minimum']} {'ok' if reads_ok else 'OVER'}")
        print(
            f"           vs the issue's minimum {r['issue_minimum']} (one ListVersionsByFunction and ListAliases per "
            f"function) plus what its rules also need, one ListProvisionedConcurrencyConfigs per function that may "
            f"lose a version and 2 reads per layer version that may be deleted: {r['issue_total']}, "
            f"ratio {r['reads'] / r['issue_total']:.2f}"
        )
        print(
            f"    writes {r['writes']} for {r['deletions']} deletions "
            f"(ratio {r['writes'] / max(r['deletions'], 1):.2f}; target 1.00) {'ok' if writes_ok else 'WRONG'}"
        )
        print(
            f"    paced within Lambda's 15 requests per second, the run takes {r['paced'] / 60:.1f} minutes on AWS "
            f"({(r['reads'] + r['writes']) / max(r['paced'], 1e-9):.1f} calls per second; simulated, not slept)"
        )
    print(f"\nplanner on {args.planner:,} versions ({math.ceil(args.planner / 50):,} functions, best of 3)")
    cpu, wall = time_planner(args.planner)
    planner_ok = cpu <= 1.0
    ok &= planner_ok
    load = os.getloadavg()[0]
    print(
        f"  {cpu:.3f} s CPU (ratio to the 1 s target {cpu:.2f}) {'ok' if planner_ok else 'SLOW'}; "
        f"{wall:.3f} s wall per 100,000 versions (1-minute load average {load:.1f} on {os.cpu_count()} cores)"
    )
    print("\nall targets met" if ok else "\nTARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
