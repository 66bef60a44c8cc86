"""The optional OCSF export: Detection Findings as JSON Lines next to the dated reports, never at ``latest``."""

from __future__ import annotations

import json

import boto3
import pytest

from shared.errors import InputError
from tests.functional.resource_audit.estate import BUCKET, audit
from tests.helpers import REGION
from tests.unit.resource_audit.test_ocsf import ocsf_problems

PAYLOAD = {
    "report_bucket": BUCKET,
    "notify_on": "never",
    "regions": [REGION],
    "checks": ["ebs-volume-unattached", "ebs-volume-gp2"],
    "ocsf": {"enabled": True},
}


def test_the_lines_are_written_at_the_dated_key_and_hold_to_ocsf(aws: None) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    volume = boto3.client("ec2", region_name=REGION).create_volume(AvailabilityZone=f"{REGION}a", Size=1)
    response = audit(PAYLOAD)
    location = response["links"]["ocsf"]
    key = location.removeprefix(f"s3://{BUCKET}/")
    assert key.startswith("reports/resource-audit/")
    assert key.endswith(".ocsf.jsonl")
    assert key.replace(".ocsf.jsonl", ".audit.json") == response["links"]["json"].removeprefix(f"s3://{BUCKET}/")
    got = s3.get_object(Bucket=BUCKET, Key=key)
    assert got["ContentType"] == "application/x-ndjson"
    lines = [json.loads(line) for line in got["Body"].read().decode().splitlines()]
    assert {e["finding_info"]["analytic"]["uid"] for e in lines} == {"ebs-volume-unattached", "ebs-volume-gp2"}
    assert {e["resources"][0]["name"] for e in lines} == {volume["VolumeId"]}
    assert all(ocsf_problems(e) == [] for e in lines)
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="reports/resource-audit/latest")["Contents"]
    assert not [o for o in listed if "ocsf" in o["Key"]]


def test_it_needs_somewhere_to_write(aws: None) -> None:
    with pytest.raises(InputError, match="ocsf"):
        audit({k: v for k, v in PAYLOAD.items() if k != "report_bucket"})
