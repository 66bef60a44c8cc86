"""Unknown data is ERROR, never PASS: a field AWS did not return, or returned in a form the check cannot read,
never makes a resource pass. Pure checks over hand-made inventories."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.resource_audit.checks import BY_ID
from functions.resource_audit.checks.base import CheckEnv, Inventory
from functions.resource_audit.models import ResourceAuditInput

NOW = datetime(2025, 6, 30, tzinfo=UTC)
OLD = "2024-01-01T00:00:00+00:00"
RECENT = "2025-06-29T00:00:00+00:00"


def _statuses(check_id: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    inv = Inventory(account="123456789012", region="eu-west-1", data=data)
    return [(o.resource, o.status) for o in BY_ID[check_id].run(inv, CheckEnv(ResourceAuditInput(), NOW))]


def _instance(**fields: Any) -> dict[str, Any]:
    return {"InstanceId": "i-1", "State": {"Name": "stopped"}, "LaunchTime": datetime(2024, 1, 1, tzinfo=UTC)} | fields


@pytest.mark.parametrize(
    ("instance", "status"),
    [
        (_instance(StateTransitionReason="User initiated (2025-01-02 03:04:05 GMT)"), "FAIL"),
        (_instance(StateTransitionReason="User initiated (2025-06-20 03:04:05 GMT)"), "PASS"),
        # no stop time, launched long ago: it may have been stopped for months
        (_instance(StateTransitionReason="Server.ScheduledStop"), "ERROR"),
        (_instance(), "ERROR"),
        # no stop time, but last launched 10 days ago: it cannot have been stopped for longer than that
        (_instance(StateTransitionReason="", LaunchTime=datetime(2025, 6, 20, tzinfo=UTC)), "PASS"),
        (_instance(State={}), "ERROR"),
    ],
)
def test_a_stopped_instance_without_a_readable_stop_time_is_error_unless_its_launch_bounds_it(
    instance: dict[str, Any], status: str
) -> None:
    assert _statuses("ec2-instance-stopped-long", {"instances": [instance], "volumes": []}) == [("i-1", status)]


def _user(**fields: str) -> dict[str, str]:
    base = {"user": "u", "arn": "arn:aws:iam::1:user/u", "user_creation_time": OLD, "password_enabled": "false",
            "mfa_active": "false", "access_key_1_active": "false", "access_key_2_active": "false"}  # fmt: skip
    return base | fields


@pytest.mark.parametrize(
    ("check_id", "row", "status"),
    [
        ("iam-access-key-old", _user(access_key_1_active="true", access_key_1_last_rotated="N/A"), "ERROR"),
        ("iam-access-key-old", _user(access_key_1_active="true"), "ERROR"),
        ("iam-access-key-old", _user(access_key_1_active="true", access_key_1_last_rotated="last week"), "ERROR"),
        ("iam-access-key-old", _user(access_key_1_active="maybe"), "ERROR"),
        ("iam-access-key-old", _user(access_key_1_active="true", access_key_1_last_rotated=RECENT), "PASS"),
        ("iam-credentials-unused", _user(access_key_2_active="true", access_key_2_last_used_date="N/A",
                                         access_key_2_last_rotated="N/A"), "ERROR"),
        ("iam-credentials-unused", _user(password_enabled="true", password_last_used="no_information",
                                         password_last_changed="N/A", user_creation_time="N/A"), "ERROR"),
        ("iam-credentials-unused", _user(password_enabled="true", password_last_used=RECENT), "PASS"),
        ("iam-user-console-no-mfa", _user(password_enabled=""), "ERROR"),
        ("iam-user-console-no-mfa", {"user": "u", "arn": "arn:aws:iam::1:user/u"}, "ERROR"),
        ("iam-user-console-no-mfa", _user(password_enabled="true", mfa_active="N/A"), "ERROR"),
    ],
)  # fmt: skip
def test_iam_users_with_missing_or_unreadable_fields_are_error(check_id: str, row: dict[str, str], status: str) -> None:
    assert _statuses(check_id, {"credential_report": [row]}) == [("u", status)]


@pytest.mark.parametrize("root", [{"mfa": None, "keys": None, "source": "account summary"}])
@pytest.mark.parametrize("check_id", ["iam-root-mfa", "iam-root-access-keys"])
def test_root_settings_that_were_not_reported_are_error(check_id: str, root: dict[str, Any]) -> None:
    assert _statuses(check_id, {"root": root}) == [("root", "ERROR")]


def test_the_root_row_and_the_account_summary_are_read_strictly() -> None:
    from functions.resource_audit.inventory import root_from_report, root_from_summary

    row = {"user": "<root_account>", "mfa_active": "true", "access_key_1_active": "false"}
    assert root_from_report(row) == {"mfa": True, "keys": None, "source": "credential report"}
    row |= {"access_key_2_active": "false"}
    assert root_from_report(row)["keys"] is False
    assert root_from_report(row | {"access_key_2_active": "true"})["keys"] is True
    assert root_from_summary({"AccountMFAEnabled": 1}) == {"mfa": True, "keys": None, "source": "account summary"}
    assert root_from_summary({"AccountMFAEnabled": 0, "AccountAccessKeysPresent": 0})["keys"] is False


@pytest.mark.parametrize(
    ("check_id", "data", "status"),
    [
        ("ec2-ami-old-unused", {"images": [{"ImageId": "ami-1"}], "instances": []}, "ERROR"),
        ("ec2-ami-old-unused", {"images": [{"ImageId": "ami-1"}], "instances": [{"ImageId": "ami-1"}]}, "PASS"),
        ("ebs-snapshot-old", {"snapshots": [{"SnapshotId": "snap-1"}]}, "ERROR"),
        ("ebs-snapshot-old", {"snapshots": [{"SnapshotId": "snap-1", "StartTime": "not a time"}]}, "ERROR"),
        ("ebs-volume-unattached", {"volumes": [{"VolumeId": "vol-1"}]}, "ERROR"),
        ("ebs-volume-gp2", {"volumes": [{"VolumeId": "vol-1", "State": "in-use"}]}, "ERROR"),
        ("ebs-volume-unencrypted", {"volumes": [{"VolumeId": "vol-1"}]}, "ERROR"),
        ("ebs-snapshot-unencrypted", {"snapshots": [{"SnapshotId": "snap-1"}]}, "ERROR"),
        ("ebs-encryption-by-default", {"ebs_default_encryption": None}, "ERROR"),
        ("ec2-instance-imdsv1", {"instances": [{"InstanceId": "i-1"}]}, "ERROR"),
        ("ec2-instance-imdsv1", {"instances": [{"InstanceId": "i-1", "MetadataOptions": {"HttpEndpoint": "disabled"}}]},
         "PASS"),
        ("ebs-volume-no-recent-snapshot", {"volumes": [{"VolumeId": "vol-1", "State": "in-use"}],
                                           "snapshots": [{"SnapshotId": "snap-1", "VolumeId": "vol-1",
                                                          "State": "completed"}]}, "ERROR"),
        ("ebs-volume-no-recent-snapshot", {"volumes": [{"VolumeId": "vol-1"}], "snapshots": []}, "ERROR"),
    ],
)  # fmt: skip
def test_ec2_resources_with_missing_or_unreadable_fields_are_error(
    check_id: str, data: dict[str, Any], status: str
) -> None:
    [(_, got)] = _statuses(check_id, data)
    assert got == status


def test_a_trail_whose_status_does_not_say_whether_it_logs_is_error() -> None:
    trail = {"Name": "org", "TrailARN": "arn:t", "IsMultiRegionTrail": True}
    assert _statuses("cloudtrail-multi-region-logging", {"trails": [{"trail": trail, "status": {}}]}) == [
        ("123456789012", "ERROR")
    ]


# A failing resource for each check, by check id: (source of the resource, the resource, the other sources).
FAILING: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "ebs-volume-unattached": ("volumes", {"VolumeId": "v", "State": "available", "Size": 8, "VolumeType": "gp2"}, {}),
    "ebs-volume-gp2": ("volumes", {"VolumeId": "v", "State": "in-use", "Size": 8, "VolumeType": "gp2"}, {}),
    "ebs-volume-unencrypted": ("volumes", {"VolumeId": "v", "Encrypted": False}, {}),
    "ebs-snapshot-old": ("snapshots", {"SnapshotId": "s", "StartTime": OLD, "VolumeSize": 8}, {}),
    "ebs-snapshot-unencrypted": ("snapshots", {"SnapshotId": "s", "Encrypted": False}, {}),
    "ebs-volume-no-recent-snapshot": (
        "volumes",
        {"VolumeId": "v", "State": "in-use"},
        {"snapshots": [{"SnapshotId": "s", "VolumeId": "v", "State": "completed", "StartTime": OLD}]},
    ),
    "ec2-instance-stopped-long": (
        "instances",
        {
            "InstanceId": "i",
            "State": {"Name": "stopped"},
            "LaunchTime": OLD,
            "StateTransitionReason": "User initiated (2025-01-02 03:04:05 GMT)",
        },
        {"volumes": []},
    ),
    "ec2-instance-imdsv1": ("instances", {"InstanceId": "i", "MetadataOptions": {"HttpTokens": "optional"}}, {}),
    "ec2-ami-old-unused": ("images", {"ImageId": "a", "CreationDate": OLD}, {"instances": []}),
    "iam-user-console-no-mfa": ("credential_report", _user(password_enabled="true", mfa_active="false"), {}),
    "iam-access-key-old": ("credential_report", _user(access_key_1_active="true", access_key_1_last_rotated=OLD), {}),
    "iam-credentials-unused": (
        "credential_report",
        _user(
            password_enabled="true",
            password_last_used=OLD,
            password_last_changed=OLD,
            access_key_1_active="true",
            access_key_1_last_rotated=OLD,
            access_key_1_last_used_date=OLD,
        ),
        {},
    ),
}
ID_FIELDS = {"VolumeId", "SnapshotId", "InstanceId", "ImageId", "user", "arn"}


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a loaded machine
@given(st.data())
def test_taking_fields_out_of_a_failing_resource_never_makes_it_pass(data: st.DataObject) -> None:
    """Whatever fields AWS leaves out, a resource that fails with them never passes without them."""
    check_id = data.draw(st.sampled_from(sorted(FAILING)))
    source, resource, others = FAILING[check_id]
    [(_, status)] = _statuses(check_id, {source: [resource], **others})
    assert status == "FAIL"
    droppable = sorted(set(resource) - ID_FIELDS)
    dropped = data.draw(st.sets(st.sampled_from(droppable), min_size=1))
    blank = data.draw(st.booleans())  # text fields: left out, or present and empty
    thinner = {k: v for k, v in resource.items() if k not in dropped}
    if blank:
        thinner |= {k: "" for k in dropped if isinstance(resource[k], str)}
    [(_, status)] = _statuses(check_id, {source: [thinner], **others})
    assert status in ("FAIL", "ERROR"), (check_id, dropped, blank)
