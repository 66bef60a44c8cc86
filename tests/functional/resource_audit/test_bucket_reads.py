"""S3 per-bucket reads: at most 4 a bucket on AWS-like settings, tags from the Resource Groups Tagging API.

"AWS-like": what a bucket made since April 2023 has (its own Block Public Access all on) in an account without
account-level Block Public Access, and a ListBuckets that names each bucket's region (AWS's does; moto's does not,
so a hook adds it, as AWS answers).
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.faults import CallLog
from tests.functional.resource_audit.estate import BUCKET, audit, read_report
from tests.functional.resource_audit.test_errors_and_budget import Deny
from tests.helpers import REGION

ALL_ON = dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True)
S3_CHECKS = ["s3-bucket-public", "s3-bucket-secure-transport", "s3-bucket-versioning", "s3-bucket-lifecycle",
             "tags-required-s3"]  # fmt: skip
PAYLOAD = {"report_bucket": BUCKET, "notify_on": "never", "regions": [REGION], "checks": S3_CHECKS}


class BucketRegions:
    """ListBuckets as AWS answers it: with each bucket's BucketRegion."""

    def attach(self, session: boto3.Session) -> None:
        session.events.register("after-call.s3.ListBuckets", self._add)

    def _add(self, parsed: dict[str, Any], **_: Any) -> None:
        for bucket in parsed.get("Buckets", []):
            bucket.setdefault("BucketRegion", REGION)


class Both:
    def __init__(self, *parts: Any) -> None:
        self.parts = parts

    def attach(self, session: boto3.Session) -> None:
        for part in self.parts:
            part.attach(session)


def _buckets(n: int, *, tags: dict[str, dict[str, str]] | None = None) -> list[str]:
    s3 = boto3.client("s3", region_name=REGION)
    names = [BUCKET] + [f"data-{i:04d}" for i in range(n - 1)]
    for name in names:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=ALL_ON)
    for name, tag_set in (tags or {}).items():
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tag_set.items()]})
    return names


def _per_bucket(log: CallLog) -> dict[str, int]:
    once = {"ListBuckets", "GetObject", "PutObject"}  # the listing, and the reports' own reads and writes
    return {op: n for op, n in log.operations("s3").items() if op not in once}


@pytest.mark.parametrize("n", [10, 30])
def test_at_most_four_reads_a_bucket_on_aws_like_settings(aws: None, n: int) -> None:
    _buckets(n)
    log = CallLog()
    audit(PAYLOAD, log=log, attach=BucketRegions())
    reads = _per_bucket(log)
    assert reads == {
        "GetPublicAccessBlock": n,  # on, so neither GetBucketPolicyStatus nor GetBucketAcl
        "GetBucketPolicy": n,
        "GetBucketVersioning": n,
        "GetBucketLifecycleConfiguration": n,
    }
    assert sum(reads.values()) / n <= 4
    assert log.operations("resourcegroupstaggingapi") == {"GetResources": 1}  # up to 100 buckets a page
    assert log.operations("s3control") == {"GetPublicAccessBlock": 1}


def test_tags_from_the_tagging_api_decide_the_tag_check_and_suppressions(aws: None) -> None:
    _buckets(3, tags={"data-0000": {"Owner": "team-a"}, "data-0001": {"devops-tasks:audit-ignore": "tags-required-s3"}})
    audit(PAYLOAD, attach=BucketRegions())
    outcome = {f["resource"]: f["status"] for f in read_report()["findings"] if f["check_id"] == "tags-required-s3"}
    assert outcome == {"data-0000": "PASS", "data-0001": "SUPPRESSED", BUCKET: "FAIL"}


def test_when_the_tagging_api_is_denied_tags_are_read_bucket_by_bucket(aws: None) -> None:
    _buckets(3, tags={"data-0000": {"Owner": "team-a"}})
    log = CallLog()
    audit(PAYLOAD, log=log, attach=Both(BucketRegions(), Deny("resourcegroupstaggingapi", "GetResources")))
    assert log.operations("s3")["GetBucketTagging"] == 3
    outcome = {f["resource"]: f["status"] for f in read_report()["findings"] if f["check_id"] == "tags-required-s3"}
    assert outcome == {"data-0000": "PASS", "data-0001": "FAIL", BUCKET: "FAIL"}


def test_without_tag_checks_or_buckets_checked_no_tags_are_read(aws: None) -> None:
    _buckets(3)
    log = CallLog()
    audit(PAYLOAD | {"checks": ["s3-account-public-access-block"]}, log=log, attach=BucketRegions())
    assert log.operations("resourcegroupstaggingapi") == {}
    assert _per_bucket(log) == {}
