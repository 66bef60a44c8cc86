"""Resource audit, S3 per-bucket reads: API calls against the number of buckets (10, 100, 1,000).

The account-wide S3 inventory of the audit (every S3 check) runs under in-process moto on "AWS-like" settings:
each bucket has its own Block Public Access on (as every bucket made since April 2023), the account has none, a
third of the buckets carry tags, and ListBuckets names each bucket's region (AWS's does; moto's does not, so a
hook adds it). Calls are counted with a botocore ``before-call`` hook. The run fails if a bucket takes more than
4 reads.
Run: ``.venv/bin/python bench/audit_bucket_reads.py [--sizes 10,100,1000]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REGION = "eu-west-1"
ACCOUNT = "123456789012"
TARGET = 4
ALL_ON = dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True)


def seed(n: int) -> None:
    import boto3

    s3 = boto3.client("s3", region_name=REGION)
    for i in range(n):
        name = f"bench-{i:04d}"
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=ALL_ON)
        if i % 3 == 0:
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "Owner", "Value": "team"}]})


def measure(n: int) -> tuple[Counter[tuple[str, str]], float]:
    import boto3
    from moto import mock_aws

    from functions.resource_audit import inventory
    from functions.resource_audit.models import ResourceAuditInput
    from functions.resource_audit.plan import enabled_checks, sources_needed
    from functions.resource_audit.task import bucket_fields
    from shared.aws import Clients

    calls: Counter[tuple[str, str]] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[(model.service_model.service_name, model.name)] += 1

    def regions(parsed: dict[str, Any], **_: Any) -> None:
        for bucket in parsed.get("Buckets", []):
            bucket.setdefault("BucketRegion", REGION)

    with mock_aws():
        seed(n)
        session = boto3.Session(region_name=REGION)
        session.events.register("before-call", count)
        session.events.register("after-call.s3.ListBuckets", regions)
        params = ResourceAuditInput(checks=[c for c in (x.id for x in enabled_checks(ResourceAuditInput()))
                                            if c.startswith("s3-") or c == "tags-required-s3"])  # fmt: skip
        needs = sources_needed(enabled_checks(params), params, "account")
        t0 = time.perf_counter()
        inv = inventory.account_wide(Clients(session), ACCOUNT, REGION, needs, bucket_fields(params), max_workers=8)
        wall = time.perf_counter() - t0
        assert not inv.errors, inv.errors
        assert len(inv["buckets"]) == n
    return calls, wall


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000")
    args = parser.parse_args()
    os.environ |= {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION,
                   "POWERTOOLS_LOG_LEVEL": "ERROR", "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}  # fmt: skip
    os.environ.pop("AWS_ENDPOINT_URL", None)
    ok = True
    print("| buckets | per-bucket S3 reads | per bucket | Tagging API pages | other calls | wall |")
    print("|---:|---|---:|---:|---|---:|")
    for n in (int(x) for x in args.sizes.split(",")):
        calls, wall = measure(n)
        once = {("s3", "ListBuckets"), ("s3control", "GetPublicAccessBlock")}
        reads = {op: c for (svc, op), c in sorted(calls.items()) if svc == "s3" and (svc, op) not in once}
        pages = calls[("resourcegroupstaggingapi", "GetResources")]
        per = sum(reads.values()) / n
        ok &= per <= TARGET
        listed = ", ".join(f"{op} {c:,}" for op, c in reads.items())
        other = ", ".join(f"{op} {c}" for (svc, op), c in sorted(calls.items()) if (svc, op) in once)
        print(f"| {n:,} | {listed} | {per:.2f} | {pages} | {other} | {wall:.1f} s |")
    print(f"\ntarget: <= {TARGET} S3 reads per bucket: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
