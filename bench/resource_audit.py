"""Resource audit benchmark: API calls against the design minimum, wall time and peak memory.

Estate on a moto server (in a child process, so the memory figures are the audit's own): 2 regions x (200
instances, 500 volumes, 100 security groups), 100 buckets, 200 IAM users.
Run: ``.venv/bin/python bench/resource_audit.py`` (``--small`` for a quick run).
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import os
import resource
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REGIONS = ["eu-west-1", "us-east-1"]
ACCOUNT = "123456789012"


def _serve(queue: Any) -> None:
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    from moto.server import ThreadedMotoServer

    from cli.demo.resource_audit import moto_audit_shims

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with moto_audit_shims({ACCOUNT: (True, False)}):
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        queue.put(server.get_host_and_port())
        while True:
            time.sleep(3600)


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


def minimum(ops: Counter[tuple[str, str]], buckets: int) -> dict[str, int]:
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true", help="a tenth of the estate")
    args = parser.parse_args()
    scale = 10 if args.small else 1
    sizes = {"instances": 200 // scale, "volumes": 500 // scale, "groups": 100 // scale, "buckets": 100 // scale,
             "users": 200 // scale}  # fmt: skip

    os.environ |= {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGIONS[0],
                   "AWS_REGION": REGIONS[0], "POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true",
                   "POWERTOOLS_TRACE_DISABLED": "true", "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}  # fmt: skip
    queue: Any = multiprocessing.get_context("spawn").Queue()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(queue,), daemon=True)
    server.start()
    host, port = queue.get(timeout=60)
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    try:
        t0 = time.perf_counter()
        seed(**sizes)
        print(f"seeded {sizes} x {len(REGIONS)} regions in {time.perf_counter() - t0:.1f}s")
        import boto3

        from cli.demo.resource_audit import moto_audit_shims
        from functions.resource_audit.task import TASK
        from shared.aws import Clients
        from shared.runner import execute
        from tests.faults import CallLog

        event = {"regions": REGIONS, "notify_on": "never", "include_passes": True}
        session = boto3.Session(region_name=REGIONS[0])
        log = CallLog().attach(session)
        t0 = time.perf_counter()
        with moto_audit_shims():
            response = execute(TASK, event, clients=Clients(session))
        wall = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()  # a second run, traced: tracemalloc slows everything down
        with moto_audit_shims():
            execute(TASK, event, clients=Clients(boto3.Session(region_name=REGIONS[0])))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        server.kill()

    ops = Counter((svc, op) for svc, op, _ in log.calls)
    by_service: Counter[str] = Counter()
    for (svc, _op), n in ops.items():
        by_service["s3 (reads)" if svc == "s3" else svc] += n
    floor = minimum(ops, sizes["buckets"])
    print(f"\n{'service':<12} {'calls':>7} {'minimum':>8}")
    for svc in sorted(set(by_service) | set(floor)):
        print(f"{svc:<12} {by_service.get(svc, 0):>7} {floor.get(svc, 0):>8}")
    findings = sum(sum(u["counts"].get(f"findings_{s}", 0) for s in ("fail", "pass")) for u in response["units"])
    print(f"\nfindings (FAIL+PASS): {findings}; status {response['status']}")
    print(f"wall time: {wall:.1f}s; max RSS after the audit: {rss / 1024:.0f} MB; "
          f"python heap peak during a second, traced run: {peak / 1e6:.0f} MB")  # fmt: skip
    print(f"per-bucket reads: {math.ceil((by_service['s3 (reads)'] - 1) / max(sizes['buckets'], 1))} per bucket")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
