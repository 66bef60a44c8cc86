"""A bucket's public ACL or policy is critical only when Block Public Access does not cancel it (under moto)."""

from __future__ import annotations

import json

import boto3

from tests.functional.resource_audit.estate import BUCKET, audit, read_report, shims
from tests.helpers import REGION

PAYLOAD = {"report_bucket": BUCKET, "notify_on": "never", "regions": [REGION], "checks": ["s3-bucket-public"]}
WHERE = {"CreateBucketConfiguration": {"LocationConstraint": REGION}}


def _public_policy(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
            ],
        }
    )


def test_grants_cancelled_by_block_public_access_are_not_exposure(aws: None) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    for name in (BUCKET, "acl-open", "acl-ignored", "policy-open", "policy-restricted"):
        s3.create_bucket(Bucket=name, **WHERE)
    for name in ("acl-open", "acl-ignored"):
        s3.put_bucket_acl(Bucket=name, ACL="public-read")
    for name in ("policy-open", "policy-restricted"):
        s3.put_bucket_policy(Bucket=name, Policy=_public_policy(name))
    s3.put_public_access_block(Bucket="acl-ignored", PublicAccessBlockConfiguration={"IgnorePublicAcls": True})
    s3.put_public_access_block(
        Bucket="policy-restricted", PublicAccessBlockConfiguration={"RestrictPublicBuckets": True}
    )
    with shims():
        audit(PAYLOAD)
    found = {f["resource"]: (f["status"], f["evidence"]) for f in read_report()["findings"]}
    assert found["acl-open"] == ("FAIL", "public through its ACL")
    assert found["policy-open"] == ("FAIL", "public through its bucket policy")
    assert found["acl-ignored"][0] == "PASS"
    assert "IgnorePublicAcls (bucket)" in found["acl-ignored"][1]
    assert found["policy-restricted"][0] == "PASS"
    assert "RestrictPublicBuckets (bucket)" in found["policy-restricted"][1]
    assert found[BUCKET] == ("PASS", "not public")
