"""API calls and planner speed of the snapshot rotation task on large estates.

moto neither paginates nor stays fast with thousands of tagged snapshots, so this benchmark runs the real task
(``shared.runner.execute``) against botocore clients whose ``before-call`` handlers answer from an in-memory
estate: DescribeSnapshots/DescribeVolumes/DescribeImages pages honour MaxResults and NextToken, mutations change
the estate. Nothing leaves the process.

Usage: python bench/snapshot_rotation.py [--sizes 1000,10000] [--planner 100000]
Prints API calls by operation against the minimum, and the planner's CPU and wall seconds per 100,000 snapshots
in UTC and in a zone with summer time (Europe/Berlin), with the load average of the machine.
"""

from __future__ import annotations

import argparse
import itertools
import math
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

from functions.snapshot_rotation.models import (  # noqa: E402
    MANAGED_TAG,
    POLICY_TAG,
    VOLUME_TAG,
    Policy,
    SnapshotView,
)
from functions.snapshot_rotation.plan import plan_creation, plan_retention  # noqa: E402
from functions.snapshot_rotation.task import TASK  # noqa: E402
from shared.aws import Clients  # noqa: E402
from shared.runner import execute  # noqa: E402

ACCOUNT = "123456789012"
REGION = "eu-west-1"
NOW = datetime(2024, 6, 15, 3, 15, tzinfo=UTC)
PER_VOLUME = 50  # one snapshot a day for 50 days
READS = ("DescribeSnapshots", "DescribeVolumes", "DescribeImages", "DescribeInstances")
WRITES = ("CreateSnapshot", "DeleteSnapshot", "CopySnapshot")


class Estate:
    """An EC2 region in memory, answering the calls the task makes, with real pagination."""

    def __init__(self, snapshots: int, images: int = 20) -> None:
        self.volumes: list[dict[str, Any]] = []
        self.snapshots: dict[str, dict[str, Any]] = {}
        self.images: list[dict[str, Any]] = []
        self.calls: Counter[str] = Counter()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        for v in range(math.ceil(snapshots / PER_VOLUME)):
            vid = f"vol-{v:017x}"
            self.volumes.append(
                {"VolumeId": vid, "State": "in-use", "Tags": [{"Key": "Backup", "Value": "true"}], "Attachments": []}
            )
        for n in range(snapshots):
            vid = self.volumes[n // PER_VOLUME]["VolumeId"]
            self._add(vid, NOW - timedelta(days=1 + n % PER_VOLUME, minutes=n % 60))
        for i, sid in enumerate(itertools.islice(self.snapshots, images)):
            self.images.append({"ImageId": f"ami-{i:017x}", "BlockDeviceMappings": [{"Ebs": {"SnapshotId": sid}}]})

    def _add(self, vid: str, when: datetime, tags: list[dict[str, str]] | None = None) -> str:
        sid = f"snap-{next(self._ids):017x}"
        own = [
            {"Key": MANAGED_TAG, "Value": "true"},
            {"Key": POLICY_TAG, "Value": "default"},
            {"Key": VOLUME_TAG, "Value": vid},
        ]
        self.snapshots[sid] = {
            "SnapshotId": sid,
            "VolumeId": vid,
            "StartTime": when,
            "State": "completed",
            "OwnerId": ACCOUNT,
            "Tags": tags or own,
        }
        return sid

    def attach(self, session: boto3.Session) -> None:
        session.events.register("before-call.ec2", self._answer)
        session.events.register("before-call.sts", self._answer)
        session.events.register("before-parameter-build.ec2", _support.keep_params)

    def _answer(self, model: Any, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        op = model.name
        params = _support.params_of(context)
        with self._lock:
            self.calls[op] += 1
            body = getattr(self, f"_{op}")(params)
        return _support.answered(body, url="https://ec2.bench.invalid/")

    @staticmethod
    def _page(items: list[Any], params: dict[str, Any], key: str, limit: int) -> dict[str, Any]:
        size = min(int(params.get("MaxResults") or limit), limit)
        start = int(params.get("NextToken") or 0)
        page: dict[str, Any] = {key: items[start : start + size]}
        if start + size < len(items):
            page["NextToken"] = str(start + size)
        return page

    @staticmethod
    def _matches(tags: list[dict[str, str]], filters: list[dict[str, Any]]) -> bool:
        have = {t["Key"]: t["Value"] for t in tags}
        return all(
            have.get(f["Name"].removeprefix("tag:")) in f["Values"] for f in filters if f["Name"].startswith("tag:")
        )

    def _DescribeSnapshots(self, params: dict[str, Any]) -> dict[str, Any]:
        found = [s for s in self.snapshots.values() if self._matches(s["Tags"], params.get("Filters", []))]
        return self._page(found, params, "Snapshots", 1000)

    def _DescribeVolumes(self, params: dict[str, Any]) -> dict[str, Any]:
        found = [v for v in self.volumes if self._matches(v["Tags"], params.get("Filters", []))]
        return self._page(found, params, "Volumes", 500)

    def _DescribeImages(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._page(self.images, params, "Images", 1000)

    def _CreateSnapshot(self, params: dict[str, Any]) -> dict[str, Any]:
        tags = params["TagSpecifications"][0]["Tags"]
        snapshot = self.snapshots[self._add(params["VolumeId"], NOW, tags)]
        return snapshot | {"State": "pending"}

    def _DeleteSnapshot(self, params: dict[str, Any]) -> dict[str, Any]:
        del self.snapshots[params["SnapshotId"]]
        return {}

    def _GetCallerIdentity(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/bench", "UserId": "bench"}


def run_task(snapshots: int) -> dict[str, Any]:
    estate = Estate(snapshots)
    session = boto3.Session(region_name=REGION)
    estate.attach(session)
    started = time.perf_counter()
    report = execute(TASK, {"regions": [REGION]}, clients=Clients(session), clock=lambda: NOW)
    elapsed = time.perf_counter() - started
    counts = report["units"][0]["counts"]
    mutations = sum(counts.get(k, 0) for k in ("created", "deleted", "copied"))
    reads = sum(estate.calls[op] for op in READS)
    writes = sum(estate.calls[op] for op in WRITES)
    minimum = math.ceil(snapshots / 1000) + math.ceil(len(estate.volumes) / 500) + 1
    return {
        "snapshots": snapshots,
        "volumes": len(estate.volumes),
        "calls": dict(sorted(estate.calls.items())),
        "reads": reads,
        "min_reads": minimum,
        "writes": writes,
        "mutations": mutations,
        "counts": counts,
        "seconds": elapsed,
        "status": report["status"],
    }


def planner_views(n: int) -> list[SnapshotView]:
    volumes = math.ceil(n / PER_VOLUME)
    return [
        SnapshotView(
            snapshot_id=f"snap-{i:017x}",
            volume_id=f"vol-{i // PER_VOLUME:017x}",
            start_time=NOW - timedelta(days=1 + i % PER_VOLUME, minutes=i % 60),
            state="completed",
            tags={MANAGED_TAG: "true", POLICY_TAG: "default", VOLUME_TAG: f"vol-{i // PER_VOLUME:017x}"},
        )
        for i in range(volumes * PER_VOLUME)
    ][:n]


def time_planner(n: int, zone: str) -> dict[str, float]:
    """Best of 3, in seconds per 100,000 snapshots: wall and CPU time of planning retention and creation together,
    and the wall time of each part."""
    from functions.snapshot_rotation.models import VolumeView

    views = planner_views(n)
    policy = Policy.model_validate({"retention": {"yearly": 2, "timezone": zone}})
    volumes = [VolumeView(f"vol-{v:017x}", "in-use", {"Backup": "true"}) for v in range(math.ceil(n / PER_VOLUME))]
    best = dict.fromkeys(("wall", "cpu", "retention", "creation"), float("inf"))
    for _ in range(3):
        w0, c0 = time.perf_counter(), time.process_time()
        plan_retention(views, set(), policy, NOW)
        w1 = time.perf_counter()
        plan_creation(volumes, views, policy, NOW)
        w2, c2 = time.perf_counter(), time.process_time()
        for key, value in (("wall", w2 - w0), ("cpu", c2 - c0), ("retention", w1 - w0), ("creation", w2 - w1)):
            best[key] = min(best[key], value)
    return {key: value * 100_000 / n for key, value in best.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="estate sizes (snapshots) to run the task on")
    parser.add_argument("--planner", type=int, default=100_000, help="snapshots for the planner timing")
    args = parser.parse_args()
    ok = True
    print(f"task against a paginating in-memory EC2 ({PER_VOLUME} daily snapshots per volume, default policy)")
    for size in (int(s) for s in args.sizes.split(",")):
        r = run_task(size)
        reads_ok = r["reads"] <= r["min_reads"] + 2
        writes_ok = r["writes"] == r["mutations"]
        ok &= reads_ok and writes_ok and r["status"] == "succeeded"
        head = f"{r['snapshots']:,} snapshots, {r['volumes']:,} volumes, 1 region"
        print(f"\n  {head}: {r['seconds']:.1f} s, {r['status']}")
        for op, n in r["calls"].items():
            print(f"    {op:<20} {n:>6}")
        print(
            f"    reads  {r['reads']} vs minimum {r['min_reads']} "
            f"(ratio {r['reads'] / r['min_reads']:.2f}; target <= minimum + 2) {'ok' if reads_ok else 'OVER'}"
        )
        print(
            f"    writes {r['writes']} for {r['mutations']} mutations "
            f"(ratio {r['writes'] / max(r['mutations'], 1):.2f}; target 1.00) {'ok' if writes_ok else 'WRONG'}"
        )
        print(f"    outcome {r['counts']}")
    # The target is on CPU time: on a shared machine the wall time also counts the waits for a core.
    print(f"\nplanner on {args.planner:,} snapshots (best of 3; {_support.load()})")
    for zone in ("UTC", "Europe/Berlin"):
        t = time_planner(args.planner, zone)
        planner_ok = t["cpu"] <= 1.0
        ok &= planner_ok
        print(
            f"  {zone:<14} {t['cpu']:.2f} s CPU, {t['wall']:.2f} s wall per 100,000 snapshots "
            f"(wall: retention {t['retention']:.2f} s + creation {t['creation']:.2f} s; "
            f"CPU against the 1 s target {t['cpu']:.2f}) {'ok' if planner_ok else 'SLOW'}"
        )
    print(f"  ({_support.load()})")
    print("\nall targets met" if ok else "\nTARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
