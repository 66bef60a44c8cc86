"""The inventory's requests, as EC2 receives them: ownership filtered server-side, pages of the documented size,
every page followed. (moto ignores OwnerIds and serves one page whatever MaxResults says, so only the request can
show these; a botocore Stubber checks each request's parameters exactly, with no network.)"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from functions.snapshot_rotation import inventory
from functions.snapshot_rotation.models import Policy

WHEN = datetime(2024, 5, 10, 3, 15, tzinfo=UTC)
OWNED = [
    {"Name": "tag:devops-tasks:managed", "Values": ["true"]},
    {"Name": "tag:devops-tasks:policy", "Values": ["nightly"]},
]


def raw_snapshot(sid: str) -> dict[str, Any]:
    tags = [{"Key": "devops-tasks:managed", "Value": "true"}, {"Key": "devops-tasks:policy", "Value": "nightly"}]
    return {"SnapshotId": sid, "VolumeId": "vol-0a", "StartTime": WHEN, "State": "completed", "Tags": tags}


@pytest.fixture
def ec2() -> Any:
    return boto3.client("ec2", region_name="eu-west-1")


def test_owned_snapshots_are_filtered_by_owner_and_ownership_tags_server_side_and_every_page_is_read(ec2: Any) -> None:
    expected = {"OwnerIds": ["self"], "Filters": OWNED, "MaxResults": 1000}
    with Stubber(ec2) as stub:
        stub.add_response(
            "describe_snapshots", {"Snapshots": [raw_snapshot("snap-1")], "NextToken": "page-2"}, expected
        )
        stub.add_response(
            "describe_snapshots", {"Snapshots": [raw_snapshot("snap-2")]}, expected | {"NextToken": "page-2"}
        )
        found = inventory.owned_snapshots(ec2, Policy(name="nightly"))
        stub.assert_no_pending_responses()
    assert [s.snapshot_id for s in found] == ["snap-1", "snap-2"]


def test_dr_listing_adds_its_tags_to_the_ownership_filter(ec2: Any) -> None:
    source = {"Name": "tag:devops-tasks:source-region", "Values": ["eu-west-1"]}
    expected = {"OwnerIds": ["self"], "Filters": [*OWNED, source], "MaxResults": 1000}
    with Stubber(ec2) as stub:
        stub.add_response("describe_snapshots", {"Snapshots": []}, expected)
        inventory.owned_snapshots(ec2, Policy(name="nightly"), {"devops-tasks:source-region": "eu-west-1"})
        stub.assert_no_pending_responses()


def test_volumes_are_filtered_by_the_volume_tag_server_side(ec2: Any) -> None:
    expected = {"Filters": [{"Name": "tag:Backup", "Values": ["true", "yes"]}], "MaxResults": 500}
    volume = {"VolumeId": "vol-0a", "State": "in-use", "Tags": [{"Key": "Backup", "Value": "yes"}]}
    with Stubber(ec2) as stub:
        stub.add_response("describe_volumes", {"Volumes": [volume], "NextToken": "n"}, expected)
        stub.add_response("describe_volumes", {"Volumes": []}, expected | {"NextToken": "n"})
        found = inventory.volumes(ec2, Policy(name="nightly", volume_tag_values=["true", "yes"]))
        stub.assert_no_pending_responses()
    assert [v.volume_id for v in found] == ["vol-0a"]


def test_images_of_this_account_are_read_with_disabled_and_deprecated_ones(ec2: Any) -> None:
    expected = {"Owners": ["self"], "IncludeDeprecated": True, "IncludeDisabled": True, "MaxResults": 1000}
    image = {"ImageId": "ami-1", "BlockDeviceMappings": [{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": "snap-1"}}]}
    with Stubber(ec2) as stub:
        stub.add_response("describe_images", {"Images": [image], "NextToken": "n"}, expected)
        stub.add_response("describe_images", {"Images": []}, expected | {"NextToken": "n"})
        assert inventory.ami_snapshot_ids(ec2) == {"snap-1"}
        stub.assert_no_pending_responses()


def test_pending_copies_are_counted_server_side_over_every_source_and_policy(ec2: Any) -> None:
    expected = {
        "OwnerIds": ["self"],
        "Filters": [
            {"Name": "status", "Values": ["pending"]},
            {"Name": "tag:devops-tasks:managed", "Values": ["true"]},
            {"Name": "tag-key", "Values": ["devops-tasks:source-snapshot"]},
        ],
        "MaxResults": 1000,
    }
    with Stubber(ec2) as stub:
        stub.add_response("describe_snapshots", {"Snapshots": [raw_snapshot("snap-1")], "NextToken": "n"}, expected)
        stub.add_response("describe_snapshots", {"Snapshots": [raw_snapshot("snap-2")]}, expected | {"NextToken": "n"})
        assert inventory.pending_copies(ec2) == 2
        stub.assert_no_pending_responses()
