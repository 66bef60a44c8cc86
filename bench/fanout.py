"""Fan-out over SQS and Lambda on large estates, in memory and on simulated time.

The real dispatcher, workers and close (``shared.fanout``) run against botocore clients whose ``before-call``
handlers answer from memory: S3 (conditional writes, 1,000-key listing pages), SQS (delays, visibility timeouts)
and EC2 (empty regions). Lambda's event source mapping is simulated: at most ``concurrency`` invocations at once,
each on its own simulated clock (``tests.faults.SimulatedClock``) whose remaining time the unit's time budget reads
(15 minutes a call).

500 accounts x 4 regions = 2,000 units: the dispatcher's calls against the floor (ceil(units / 10)
SendMessageBatch, one manifest, one close message, one listing), the S3 requests per unit, and the close's reads
of the unit results per unit. The run fails if the dispatcher makes more SendMessageBatch calls than the floor,
if any unit is missing from the final report or in it twice, or if the close reads more than one object per unit.

Usage: python bench/fanout.py
"""

from __future__ import annotations

import heapq
import io
import itertools
import json
import math
import os
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "DevopsTasks")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
for var, value in {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
}.items():
    os.environ[var] = value
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3  # noqa: E402
from botocore.awsrequest import AWSResponse  # noqa: E402

from functions.snapshot_rotation.task import TASK  # noqa: E402
from shared import fanout  # noqa: E402
from shared.aws import Clients  # noqa: E402
from shared.clock import TimeBudget  # noqa: E402
from shared.pacing import Pacer  # noqa: E402
from shared.report import RunReport  # noqa: E402
from shared.runner import RunContext  # noqa: E402
from shared.units import Unit  # noqa: E402
from tests.faults import SimulatedClock  # noqa: E402

T0 = datetime(2024, 6, 15, 3, 15, tzinfo=UTC)
BUCKET = "devops-tasks-bench-reports"
QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/units"
VISIBILITY_S = 5400
LAMBDA_S = 900


def sim_now() -> float:
    """The simulated second of the invocation under way (its calling thread's timeline)."""
    return Cloud.clock.now() if Cloud.clock else 0.0


class Cloud:
    """S3, SQS, EC2 and STS in memory, answering every client's calls."""

    clock: SimulatedClock | None = None

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.queue: list[tuple[float, int, str, int]] = []  # (visible at, id, body, receive count)
        self.ids = itertools.count(1)
        self.snapshots: dict[str, dict[str, dict[str, Any]]] = {}  # region -> id -> snapshot
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, session: boto3.Session) -> boto3.Session:
        for service in ("s3", "sqs", "ec2", "sts"):
            session.events.register(f"before-call.{service}", self._answer)
        session.events.register("before-parameter-build", self._keep)
        return session

    @staticmethod
    def _keep(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench.params"] = dict(params)

    def _answer(self, model: Any, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        op = model.name
        params = context.get("bench.params", {})
        region = context.get("client_region", "eu-west-1")
        with self._lock:
            self.calls[op] += 1
            status, body = getattr(self, f"_{op}")(params, region)
        http = AWSResponse("https://bench.invalid/", status, {}, None)  # type: ignore[arg-type]
        return http, body | {"ResponseMetadata": {"HTTPStatusCode": status}}

    @staticmethod
    def _error(status: int, code: str) -> tuple[int, dict[str, Any]]:
        return status, {"Error": {"Code": code, "Message": code}}

    # S3 -----------------------------------------------------------------------------------------------------
    def _PutObject(self, p: dict[str, Any], _r: str) -> tuple[int, dict[str, Any]]:
        key = p["Key"]
        if p.get("IfNoneMatch") == "*" and key in self.objects:
            return self._error(412, "PreconditionFailed")
        if p.get("IfMatch") and self.objects.get(key, (b"", ""))[1] != p["IfMatch"]:
            return self._error(412, "PreconditionFailed")
        body = p["Body"] if isinstance(p["Body"], bytes) else p["Body"].read()
        etag = f'"{next(self.ids)}"'
        self.objects[key] = (body, etag)
        return 200, {"ETag": etag}

    def _GetObject(self, p: dict[str, Any], _r: str) -> tuple[int, dict[str, Any]]:
        if p["Key"] not in self.objects:
            return self._error(404, "NoSuchKey")
        body, etag = self.objects[p["Key"]]
        return 200, {"Body": io.BytesIO(body), "ETag": etag}

    def _HeadObject(self, p: dict[str, Any], _r: str) -> tuple[int, dict[str, Any]]:
        return (200, {}) if p["Key"] in self.objects else self._error(404, "404")

    def _ListObjectsV2(self, p: dict[str, Any], _r: str) -> tuple[int, dict[str, Any]]:
        keys = sorted(k for k in self.objects if k.startswith(p.get("Prefix", "")))
        start = int(p.get("ContinuationToken") or 0)
        page: dict[str, Any] = {"Contents": [{"Key": k} for k in keys[start : start + 1000]]}
        if start + 1000 < len(keys):
            page |= {"IsTruncated": True, "NextContinuationToken": str(start + 1000)}
        return 200, page

    # SQS ----------------------------------------------------------------------------------------------------
    def _send(self, body: str, delay: int) -> str:
        mid = next(self.ids)
        heapq.heappush(self.queue, (sim_now() + delay, mid, body, 0))
        return str(mid)

    def _SendMessageBatch(self, p: dict[str, Any], _r: str) -> tuple[int, dict[str, Any]]:
        ok = [
            {"Id": e["Id"], "MessageId": self._send(e["MessageBody"], 0), "MD5OfMessageBody": ""} for e in p["Entries"]
        ]
        return 200, {"Successful": ok, "Failed": []}

    def _SendMessage(self, p: dict[str, Any], _r: str) -> tuple[int, dict[str, Any]]:
        return 200, {"MessageId": self._send(p["MessageBody"], int(p.get("DelaySeconds", 0))), "MD5OfMessageBody": ""}

    def _GetQueueAttributes(self, _p: dict[str, Any], _r: str) -> tuple[int, dict[str, Any]]:
        redrive = json.dumps({"deadLetterTargetArn": "arn:aws:sqs:eu-west-1:123456789012:dlq", "maxReceiveCount": 3})
        return 200, {"Attributes": {"RedrivePolicy": redrive}}

    # EC2 ----------------------------------------------------------------------------------------------------
    def _DescribeSnapshots(self, p: dict[str, Any], region: str) -> tuple[int, dict[str, Any]]:
        found = list(self.snapshots.get(region, {}).values())
        start, size = int(p.get("NextToken") or 0), 1000
        page: dict[str, Any] = {"Snapshots": found[start : start + size]}
        if start + size < len(found):
            page["NextToken"] = str(start + size)
        return 200, page

    def _DescribeVolumes(self, _p: dict[str, Any], _r: str) -> tuple[int, dict[str, Any]]:
        return 200, {"Volumes": []}

    def _DescribeImages(self, _p: dict[str, Any], _r: str) -> tuple[int, dict[str, Any]]:
        return 200, {"Images": []}

    def _GetCallerIdentity(self, _p: dict[str, Any], _r: str) -> tuple[int, dict[str, Any]]:
        return 200, {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/bench", "UserId": "bench"}


class Context:
    """A Lambda context on a simulated clock: 15 minutes from the invocation's start."""

    def __init__(self, clock: SimulatedClock, start: float) -> None:
        self.clock, self.start = clock, start
        self.aws_request_id = f"bench-{start}"

    def get_remaining_time_in_millis(self) -> int:
        return int((LAMBDA_S - (self.clock.now() - self.start)) * 1000)


def _now() -> float:
    return Cloud.clock.now() if Cloud.clock else 0.0


def _sleep(seconds: float) -> None:
    if Cloud.clock:
        Cloud.clock.sleep(seconds)


def clients_on(cloud: Cloud) -> Clients:
    """A warm container's clients, paced on the clock of the invocation under way."""
    session = cloud.attach(boto3.Session(region_name="eu-west-1"))
    return Clients(session, pacer=Pacer(clock=_now, sleep=_sleep))


def the_input(regions: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "regions": regions,
        "report_bucket": BUCKET,
        "unit_queue_url": QUEUE,
        "fanout_above": 1,
        "create": False,
        "max_workers": 1,  # one thread per invocation: one simulated timeline (pacing is what bounds the rate)
        "policy": {"retention": {"keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0}},
    } | extra


def dispatch(cloud: Cloud, units: list[tuple[str, str]], params_input: dict[str, Any]) -> tuple[str, Counter[str]]:
    """The real dispatcher for these (account, region) units; returns the run id and its calls by operation."""
    clock = SimulatedClock()
    Cloud.clock = clock
    clients = clients_on(cloud)
    params = TASK.params_model.model_validate(params_input)
    report = RunReport(task=TASK.name, run_id="bench-run", dry_run=False, started_at=T0, complete=False)
    ctx = RunContext(now=T0, budget=TimeBudget.unlimited(), report=report, clients=clients)
    before = Counter(cloud.calls)
    fanout.dispatch(TASK, params, [Unit(a, r, clients) for a, r in units], [], ctx)
    return report.run_id, cloud.calls - before


def event_source_mapping(cloud: Cloud, concurrency: int) -> dict[str, Any]:
    """Deliver every message as Lambda's mapping would, ``concurrency`` invocations at a time, on simulated time.
    Returns the simulated second the last invocation ended, invocations, continuations."""
    slots = [0.0] * concurrency
    invocations = continuations = 0
    ended = 0.0
    warm: dict[int, Clients] = {}
    while cloud.queue:
        visible_at, mid, body, receives = heapq.heappop(cloud.queue)
        slot = min(range(concurrency), key=lambda s: slots[s])
        start = max(slots[slot], visible_at)
        message = json.loads(body)
        clock = SimulatedClock(start)
        Cloud.clock = clock
        clients = warm.setdefault(slot, clients_on(cloud))  # one warm container per slot
        record = {
            "messageId": str(mid),
            "receiptHandle": str(mid),
            "body": body,
            "attributes": {"ApproximateReceiveCount": str(receives + 1)},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:units",
            "awsRegion": "eu-west-1",
        }
        response = fanout.work_batch(
            TASK,
            {"Records": [record]},
            Context(clock, start),
            clients=clients,
            clock=lambda clock=clock: T0 + timedelta(seconds=clock.latest),  # type: ignore[misc]
        )
        invocations += 1
        continuations += message.get("continuation", 0) > 0
        slots[slot] = clock.latest
        if message["kind"] == "unit":
            ended = max(ended, clock.latest)
        if response["batchItemFailures"]:
            heapq.heappush(cloud.queue, (start + VISIBILITY_S, mid, body, receives + 1))
    return {"ended": ended, "invocations": invocations, "continuations": continuations}


def final(cloud: Cloud, run_id: str) -> dict[str, Any]:
    key = f"reports/snapshot-rotation/runs/{run_id}/final.json"
    found: dict[str, Any] = json.loads(cloud.objects[key][0])
    return found


def totals(report: dict[str, Any]) -> Counter[str]:
    found: Counter[str] = Counter()
    for unit in report["units"]:
        found.update(unit["counts"])
    return found


def scenario_organization(accounts: int, regions: list[str]) -> bool:
    cloud = Cloud()
    units = [(f"{100000000000 + a}", r) for a in range(accounts) for r in regions]
    wall = time.perf_counter()
    run_id, calls = dispatch(cloud, units, the_input(regions))
    floor = math.ceil(len(units) / fanout.MAX_BATCH_ENTRIES)
    print(f"\n{accounts} accounts x {len(regions)} regions = {len(units):,} units")
    print(
        f"   dispatcher: SendMessageBatch {calls['SendMessageBatch']} (floor ceil(units/10) = {floor}), "
        f"PutObject {calls['PutObject']} (manifest), SendMessage {calls['SendMessage']} (close), "
        f"ListObjectsV2 {calls['ListObjectsV2']}, total {sum(calls.values())}"
    )
    before = Counter(cloud.calls)
    sim = event_source_mapping(cloud, concurrency=4)
    report = final(cloud, run_id)
    used = cloud.calls - before
    s3 = {op: n for op, n in sorted(used.items()) if op in ("PutObject", "GetObject", "HeadObject", "ListObjectsV2")}
    per_unit = sum(s3.values()) / len(units)
    composer_reads = used["GetObject"]
    print(f"   workers: {sim['invocations']:,} invocations, S3 {s3} = {per_unit:.2f} requests per unit")
    print(
        f"   close: {composer_reads:,} GetObject for {len(units):,} unit results "
        f"({composer_reads / len(units):.2f} per unit), final report {report['status']}, "
        f"{len(report['units']):,} units once each; {time.perf_counter() - wall:.1f} s wall"
    )
    ok = calls["SendMessageBatch"] == floor and len({(u["account"], u["region"]) for u in report["units"]}) == len(
        units
    )
    return ok and report["status"] == "succeeded" and composer_reads <= len(units) + 1


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min), {os.cpu_count()} cores"


def main() -> int:
    print(f"fan-out against in-memory S3, SQS and EC2 on simulated time ({load()})")
    cpu = time.process_time()
    ok = scenario_organization(500, ["eu-west-1", "eu-west-2", "eu-central-1", "us-east-1"])
    print(f"\n{'ok' if ok else 'TARGET MISSED'} ({time.process_time() - cpu:.1f} s CPU)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
