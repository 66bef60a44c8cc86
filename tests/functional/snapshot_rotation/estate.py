"""Seeding and reading an EC2 estate under in-process moto for the snapshot rotation tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.loaders
import botocore.session

from functions.snapshot_rotation.models import MANAGED_TAG, POLICY_TAG, VOLUME_TAG
from shared.aws import Clients
from tests.faults import CallLog
from tests.helpers import REGION

ACCOUNT = "123456789012"
DR_REGION = "eu-central-1"
BUCKET = "devops-tasks-reports"


_LOADER = botocore.loaders.create_loader()


def _session() -> boto3.Session:
    return session()


def session() -> boto3.Session:
    """A new session (its own events and clients) that shares botocore's loaded API models with the others."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.Session(botocore_session=core, region_name=REGION)


def ec2(region: str = REGION, session: boto3.Session | None = None) -> Any:
    return (session or _session()).client("ec2", region_name=region)


def backend(region: str = REGION, account: str = ACCOUNT) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account][region]


def reports_bucket() -> str:
    session().client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return BUCKET


def volume(client: Any, name: str, *, backup: str | None = "true", **tags: str) -> str:
    all_tags = {"Name": name, **tags} | ({"Backup": backup} if backup is not None else {})
    resp = client.create_volume(
        AvailabilityZone=f"{client.meta.region_name}a",
        Size=1,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()]}],
    )
    return str(resp["VolumeId"])


def snapshot(
    client: Any,
    volume_id: str,
    when: datetime,
    *,
    policy: str | None = "default",
    state: str = "completed",
    account: str = ACCOUNT,
) -> str:
    """A snapshot taken at ``when``: owned by ``policy`` (None: made by hand)."""
    tags = {MANAGED_TAG: "true", POLICY_TAG: policy, VOLUME_TAG: volume_id} if policy else {"Name": "by hand"}
    sid = str(
        client.create_snapshot(
            VolumeId=volume_id,
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
        )["SnapshotId"]
    )
    age(sid, when, region=client.meta.region_name, account=account, state=state)
    return sid


def seed_snapshots(
    volume_id: str,
    times: list[datetime],
    *,
    region: str = REGION,
    policy: str = "default",
    extra_tags: dict[str, str] | None = None,
) -> list[str]:
    """Owned, completed snapshots of ``volume_id`` taken at ``times``, made through moto's backend (no API calls:
    hundreds in milliseconds). The volume must exist in ``region``."""
    found = backend(region)
    tags = {MANAGED_TAG: "true", POLICY_TAG: policy, VOLUME_TAG: volume_id} | (extra_tags or {})
    ids = []
    for when in times:
        sid = found.create_snapshot(volume_id, "seeded").id
        found.create_tags([sid], tags)
        age(sid, when, region=region)
        ids.append(sid)
    return ids


def age(sid: str, when: datetime, *, region: str = REGION, account: str = ACCOUNT, state: str = "completed") -> None:
    found = backend(region, account).snapshots[sid]
    found.start_time = when.astimezone(UTC).replace(tzinfo=None)
    found.status = state


def ami_snapshot(client: Any, when: datetime, volume_id: str, policy: str = "default") -> str:
    """An owned snapshot that an AMI uses (moto makes the AMI's snapshot itself; it is tagged as ours here)."""
    client.register_image(
        Name=f"ami-of-{volume_id}",
        RootDeviceName="/dev/sda1",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8}}],
    )
    images = client.describe_images(Owners=["self"])["Images"]
    sid = next(
        bdm["Ebs"]["SnapshotId"]
        for img in images
        if img["Name"] == f"ami-of-{volume_id}"
        for bdm in img["BlockDeviceMappings"]
    )
    tags = {MANAGED_TAG: "true", POLICY_TAG: policy, VOLUME_TAG: volume_id}
    client.create_tags(Resources=[sid], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    age(sid, when, region=client.meta.region_name)
    return sid


def snapshots(client: Any) -> dict[str, dict[str, Any]]:
    """Every snapshot in the client's region, by id, with its tags as a dict."""
    found = {}
    for s in client.describe_snapshots(OwnerIds=["self"])["Snapshots"]:
        found[s["SnapshotId"]] = s | {"Tags": {t["Key"]: t["Value"] for t in s.get("Tags", [])}}
    return found


def shape(client: Any) -> list[tuple[str, str, str, str]]:
    """The estate independent of generated ids: (volume Name or 'hand', start time, policy, source-region)."""
    names = {v["VolumeId"]: _name(v) for v in client.describe_volumes()["Volumes"]}
    rows = []
    for s in snapshots(client).values():
        tags = s["Tags"]
        vid = tags.get(VOLUME_TAG, s.get("VolumeId", ""))
        rows.append(
            (
                names.get(vid, "?"),
                s["StartTime"].astimezone(UTC).isoformat(),
                tags.get(POLICY_TAG, "hand"),
                tags.get("devops-tasks:source-region", ""),
            )
        )
    return sorted(rows)


def _name(vol: dict[str, Any]) -> str:
    return next((t["Value"] for t in vol.get("Tags", []) if t["Key"] == "Name"), vol["VolumeId"])


def counted_clients() -> tuple[Clients, CallLog]:
    fresh = session()
    return Clients(fresh), CallLog().attach(fresh)


def report_from_s3(location: str) -> dict[str, Any]:
    bucket, key = location.removeprefix("s3://").split("/", 1)
    body = session().client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    data: dict[str, Any] = json.loads(body)
    return data
