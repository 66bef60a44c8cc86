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

Deletion backlogs behind EC2's DeleteSnapshot token bucket (``tests.faults.TokenBuckets``: 100 tokens refilling
5 per second per account and region, ``RequestLimitExceeded`` when empty): the real snapshot rotation task deletes
through botocore's whole request path (the client-side pacing of ``shared.pacing``, signing, botocore's retries),
every unit in its own account (assumed role) and region. One time axis serves everything: each invocation is a
timeline of it (:class:`SimTime`), and the server's bucket, the pacer's sleeps, botocore's retry backoff, SQS's
delays and the invocation's time budget all read or move the timeline of the invocation under way; real sleeping
is counted, and fails the run. A 10,000-deletion backlog in one unit: its completion against the floor of 10,000 /
5 = 2,000 s, across 15-minute invocations and their continuations; then estates of the same work split across
units, whose completion follows the largest unit (or the sum over the concurrency, when that is larger). The run
fails if a snapshot is left that the policy deletes, deleted twice, or any unit failed.

Usage: python bench/fanout.py
"""

from __future__ import annotations

import heapq
import io
import itertools
import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

import _support

_support.environment("ERROR", metrics=False)

import boto3  # noqa: E402
from botocore.awsrequest import AWSPreparedRequest, AWSResponse  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

import shared.aws  # noqa: E402
from functions.snapshot_rotation.models import MANAGED_TAG, POLICY_TAG, VOLUME_TAG  # noqa: E402
from functions.snapshot_rotation.task import TASK  # noqa: E402
from shared import fanout  # noqa: E402
from shared.aws import Clients, role_arn_for  # noqa: E402
from shared.clock import TimeBudget  # noqa: E402
from shared.pacing import Pacer  # noqa: E402
from shared.report import RunReport  # noqa: E402
from shared.runner import RunContext  # noqa: E402
from shared.units import Unit  # noqa: E402
from tests.faults import UNROUTABLE, SimulatedClock, TokenBuckets, answer, simulated_retries  # noqa: E402

T0 = datetime(2024, 6, 15, 3, 15, tzinfo=UTC)
BUCKET = "devops-tasks-bench-reports"
QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/units"
VISIBILITY_S = 5400
LAMBDA_S = 900
MANAGEMENT = "123456789012"
MEMBER_ROLE = "devops-tasks-member"
DELETE_BUCKET = {"ec2:DeleteSnapshot": (100.0, 5.0)}
"""EC2's DeleteSnapshot bucket per account and region: 100 tokens, refilling 5 per second."""
REFILL_PER_S = DELETE_BUCKET["ec2:DeleteSnapshot"][1]


class SimTime(SimulatedClock):
    """The one simulated time axis of the bench, in seconds since the dispatch.

    Each invocation is a timeline of its own on it (:meth:`begin`, a :class:`SimulatedClock` from the second the
    invocation starts): invocations of different slots of the event source mapping overlap in simulated time,
    although the bench runs them one after the other. Everything reads and moves the timeline of the invocation
    under way: the server's token buckets (``now``), the pacer's and botocore's sleeps (``sleep``), SQS's delays
    and the Lambda context's remaining time.
    """

    def __init__(self) -> None:
        super().__init__()
        self.timeline = SimulatedClock()

    def begin(self, at: float) -> SimulatedClock:
        self.timeline = SimulatedClock(at)
        return self.timeline

    def now(self) -> float:
        return self.timeline.now()

    def sleep(self, seconds: float) -> None:
        self.timeline.sleep(seconds)

    @property
    def latest(self) -> float:
        return self.timeline.latest


SIM = SimTime()
REAL_SLEEPS: list[float] = []
"""Calls of ``time.sleep`` during the bench: wall-clock waiting that the simulated time would not count."""


class _Raw(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


class Cloud:
    """S3, SQS, EC2 and STS in memory, answering every client's calls.

    Calls are answered at ``before-call`` (no request is built), but DeleteSnapshot, which goes through botocore's
    whole request path, so that pacing, signing, AWS's token bucket (``before-send``) and botocore's retries all
    take part: it is answered at ``before-send`` with EC2's XML.
    """

    current: Cloud | None = None
    """The cloud that sessions made by the code under test (assumed roles) are attached to."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.queue: list[tuple[float, int, str, int]] = []  # (visible at, id, body, receive count)
        self.ids = itertools.count(1)
        self.snapshots: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}  # (account, region) -> id -> snapshot
        self.deleted: Counter[str] = Counter()  # snapshot id -> DeleteSnapshot answered for it (found or not)
        self.calls: Counter[str] = Counter()
        self.buckets = TokenBuckets(SIM, dict(DELETE_BUCKET))
        self._lock = threading.Lock()
        Cloud.current = self

    def attach(self, session: boto3.Session, account: str = MANAGEMENT) -> boto3.Session:
        for service in ("s3", "sqs", "ec2", "sts"):
            session.events.register(f"before-call.{service}", partial(self._answer, account=account))
        session.events.register("before-parameter-build", _support.keep_params)
        # On the same event as the bucket's handler (registered first, so it is called first): a handler of the
        # more specific event "before-send.ec2.DeleteSnapshot" would be called before it, and answer first.
        self.buckets.attach(session)
        session.events.register("before-send", partial(self._delete_snapshot, account=account))
        return session

    def _answer(
        self, model: Any, context: dict[str, Any], account: str, **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        op = model.name
        if op == "DeleteSnapshot":
            return None  # sent: answered at before-send
        params = _support.params_of(context)
        region = context.get("client_region", "eu-west-1")
        with self._lock:
            self.calls[op] += 1
            status, body = getattr(self, f"_{op}")(params, region, account)
        return _support.answered(body, status)

    def _delete_snapshot(
        self, request: AWSPreparedRequest, event_name: str, account: str, **_: Any
    ) -> AWSResponse | None:
        if event_name != "before-send.ec2.DeleteSnapshot":
            return None
        if request.url == UNROUTABLE:
            return None  # answered RequestLimitExceeded by the token bucket: nothing changes
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        sid = parse_qs(body)["SnapshotId"][0]
        region = (urlsplit(request.url).hostname or "").split(".")[1]
        with self._lock:
            self.calls["DeleteSnapshot"] += 1
            self.deleted[sid] += 1
            found = self.snapshots.get((account, region), {}).pop(sid, None)
        if found is None:
            return answer(request, "ec2", 400, "InvalidSnapshot.NotFound", f"The snapshot '{sid}' does not exist.")
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<DeleteSnapshotResponse xmlns="http://ec2.amazonaws.com/doc/'
            f'2016-11-15/"><requestId>{next(self.ids)}</requestId><return>true</return></DeleteSnapshotResponse>'
        )
        return AWSResponse(request.url, 200, {"Content-Type": "text/xml;charset=UTF-8"}, _Raw(xml.encode()))  # type: ignore[arg-type]

    @staticmethod
    def _error(status: int, code: str) -> tuple[int, dict[str, Any]]:
        return status, {"Error": {"Code": code, "Message": code}}

    # S3 -----------------------------------------------------------------------------------------------------
    def _PutObject(self, p: dict[str, Any], _r: str, _a: str) -> tuple[int, dict[str, Any]]:
        key = p["Key"]
        if p.get("IfNoneMatch") == "*" and key in self.objects:
            return self._error(412, "PreconditionFailed")
        if p.get("IfMatch") and self.objects.get(key, (b"", ""))[1] != p["IfMatch"]:
            return self._error(412, "PreconditionFailed")
        body = p["Body"] if isinstance(p["Body"], bytes) else p["Body"].read()
        etag = f'"{next(self.ids)}"'
        self.objects[key] = (body, etag)
        return 200, {"ETag": etag}

    def _GetObject(self, p: dict[str, Any], _r: str, _a: str) -> tuple[int, dict[str, Any]]:
        if p["Key"] not in self.objects:
            return self._error(404, "NoSuchKey")
        body, etag = self.objects[p["Key"]]
        return 200, {"Body": io.BytesIO(body), "ETag": etag}

    def _HeadObject(self, p: dict[str, Any], _r: str, _a: str) -> tuple[int, dict[str, Any]]:
        return (200, {}) if p["Key"] in self.objects else self._error(404, "404")

    def _ListObjectsV2(self, p: dict[str, Any], _r: str, _a: str) -> tuple[int, dict[str, Any]]:
        keys = sorted(k for k in self.objects if k.startswith(p.get("Prefix", "")))
        start = int(p.get("ContinuationToken") or 0)
        page: dict[str, Any] = {"Contents": [{"Key": k} for k in keys[start : start + 1000]]}
        if start + 1000 < len(keys):
            page |= {"IsTruncated": True, "NextContinuationToken": str(start + 1000)}
        return 200, page

    # SQS ----------------------------------------------------------------------------------------------------
    def _send(self, body: str, delay: int) -> str:
        mid = next(self.ids)
        # Sent when the invocation has got this far: every thread of it has joined by the time it sends.
        heapq.heappush(self.queue, (SIM.latest + delay, mid, body, 0))
        return str(mid)

    def _SendMessageBatch(self, p: dict[str, Any], _r: str, _a: str) -> tuple[int, dict[str, Any]]:
        ok = [
            {"Id": e["Id"], "MessageId": self._send(e["MessageBody"], 0), "MD5OfMessageBody": ""} for e in p["Entries"]
        ]
        return 200, {"Successful": ok, "Failed": []}

    def _SendMessage(self, p: dict[str, Any], _r: str, _a: str) -> tuple[int, dict[str, Any]]:
        return 200, {"MessageId": self._send(p["MessageBody"], int(p.get("DelaySeconds", 0))), "MD5OfMessageBody": ""}

    def _GetQueueAttributes(self, _p: dict[str, Any], _r: str, _a: str) -> tuple[int, dict[str, Any]]:
        redrive = json.dumps({"deadLetterTargetArn": "arn:aws:sqs:eu-west-1:123456789012:dlq", "maxReceiveCount": 3})
        return 200, {"Attributes": {"RedrivePolicy": redrive}}

    # EC2 ----------------------------------------------------------------------------------------------------
    def _DescribeSnapshots(self, p: dict[str, Any], region: str, _a: str) -> tuple[int, dict[str, Any]]:
        found = list(self.snapshots.get((_a, region), {}).values())  # every snapshot of the estate is owned
        start, size = int(p.get("NextToken") or 0), 1000
        page: dict[str, Any] = {"Snapshots": found[start : start + size]}
        if start + size < len(found):
            page["NextToken"] = str(start + size)
        return 200, page

    def _DescribeVolumes(self, _p: dict[str, Any], _r: str, _a: str) -> tuple[int, dict[str, Any]]:
        return 200, {"Volumes": []}

    def _DescribeImages(self, _p: dict[str, Any], _r: str, _a: str) -> tuple[int, dict[str, Any]]:
        return 200, {"Images": []}

    def _GetCallerIdentity(self, _p: dict[str, Any], _r: str, _a: str) -> tuple[int, dict[str, Any]]:
        return 200, {"Account": _a, "Arn": f"arn:aws:iam::{_a}:user/bench", "UserId": "bench"}

    def _AssumeRole(self, p: dict[str, Any], _r: str, _a: str) -> tuple[int, dict[str, Any]]:
        account = p["RoleArn"].split(":")[4]
        credentials = {
            "AccessKeyId": access_key(account),
            "SecretAccessKey": "bench",
            "SessionToken": "bench",
            "Expiration": datetime(2100, 1, 1, tzinfo=UTC),  # never refreshed during the bench
        }
        return 200, {"Credentials": credentials, "AssumedRoleUser": {"Arn": p["RoleArn"], "AssumedRoleId": "bench"}}

    # the estate ---------------------------------------------------------------------------------------------
    def backlog(self, account: str, region: str, deletions: int) -> int:
        """Snapshots of ``account`` and ``region`` of which the bench policy (keep the newest of each volume)
        deletes ``deletions``: volumes of up to 101 daily snapshots. Returns how many it keeps."""
        snapshots = self.snapshots.setdefault((account, region), {})
        kept = 0
        for v in itertools.count():
            if deletions <= 0:
                return kept
            vid = f"vol-{account[-4:]}{region[-1]}{v:011x}"
            tags = [
                {"Key": MANAGED_TAG, "Value": "true"},
                {"Key": POLICY_TAG, "Value": "default"},
                {"Key": VOLUME_TAG, "Value": vid},
            ]
            mine = min(100, deletions)
            for day in range(mine + 1):
                sid = f"snap-{next(self.ids):017x}"
                snapshots[sid] = {
                    "SnapshotId": sid,
                    "VolumeId": vid,
                    "StartTime": T0 - timedelta(days=1 + day),
                    "State": "completed",
                    "OwnerId": account,
                    "Tags": tags,
                }
            deletions -= mine
            kept += 1
        return kept


class Context:
    """A Lambda context on a simulated clock: 15 minutes from the invocation's start."""

    def __init__(self, clock: SimulatedClock, start: float) -> None:
        self.clock, self.start = clock, start
        self.aws_request_id = f"bench-{start}"

    def get_remaining_time_in_millis(self) -> int:
        return int((LAMBDA_S - (self.clock.now() - self.start)) * 1000)


def access_key(account: str) -> str:
    """The access key of the member role's credentials in ``account`` (AWS's buckets are per account)."""
    return f"ASIA{account}"


_new_session = shared.aws.new_session


def _attached_session(credentials: Credentials | None = None, **kwargs: Any) -> boto3.Session:
    """``shared.aws.new_session`` (an assumed role's session), answered by the bench's cloud in that account."""
    session = _new_session(credentials, **kwargs)
    if Cloud.current is None:
        return session
    account = credentials.access_key.removeprefix("ASIA") if credentials is not None else MANAGEMENT
    return Cloud.current.attach(session, account)


shared.aws.new_session = _attached_session


def clients_on(cloud: Cloud) -> Clients:
    """A warm container's clients, paced on the timeline of the invocation under way."""
    session = cloud.attach(boto3.Session(region_name="eu-west-1"))
    return Clients(session, pacer=Pacer(clock=SIM.now, sleep=SIM.sleep))


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


def dispatch(
    cloud: Cloud, units: list[tuple[str, str]], params_input: dict[str, Any], *, roles: bool = False
) -> tuple[str, Counter[str]]:
    """The real dispatcher for these (account, region) units; returns the run id and its calls by operation."""
    SIM.begin(0.0)
    clients = clients_on(cloud)
    params = TASK.params_model.model_validate(params_input)
    report = RunReport(task=TASK.name, run_id="bench-run", dry_run=False, started_at=T0, complete=False)
    ctx = RunContext(now=T0, budget=TimeBudget.unlimited(), report=report, clients=clients)
    before = Counter(cloud.calls)
    if roles:  # each account through its member role, as an organization's run reaches it
        targets = [Unit(a, r, clients.assume(role_arn_for(a, MEMBER_ROLE))) for a, r in units]
    else:
        targets = [Unit(a, r, clients) for a, r in units]
    fanout.dispatch(TASK, params, targets, [], ctx)
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
        clock = SIM.begin(start)
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


def scenario_backlog(name: str, sizes: list[int], concurrency: int, **extra: Any) -> dict[str, Any]:
    """Units of ``sizes`` deletions, each in its own account (through the member role) and region, fanned out and
    worked at ``concurrency``; returns the figures and whether every deletion was done once, without failure."""
    cloud = Cloud()
    regions = ("eu-west-1", "eu-west-2", "eu-central-1", "us-east-1")
    units = [(f"{200000000000 + n // len(regions)}", regions[n % len(regions)]) for n in range(len(sizes))]
    kept = sum(cloud.backlog(a, r, size) for (a, r), size in zip(units, sizes, strict=True))
    wall, cpu = time.perf_counter(), time.process_time()
    run_id, _ = dispatch(cloud, units, the_input(sorted({r for _, r in units}), **extra), roles=True)
    sim = event_source_mapping(cloud, concurrency)
    report = final(cloud, run_id)
    counts = totals(report)
    failures = sum(len(u["failures"]) for u in report["units"])
    left = sum(len(found) for found in cloud.snapshots.values())
    twice = sum(1 for n in cloud.deleted.values() if n > 1)
    work = sum(sizes)
    ok = (
        report["status"] == "succeeded"
        and counts["deleted"] == work
        and left == kept
        and twice == 0
        and failures == 0
        and not REAL_SLEEPS
    )
    return {
        "name": name,
        "units": len(sizes),
        "work": work,
        "largest": max(sizes),
        "concurrency": concurrency,
        "completion": sim["ended"],
        "invocations": sim["invocations"],
        "continuations": sim["continuations"],
        "deleted": counts["deleted"],
        "deferred": counts["deferred"],
        "failures": failures,
        "left": left - kept,
        "twice": twice,
        "throttled": cloud.buckets.throttled["ec2:DeleteSnapshot"],
        "attempts": cloud.buckets.passed["ec2:DeleteSnapshot"] + cloud.buckets.throttled["ec2:DeleteSnapshot"],
        "status": report["status"],
        "cpu": time.process_time() - cpu,
        "wall": time.perf_counter() - wall,
        "ok": ok,
    }


def print_backlog(r: dict[str, Any]) -> None:
    floor = r["work"] / REFILL_PER_S
    print(
        f"   simulated completion {r['completion']:,.0f} s vs floor {r['work']:,} / 5 = {floor:,.0f} s "
        f"(ratio {r['completion'] / floor:.2f})"
    )
    print(
        f"   deleted {r['deleted']:,} of {r['work']:,}, left {r['left']}, deleted twice {r['twice']}, "
        f"failures {r['failures']}, deferred {r['deferred']}; DeleteSnapshot attempts {r['attempts']:,}, "
        f"throttled by the server {r['throttled']}; {r['invocations']} invocations, {r['continuations']} continuations;"
        f" {r['cpu']:.1f} s CPU, {r['wall']:.1f} s wall; {'ok' if r['ok'] else 'WRONG'}"
    )


def print_split(r: dict[str, Any]) -> None:
    largest, whole = r["largest"] / REFILL_PER_S, r["work"] / REFILL_PER_S
    spread = r["work"] / (REFILL_PER_S * min(r["concurrency"], r["units"]))
    print(
        f"   {r['name']:<28} concurrency {r['concurrency']:>2}: completion {r['completion']:>6,.0f} s; "
        f"largest-unit floor {largest:>5,.0f} s (ratio {r['completion'] / largest:.2f}); "
        f"sum floor {whole:,.0f} s (ratio {r['completion'] / whole:.2f}); "
        f"sum / (5 x concurrency) {spread:,.0f} s (ratio {r['completion'] / max(largest, spread):.2f} of the larger); "
        f"{r['invocations']} invocations, {r['continuations']} continuations, throttled {r['throttled']}, "
        f"failures {r['failures']}; {r['cpu']:.1f} s CPU; {'ok' if r['ok'] else 'WRONG'}"
    )


def _count_real_sleep(seconds: float) -> None:
    REAL_SLEEPS.append(seconds)
    _real_sleep(seconds)


_real_sleep = time.sleep


def main() -> int:
    print(f"fan-out against in-memory S3, SQS and EC2 on simulated time ({_support.load()})")
    cpu, wall = time.process_time(), time.perf_counter()
    ok = scenario_organization(500, ["eu-west-1", "eu-west-2", "eu-central-1", "us-east-1"])

    time.sleep = _count_real_sleep  # any wall-clock wait from here on is a leak that fails the run
    random.seed(0)  # botocore's retry backoff is jittered with `random`: the control's figures repeat run to run
    with simulated_retries(SIM):  # botocore's retry backoff sleeps on the simulated time
        # a run fans out above fanout_above units (at least 1): the backlog's account has a second, empty region
        print(f"\n10,000-deletion backlog, 1 account and region (+1 empty unit), concurrency 4 ({_support.load()})")
        backlog = scenario_backlog("1 x 10,000 (+1 empty)", [10_000, 0], 4)
        print_backlog(backlog)
        ok &= backlog["ok"]
        print(f"\nthe same work split across units, each its own account and region ({_support.load()})")
        split = [backlog | {"name": "1 x 10,000 (+1 empty)"}]
        for name, sizes, concurrency in (
            ("20 x 500", [500] * 20, 21),
            ("1 x 5,000 + 19 x 263", [5_000] + [263] * 19, 21),
            ("20 x 500", [500] * 20, 4),
        ):
            split.append(scenario_backlog(name, sizes, concurrency))
        for r in split:
            print_split(r)
            ok &= r["ok"]
        # The control: paced 10x faster than the server's bucket refills, the bucket answers RequestLimitExceeded
        # and botocore's retries (sleeping on the simulated time) wait for it; the bucket, not the pacer, sets the
        # rate. Had the server's bucket not been in the path, nothing would be throttled here.
        fast = {"ec2:DeleteSnapshot": {"per_second": 50, "burst": 100}}
        control = scenario_backlog("control", [2_000, 0], 4, rate_limits=fast)
        print("\ncontrol: 2,000 deletions paced at 50/s (burst 100), 10x the bucket's refill")
        print_backlog(control)
        ok &= control["ok"] and control["throttled"] > 0
    time.sleep = _real_sleep
    print(f"   real sleeps during the simulated runs: {len(REAL_SLEEPS)}")
    print(
        f"\n{'ok' if ok else 'TARGET MISSED'} "
        f"({time.process_time() - cpu:.1f} s CPU, {time.perf_counter() - wall:.1f} s wall)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
