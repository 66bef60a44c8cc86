"""The snapshot rotation handler against moto server over HTTP, as in production but for the endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from moto.ec2.models import ec2_backends

import shared.aws
from functions.snapshot_rotation.handler import handler
from shared.errors import RunFailed
from tests.helpers import FakeContext

pytestmark = pytest.mark.integration
ACCOUNT = "123456789012"
OWNED = [{"Key": "devops-tasks:managed", "Value": "true"}, {"Key": "devops-tasks:policy", "Value": "default"}]


def aged_snapshot(ec2: object, region: str, volume_id: str, days: int, tags: list[dict[str, str]]) -> str:
    snap = ec2.create_snapshot(  # type: ignore[attr-defined]
        VolumeId=volume_id,
        TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": [*tags, {"Key": "devops-tasks:volume-id", "Value": volume_id}]}
        ],
    )
    sid: str = snap["SnapshotId"]
    backend = ec2_backends[ACCOUNT][region].snapshots[sid]
    backend.start_time = (datetime.now(UTC) - timedelta(days=days)).replace(tzinfo=None)
    return sid


def test_rotation_over_http_creates_rotates_and_writes_the_report(moto_server: str) -> None:
    region = "eu-west-1"
    ec2 = boto3.client("ec2", region_name=region)
    s3 = boto3.client("s3", region_name=region)
    s3.create_bucket(Bucket="reports", CreateBucketConfiguration={"LocationConstraint": region})
    vol = ec2.create_volume(
        AvailabilityZone=f"{region}a",
        Size=1,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Backup", "Value": "true"}]}],
    )["VolumeId"]
    old = [aged_snapshot(ec2, region, vol, days, OWNED) for days in (3, 10, 40, 400)]
    unowned = aged_snapshot(ec2, region, vol, 500, [])

    event = {
        "report_bucket": "reports",
        "policy": {"retention": {"keep_last": 1, "daily": 2, "weekly": 0, "monthly": 0, "yearly": 0}},
    }
    report = handler(event, FakeContext())

    assert report["status"] == "succeeded"
    assert report["units"][0]["counts"] == {"created": 1, "deleted": 2, "kept": 2}
    left = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert {old[0], old[1], unowned} <= left
    assert not {old[2], old[3]} & left
    key = report["location"].removeprefix("s3://reports/")
    assert s3.get_object(Bucket="reports", Key=key)["ContentType"] == "application/json"


DOWN = "eu-north-1"


def _with_region_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every session the handler makes cannot reach DOWN's endpoints, as when a region's endpoint is unreachable."""
    real = shared.aws.new_session

    def unreachable(model: Any, context: dict[str, Any] | None = None, **_: Any) -> None:
        if (context or {}).get("client_region") == DOWN:
            raise EndpointConnectionError(endpoint_url=f"https://ec2.{DOWN}.amazonaws.com/")

    def new_session(*args: Any, **kwargs: Any) -> boto3.Session:
        session = real(*args, **kwargs)
        session.events.register_first("before-call", unreachable)
        return session

    monkeypatch.setattr(shared.aws, "new_session", new_session)


def test_a_failing_region_is_recorded_the_others_finish_and_the_invocation_fails_at_the_end(
    moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_region_down(monkeypatch)
    region = "eu-west-1"
    ec2 = boto3.client("ec2", region_name=region)
    vol = ec2.create_volume(
        AvailabilityZone=f"{region}a",
        Size=1,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Backup", "Value": "true"}]}],
    )["VolumeId"]
    for days in (1, 30, 60):
        aged_snapshot(ec2, region, vol, days, OWNED)
    # An old owned snapshot behind an AMI: kept whatever its age.
    image = ec2.register_image(Name="late", RootDeviceName="/dev/xvda")
    ami_snap = ec2.describe_images(ImageIds=[image["ImageId"]])["Images"][0]["BlockDeviceMappings"][0]["Ebs"][
        "SnapshotId"
    ]
    ec2.create_tags(Resources=[ami_snap], Tags=[*OWNED, {"Key": "devops-tasks:volume-id", "Value": vol}])
    ec2_backends[ACCOUNT][region].snapshots[ami_snap].start_time = datetime(2020, 1, 1)

    with pytest.raises(RunFailed) as failed:
        handler(
            {
                "policy": {"retention": {"keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0}},
                "create": False,
                "regions": ["eu-west-1", DOWN],
            },
            FakeContext(),
        )
    report = failed.value.report
    assert report["status"] == "failed"
    by_region = {u["region"]: u for u in report["units"]}
    assert by_region["eu-west-1"]["counts"]["deleted"] == 2
    assert by_region["eu-west-1"]["counts"]["kept"] == 2  # the newest, and the AMI's snapshot
    assert by_region[DOWN]["failures"], "an unreachable region fails its own unit only"
    assert "EndpointConnectionError" in str(by_region[DOWN]["failures"]) or "Could not connect" in str(
        by_region[DOWN]["failures"]
    )
