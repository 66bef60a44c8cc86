"""Read-only inventory of one (account, region): one paginated listing per resource type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from functions.snapshot_rotation.models import (
    MANAGED_TAG,
    POLICY_TAG,
    SOURCE_SNAPSHOT_TAG,
    VOLUME_TAG,
    Policy,
    SnapshotView,
    VolumeView,
)

SNAPSHOT_PAGE = 1000
VOLUME_PAGE = 500
IMAGE_PAGE = 1000


def _tags(raw: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw or []}


def snapshot_view(raw: dict[str, Any]) -> SnapshotView:
    tags = _tags(raw.get("Tags"))
    return SnapshotView(
        snapshot_id=raw["SnapshotId"],
        volume_id=tags.get(VOLUME_TAG) or raw.get("VolumeId", ""),
        start_time=raw["StartTime"],
        state=raw.get("State", "completed"),
        tags=tags,
    )


def owned_snapshots(ec2: Any, policy: Policy, extra_tags: Mapping[str, str] | None = None) -> list[SnapshotView]:
    """This policy's snapshots: ``OwnerIds=self`` and the ownership tags (plus ``extra_tags``) filtered server-side."""
    tags = {MANAGED_TAG: "true", POLICY_TAG: policy.name} | dict(extra_tags or {})
    pages = ec2.get_paginator("describe_snapshots").paginate(
        OwnerIds=["self"],
        Filters=[{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()],
        PaginationConfig={"PageSize": SNAPSHOT_PAGE},
    )
    return [snapshot_view(s) for page in pages for s in page.get("Snapshots", [])]


def pending_copies(ec2: Any) -> int:
    """Copies this project has pending in the client's region, from every source region and policy (AWS limits
    the copies in flight per account and destination region, whoever started them)."""
    pages = ec2.get_paginator("describe_snapshots").paginate(
        OwnerIds=["self"],
        Filters=[
            {"Name": "status", "Values": ["pending"]},
            {"Name": f"tag:{MANAGED_TAG}", "Values": ["true"]},
            {"Name": "tag-key", "Values": [SOURCE_SNAPSHOT_TAG]},
        ],
        PaginationConfig={"PageSize": SNAPSHOT_PAGE},
    )
    return sum(len(page.get("Snapshots", [])) for page in pages)


def volumes(ec2: Any, policy: Policy) -> list[VolumeView]:
    """Candidate volumes: filtered by the volume tag server-side unless instance tags also select volumes."""
    params: dict[str, Any] = {"PaginationConfig": {"PageSize": VOLUME_PAGE}}
    instance_tags: dict[str, dict[str, str]] = {}
    if policy.instance_tag_key:
        instance_tags = _instances(ec2, policy.instance_tag_key, policy.instance_tag_values)
    elif policy.volume_tag_key:
        params["Filters"] = [{"Name": f"tag:{policy.volume_tag_key}", "Values": policy.volume_tag_values}]
    found = []
    for page in ec2.get_paginator("describe_volumes").paginate(**params):
        for raw in page.get("Volumes", []):
            attached = [a["InstanceId"] for a in raw.get("Attachments", []) if a.get("InstanceId")]
            instance = attached[0] if attached else None
            found.append(
                VolumeView(
                    volume_id=raw["VolumeId"],
                    state=raw.get("State", "available"),
                    tags=_tags(raw.get("Tags")),
                    instance_id=instance,
                    instance_tags=instance_tags.get(instance or "", {}),
                )
            )
    return found


def _instances(ec2: Any, key: str, values: list[str]) -> dict[str, dict[str, str]]:
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": f"tag:{key}", "Values": values}], PaginationConfig={"PageSize": 1000}
    )
    return {
        inst["InstanceId"]: _tags(inst.get("Tags"))
        for page in pages
        for reservation in page.get("Reservations", [])
        for inst in reservation.get("Instances", [])
    }


def ami_snapshot_ids(ec2: Any) -> set[str]:
    """Snapshots behind any AMI this account owns, disabled and deprecated ones included."""
    pages = ec2.get_paginator("describe_images").paginate(
        Owners=["self"],
        IncludeDeprecated=True,
        IncludeDisabled=True,
        PaginationConfig={"PageSize": IMAGE_PAGE},
    )
    return {
        bdm["Ebs"]["SnapshotId"]
        for page in pages
        for image in page.get("Images", [])
        for bdm in image.get("BlockDeviceMappings", [])
        if bdm.get("Ebs", {}).get("SnapshotId")
    }
