"""Snapshot rotation and the resource audit over an organization's OUs (in-process moto): the right accounts, each in
its own state, the excluded, closed and other accounts untouched."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from cli.demo.resource_audit import moto_audit_shims
from functions.resource_audit.task import TASK as AUDIT
from functions.snapshot_rotation.task import TASK as ROTATION
from shared.aws import Clients, new_session
from shared.runner import execute
from tests.functional.shared import organization
from tests.helpers import REGION, FakeContext

NOW = datetime(2026, 11, 27, 3, 15, tzinfo=UTC)
BUCKET = "devops-tasks-reports"


@pytest.fixture
def org(aws: None) -> organization.Organization:
    found = organization.create()
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return found


def ec2_of(org: organization.Organization, name: str) -> Any:
    if name == "management":
        return new_session().client("ec2", region_name=REGION)
    return organization.member_session(org.accounts[name]).client("ec2")


def workloads_but_dev(org: organization.Organization) -> dict[str, Any]:
    return {"organization": {"include_ous": [org.ous["workloads"]], "exclude_accounts": [org.accounts["dev-a"]]}}


def test_snapshot_rotation_over_the_workloads_ou_snapshots_its_accounts_volumes_and_no_others(
    org: organization.Organization,
) -> None:
    everyone = ("management", "sandbox", "platform", "prod-a", "prod-b", "dev-a")
    volumes = {}
    for name in everyone:
        made = ec2_of(org, name).create_volume(
            AvailabilityZone=f"{REGION}a",
            Size=1,
            TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Backup", "Value": "true"}]}],
        )
        volumes[name] = made["VolumeId"]

    event = {"regions": [REGION], "report_bucket": BUCKET, "accounts": workloads_but_dev(org)}
    report = execute(ROTATION, event, FakeContext(), clients=Clients(), clock=lambda: NOW)

    worked = ("platform", "prod-a", "prod-b")
    assert sorted(u["account"] for u in report["units"]) == org.ids(*worked)
    assert all(u["counts"].get("created") == 1 for u in report["units"])
    for name in everyone:
        snapshots = ec2_of(org, name).describe_snapshots(OwnerIds=["self"])["Snapshots"]
        assert [s["VolumeId"] for s in snapshots] == ([volumes[name]] if name in worked else []), name


def test_the_resource_audit_over_the_workloads_ou_reports_its_accounts_only(org: organization.Organization) -> None:
    event = {
        "regions": [REGION],
        "report_bucket": BUCKET,
        "notify_on": "never",
        "accounts": workloads_but_dev(org),
    }
    expected = org.ids("platform", "prod-a", "prod-b")
    with moto_audit_shims(dict.fromkeys(expected, (True, False))):
        report = execute(AUDIT, event, FakeContext(), clients=Clients(), clock=lambda: NOW)

    assert sorted(u["account"] for u in report["units"]) == expected
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key="reports/resource-audit/latest.json")[
        "Body"
    ]
    audit = json.loads(body.read())
    assert audit["accounts"] == expected
    assert {f["account"] for f in audit["findings"]} <= set(expected)
    assert {f["account"] for f in audit["findings"]} == set(expected), "every account was audited"
