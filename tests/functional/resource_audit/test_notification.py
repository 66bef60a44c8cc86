"""The notification: a new critical finding is listed even behind many new low ones, and the report link needs
a sign-in unless a short-lived presigned one is asked for."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from shared.errors import InputError
from tests.faults import CallLog
from tests.functional.resource_audit.estate import BUCKET, audit, shims
from tests.helpers import REGION

CHECKS = ["ebs-volume-gp2", "s3-bucket-public"]


def _estate() -> str:
    s3 = boto3.client("s3", region_name=REGION)
    where = {"CreateBucketConfiguration": {"LocationConstraint": REGION}}
    s3.create_bucket(Bucket=BUCKET, **where)
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration=dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True))  # fmt: skip
    s3.create_bucket(Bucket="wide-open", **where)
    s3.put_bucket_acl(Bucket="wide-open", ACL="public-read")
    ec2 = boto3.client("ec2", region_name=REGION)
    for _ in range(60):
        ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1, VolumeType="gp2")
    return str(boto3.client("sns", region_name=REGION).create_topic(Name="alerts")["TopicArn"])


def _published(payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    log = CallLog()
    with shims():
        response = audit(payload, log=log)
    [message] = [p["Message"] for svc, op, p in log.calls if (svc, op) == ("sns", "Publish")]
    return response, str(message)


def test_a_new_critical_is_in_the_notification_behind_sixty_new_lows_and_the_link_needs_a_sign_in(aws: None) -> None:
    topic = _estate()
    payload = {"report_bucket": BUCKET, "regions": [REGION], "checks": CHECKS, "notify_topic_arn": topic,
               "notify_on": "always"}  # fmt: skip
    response, message = _published(payload)
    assert "61 new (critical 1, low 60)" in message
    assert "- critical s3-bucket-public" in message
    assert "wide-open" in message
    assert message.index("- critical s3-bucket-public") < message.index("- low ebs-volume-gp2")
    assert "X-Amz-Signature" not in message
    assert "X-Amz-Security-Token" not in message
    console = next(v for k, v in response["links"].items() if k.startswith("html report"))
    assert console.startswith(f"https://console.aws.amazon.com/s3/object/{BUCKET}?region={REGION}&prefix=")
    assert console in message


def test_a_presigned_link_only_on_request_and_short_lived(aws: None) -> None:
    topic = _estate()
    payload = {"report_bucket": BUCKET, "regions": [REGION], "checks": CHECKS, "notify_topic_arn": topic,
               "notify_on": "always", "report_link": "presigned", "presign_seconds": 900}  # fmt: skip
    response, message = _published(payload)
    presigned = next(v for k, v in response["links"].items() if k.startswith("html report"))
    assert "X-Amz-Signature=" in presigned
    assert "X-Amz-Expires=900" in presigned
    assert presigned in message
    with pytest.raises(InputError, match="presign_seconds"):
        audit(payload | {"presign_seconds": 86_400})
    with pytest.raises(InputError, match="report_link"):
        audit(payload | {"report_link": "console"})
