"""Resource audit benchmark: API calls against the design minimum, and side by side with Prowler on the same estate.

Estate on a moto server (in a child process): 2 regions x (200 instances, 500 volumes, 100 security groups), 100
buckets, 200 IAM users. The audit and then Prowler (only the checks that map to ours, the same regions) each run
in a process of their own against it, so their CPU seconds and peak RSS are the child's own (``wait4``). The
server counts every request it answers, by service and operation, for both alike.
Run: ``.venv/bin/python bench/resource_audit.py`` (``--small`` for a quick run, ``--no-prowler`` for ours alone).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._prowler import PROWLER_VERSION, prowler_findings, prowler_ids, prowler_run
from bench._support import load

REGIONS = ["eu-west-1", "us-east-1"]
ACCOUNT = "123456789012"
_SCOPE = re.compile(r"Credential=[^/]+/\d+/[^/]+/([^/]+)/")
# signing names that are not the client's name
_SIGNING = {"access-analyzer": "accessanalyzer", "elasticloadbalancing": "elbv2", "tagging": "resourcegroupstaggingapi"}


def _operation(environ: dict[str, Any], body: bytes) -> tuple[str, str]:
    """(service, operation) of a request as the server sees it: the SigV4 scope's service; the JSON target, the
    query protocol's Action, or the REST method and path (ids elided)."""
    found = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = _SIGNING.get(found.group(1), found.group(1)) if found else "unsigned"
    if environ.get("PATH_INFO", "").startswith("/v20180820/"):
        service = "s3control"  # signed as s3
    if target := environ.get("HTTP_X_AMZ_TARGET"):
        return service, target.rsplit(".", 1)[-1]
    query = environ.get("QUERY_STRING", "")
    for source in (query, body.decode("latin-1") if b"Action=" in body[:200] else ""):
        if action := re.search(r"(?:^|&)Action=([A-Za-z]+)", source):
            return service, action.group(1)
    method = environ.get("REQUEST_METHOD", "")
    keys = sorted({k.split("=", 1)[0] for k in query.split("&") if k and k.split("=", 1)[0] not in ("x-id",)})
    if service == "s3":
        return service, f"{method} {'bucket' if environ.get('PATH_INFO', '/') != '/' else '/'}?{'&'.join(keys)}"
    path = re.sub(r"/[^/]*[0-9][^/]*(?=/|$)", "/{id}", environ.get("PATH_INFO", ""))
    return service, f"{method} {path}"


class Counting:
    """WSGI middleware: counts the requests the moto server answers, by (service, operation)."""

    def __init__(self, app: Any) -> None:
        self.app, self.counts, self.lock = app, Counter[tuple[str, str]](), threading.Lock()
        self.failed = Counter[tuple[str, str]]()  # answered 5xx: mostly APIs moto does not implement

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        import io

        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            return self.app(environ, start_response)
        key = _operation(environ, body)
        with self.lock:
            self.counts[key] += 1

        def status_of(status: str, headers: Any, *rest: Any) -> Any:
            if status.startswith("5"):
                with self.lock:
                    self.failed[key] += 1
            return start_response(status, headers, *rest)

        try:
            return self.app(environ, status_of)
        except Exception:  # werkzeug answers it 500
            with self.lock:
                self.failed[key] += 1
            raise


def _serve(queue: Any, commands: Any) -> None:
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    from moto.moto_server.threaded_moto_server import MotoRequestHandler
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    from cli.demo.resource_audit import moto_audit_shims

    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # moto's 500s for APIs it lacks
    with moto_audit_shims({ACCOUNT: (True, False)}):
        app = Counting(DomainDispatcherApplication(create_backend_app))
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        queue.put(server.server_address[:2])
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - moto prints a line for each request it cannot route
        while True:  # "reset" or "counts": between the two runs, and after each
            command = commands.get()
            with app.lock:
                if command == "counts":
                    queue.put([[[svc, op, n] for (svc, op), n in tally.items()] for tally in (app.counts, app.failed)])
                app.counts.clear()
                app.failed.clear()


def seed(instances: int, volumes: int, groups: int, buckets: int, users: int) -> None:
    import boto3

    for region in REGIONS:
        ec2 = boto3.client("ec2", region_name=region)
        for start in range(0, instances, 100):
            ec2.run_instances(ImageId="ami-12c6146b", MinCount=min(100, instances - start), MaxCount=100)
        for i in range(volumes):
            ec2.create_volume(AvailabilityZone=f"{region}a", Size=10 + i % 50, VolumeType="gp2" if i % 2 else "gp3")
        for i in range(groups):
            gid = ec2.create_security_group(GroupName=f"sg-{i}", Description="bench")["GroupId"]
            if i % 10 == 0:
                ec2.authorize_security_group_ingress(
                    GroupId=gid, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0"
                )
    s3 = boto3.client("s3", region_name=REGIONS[0])
    for i in range(buckets):
        s3.create_bucket(Bucket=f"bench-{i:03d}", CreateBucketConfiguration={"LocationConstraint": REGIONS[0]})
    iam = boto3.client("iam")
    for i in range(users):
        iam.create_user(UserName=f"user-{i:03d}")


def minimum(buckets: int) -> dict[str, int]:
    """Pages of the listings (moto serves one page each), per-bucket reads, and the 4 IAM calls."""
    # volumes, snapshots, public snapshots, images, instances, addresses, SGs, ENIs, EBS default, VPCs, flow logs,
    # NAT gateways (no snapshot here: no DescribeSnapshotAttribute; no NAT gateway, load balancer or io1 volume:
    # nothing to measure in CloudWatch)
    ec2_listings = 12
    # policy, versioning, lifecycle; location (moto: no BucketRegion); public access block and ACL (no
    # GetBucketPolicyStatus: the bench's buckets have no policy); tags from the Tagging API, 100 buckets a page
    per_bucket = 3 + 1 + 2
    return {
        "ec2": ec2_listings * len(REGIONS),
        "logs": len(REGIONS),
        "s3 (reads)": 1 + per_bucket * buckets,
        "resourcegroupstaggingapi": max(1, math.ceil(buckets / 100)),
        "s3control": 1,
        "iam": 4,  # the credential report (generate, get), the password policy, the authorization details
        "cloudtrail": 1,
        "rds": 3 * len(REGIONS),  # instances, snapshots, cluster snapshots
        "kms": 2 * len(REGIONS),  # keys, aliases (no key: none described)
        "guardduty": len(REGIONS),
        "accessanalyzer": len(REGIONS),  # ListAnalyzers (moto answers it 404: ERROR, one call still)
        "elbv2": 2 * len(REGIONS),  # load balancers, target groups
        "organizations": 1,  # once per run
        "sts": 1,  # the account id
        "lambda": 3 * len(REGIONS),  # ListFunctions, ListLayers, GetAccountSettings (no function or layer here)
    }


def ours_child(out: str) -> int:
    """The audit in this (child) process: every check, both regions, PASS findings kept; its summary to ``out``."""
    import boto3

    from cli.demo.resource_audit import moto_audit_shims
    from functions.resource_audit.task import TASK
    from shared.aws import Clients
    from shared.runner import execute
    from tests.faults import CallLog

    event = {"regions": REGIONS, "notify_on": "never", "include_passes": True}
    session = boto3.Session(region_name=REGIONS[0])
    log = CallLog().attach(session)
    t0, c0 = time.perf_counter(), time.process_time()
    with moto_audit_shims():
        response = execute(TASK, event, clients=Clients(session))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    counts: Counter[str] = Counter()
    for unit in response["units"]:
        for status in ("fail", "pass", "error"):
            counts[status.upper()] += unit["counts"].get(f"findings_{status}", 0)
    calls = Counter((svc, op) for svc, op, _ in log.calls)
    summary = {"status": response["status"], "findings": counts, "wall": wall, "cpu": cpu,
               "calls": [[svc, op, n] for (svc, op), n in calls.items()]}  # fmt: skip
    Path(out).write_text(json.dumps(summary))
    return 0


def run_child(argv: list[str], env: dict[str, str], log: Path) -> dict[str, float]:
    """Run ``argv`` to its end; its wall time and, from ``wait4``, its own CPU seconds and peak RSS."""
    with log.open("wb") as sink:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall": wall, "user": usage.ru_utime, "sys": usage.ru_stime, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mb": usage.ru_maxrss / 1024, "rc": proc.returncode}  # fmt: skip


def _by_service(rows: list[list[Any]]) -> Counter[str]:
    out: Counter[str] = Counter()
    for svc, _op, n in rows:
        out["s3 (reads)" if svc == "s3" else svc] += n
    return out


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true", help="a tenth of the estate")
    parser.add_argument("--no-prowler", action="store_true", help="our audit only")
    parser.add_argument("--ours-child", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ours_child:
        return ours_child(args.ours_child)
    scale = 10 if args.small else 1
    sizes = {"instances": 200 // scale, "volumes": 500 // scale, "groups": 100 // scale, "buckets": 100 // scale,
             "users": 200 // scale}  # fmt: skip

    os.environ |= {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGIONS[0],
                   "AWS_REGION": REGIONS[0], "POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true",
                   "POWERTOOLS_TRACE_DISABLED": "true", "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}  # fmt: skip
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(var, None)
    print(f"start: {load()}")
    ctx = multiprocessing.get_context("spawn")
    queue: Any = ctx.Queue()
    commands: Any = ctx.Queue()
    server = ctx.Process(target=_serve, args=(queue, commands), daemon=True)
    server.start()
    host, port = queue.get(timeout=60)
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"

    def served() -> tuple[list[list[Any]], list[list[Any]]]:
        """The requests the server answered since the last reset, and those it answered 5xx."""
        commands.put("counts")
        rows, failed = queue.get(timeout=60)
        return rows, failed

    work = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    try:
        t0 = time.perf_counter()
        seed(**sizes)
        print(f"seeded {sizes} x {len(REGIONS)} regions in {time.perf_counter() - t0:.1f}s")
        commands.put("reset")
        out = work / "ours.json"
        ours = run_child([sys.executable, __file__, "--ours-child", str(out)], dict(os.environ), work / "ours.log")
        ours_served, ours_failed = served()
        if ours["rc"] != 0:
            print((work / "ours.log").read_text()[-3000:])
            return 1
        summary = json.loads(out.read_text())
        peer: dict[str, Any] | None = None
        if not args.no_prowler:
            ids = prowler_ids()
            peer = prowler_run(ids, REGIONS, dict(os.environ), work, run_child)
            peer["served"], peer["failed"] = served()
            peer["findings"], peer["errors"] = prowler_findings(work, peer)
    finally:
        server.kill()

    floor = minimum(sizes["buckets"])
    mine = _by_service(summary["calls"])
    at_server = _by_service(ours_served)
    print(f"\n{'service':<26} {'calls':>7} {'minimum':>8}")
    for svc in sorted(set(mine) | set(floor)):
        print(f"{svc:<26} {mine.get(svc, 0):>7} {floor.get(svc, 0):>8}")
    total = sum(mine.values())
    print(f"{'all':<26} {total:>7} {sum(floor.values()):>8}")
    if at_server != mine:
        print(f"the server counted other calls than the client: {dict(at_server - mine)} / {dict(mine - at_server)}")
    found = summary["findings"]
    print(f"\nour audit: findings FAIL {found['FAIL']}, PASS {found['PASS']}, ERROR {found['ERROR']}; "
          f"status {summary['status']}; the audit {summary['wall']:.1f}s wall, {summary['cpu']:.1f}s CPU")  # fmt: skip
    print(f"our audit process: {ours['wall']:.1f}s wall, {ours['cpu']:.1f}s CPU ({ours['user']:.1f} user + "
          f"{ours['sys']:.1f} sys), peak RSS {ours['rss_mb']:.0f} MB")  # fmt: skip
    if ours_failed:
        print("answered 5xx by moto (attempts, botocore's retries included): "
              + ", ".join(f"{s} {o} {n}" for s, o, n in ours_failed))  # fmt: skip
    print(f"per-bucket reads: {math.ceil((mine['s3 (reads)'] - 1) / max(sizes['buckets'], 1))} per bucket")
    if peer is not None:
        theirs = _by_service(peer["served"])
        print(f"\nProwler {PROWLER_VERSION}, {len(peer['checks'])} checks ({', '.join(peer['checks'])})")
        if peer["missing"]:
            print(f"  our Prowler ids this version does not have: {', '.join(peer['missing'])}")
        print(f"Prowler process: {peer['wall']:.1f}s wall, {peer['cpu']:.1f}s CPU ({peer['user']:.1f} user + "
              f"{peer['sys']:.1f} sys), peak RSS {peer['rss_mb']:.0f} MB, exit code {peer['rc']}")  # fmt: skip
        pf = peer["findings"]
        print(f"Prowler findings: FAIL {pf.get('FAIL', 0)}, PASS {pf.get('PASS', 0)}, MANUAL {pf.get('MANUAL', 0)}")
        print(f"\n{'service (at the server)':<26} {'ours':>7} {'Prowler':>8}")
        for svc in sorted(set(at_server) | set(theirs)):
            print(f"{svc:<26} {at_server.get(svc, 0):>7} {theirs.get(svc, 0):>8}")
        all_ours, all_theirs = sum(at_server.values()), sum(theirs.values())
        print(f"{'all':<26} {all_ours:>7} {all_theirs:>8}")
        top = Counter({f"{s} {o}": n for s, o, n in peer["served"]}).most_common(12)
        print("Prowler's most frequent operations: " + ", ".join(f"{k} {n}" for k, n in top))
        if peer["failed"]:
            print("Prowler's requests answered 5xx by moto (attempts, retries included): "
                  + ", ".join(f"{s} {o} {n}" for s, o, n in sorted(peer["failed"], key=lambda r: -r[2])))  # fmt: skip
        if peer["errors"]:
            print(f"Prowler errors ({sum(peer['errors'].values())} lines) by service and API:")
            for what, n in sorted(peer["errors"].items(), key=lambda kv: -kv[1]):
                print(f"  {n:>5}  {what}")
        print(f"\nratios (ours / Prowler, same estate, same regions, same run; {load()}):")
        print(f"  API calls {all_ours:,} / {all_theirs:,} = {_ratio(all_ours, all_theirs)}")
        print(f"  CPU {ours['cpu']:.1f}s / {peer['cpu']:.1f}s = {_ratio(ours['cpu'], peer['cpu'])}")
        print(f"  wall {ours['wall']:.1f}s / {peer['wall']:.1f}s = {_ratio(ours['wall'], peer['wall'])}")
        print(f"  peak RSS {ours['rss_mb']:.0f} / {peer['rss_mb']:.0f} MB = {_ratio(ours['rss_mb'], peer['rss_mb'])}")
        print(f"  findings FAIL+PASS {found['FAIL'] + found['PASS']:,} / {pf.get('FAIL', 0) + pf.get('PASS', 0):,}")
    print(f"end: {load()}")
    over = {svc: n for svc, n in mine.items() if n > floor.get(svc, 0)}
    if over:
        print(f"target missed: above the design minimum: {over}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
