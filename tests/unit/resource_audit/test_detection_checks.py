"""GuardDuty, VPC flow logs and KMS keys: pure checks over hand-made inventories."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from functions.resource_audit.checks import BY_ID
from functions.resource_audit.checks.base import CheckEnv, Inventory, SourceError
from functions.resource_audit.models import ResourceAuditInput

NOW = datetime(2025, 6, 30, tzinfo=UTC)


def _run(check_id: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    inv = Inventory(account="123456789012", region="eu-west-1", data=data)
    return [(o.resource, o.status) for o in BY_ID[check_id].run(inv, CheckEnv(ResourceAuditInput(), NOW))]


@pytest.mark.parametrize(
    ("detectors", "status"),
    [
        ([], "FAIL"),
        ([{"id": "d1", "status": "DISABLED"}], "FAIL"),
        ([{"id": "d1", "status": "ENABLED"}], "PASS"),
        ([{"id": "d1", "status": SourceError("AccessDenied", "")}], "ERROR"),
        ([{"id": "d1", "status": SourceError("AccessDenied", "")}, {"id": "d2", "status": "ENABLED"}], "PASS"),
    ],
)
def test_guardduty_off_in_a_region_fails_and_an_unreadable_detector_is_error(
    detectors: list[dict[str, Any]], status: str
) -> None:
    assert _run("guardduty-off", {"guardduty_detectors": detectors}) == [("guardduty", status)]


def _analyzer(name: str, status: object = "ACTIVE", type_: object = "ACCOUNT") -> dict[str, Any]:
    return {"arn": f"arn:aws:access-analyzer:eu-west-1:123456789012:analyzer/{name}", "name": name,
            "type": type_, "status": status}  # fmt: skip


@pytest.mark.parametrize(
    ("analyzers", "status"),
    [
        ([], "FAIL"),
        ([_analyzer("a", "DISABLED")], "FAIL"),
        ([_analyzer("a", "CREATING"), _analyzer("b", "FAILED")], "FAIL"),
        ([_analyzer("a")], "PASS"),
        ([_analyzer("org", type_="ORGANIZATION")], "PASS"),
        # an unused-access analyzer finds no external access: it is not the analyzer CIS 1.20 asks for
        ([_analyzer("unused", type_="ACCOUNT_UNUSED_ACCESS")], "FAIL"),
        ([_analyzer("a", status=None)], "ERROR"),
        ([_analyzer("a", status="SOMETHING_NEW")], "ERROR"),
        ([_analyzer("a", type_=None)], "ERROR"),
        ([_analyzer("a", status=None), _analyzer("b")], "PASS"),
        ([_analyzer("a", "DISABLED"), _analyzer("b", type_="SOMETHING_NEW")], "ERROR"),
    ],
)
def test_access_analyzer_off_in_a_region_fails_and_an_unreadable_analyzer_is_error(
    analyzers: list[dict[str, Any]], status: str
) -> None:
    assert _run("access-analyzer-off", {"access_analyzers": analyzers}) == [("access-analyzer", status)]


def test_a_vpc_without_an_active_flow_log_of_its_own_fails() -> None:
    vpcs = [{"VpcId": v} for v in ("vpc-on", "vpc-off", "vpc-subnet-only", "vpc-failed", "vpc-unknown")]
    flow_logs = [
        {"FlowLogId": "fl-1", "ResourceId": "vpc-on", "FlowLogStatus": "ACTIVE"},
        {"FlowLogId": "fl-2", "ResourceId": "subnet-1", "FlowLogStatus": "ACTIVE"},
        {"FlowLogId": "fl-3", "ResourceId": "vpc-failed", "FlowLogStatus": "DELETED"},
        {"FlowLogId": "fl-4", "ResourceId": "vpc-unknown"},
    ]
    assert dict(_run("vpc-flow-logs-off", {"vpcs": vpcs, "flow_logs": flow_logs})) == {
        "vpc-on": "PASS",
        "vpc-off": "FAIL",
        "vpc-subnet-only": "FAIL",
        "vpc-failed": "FAIL",
        "vpc-unknown": "ERROR",
    }


def _key(kid: str, meta: Any = None, rotation: Any = None, aws: bool = False) -> dict[str, Any]:
    key: dict[str, Any] = {"KeyId": kid, "KeyArn": f"arn:aws:kms:eu-west-1:123456789012:key/{kid}", "aws_managed": aws}
    if meta is not None:
        key["meta"] = {"KeyManager": "CUSTOMER", "KeySpec": "SYMMETRIC_DEFAULT", "Origin": "AWS_KMS"} | meta
    if rotation is not None:
        key["rotation"] = rotation
    return key


KEYS = [
    _key("rotated", {"KeyState": "Enabled"}, True),
    _key("unrotated", {"KeyState": "Enabled"}, False),
    _key("doomed", {"KeyState": "PendingDeletion", "DeletionDate": "2025-07-07T00:00:00Z"}),
    _key("asymmetric", {"KeyState": "Enabled", "KeySpec": "RSA_2048"}),
    _key("imported", {"KeyState": "Enabled", "Origin": "EXTERNAL"}),
    _key("disabled", {"KeyState": "Disabled"}),
    _key("aws", aws=True),
    _key("aws-by-meta", {"KeyState": "Enabled", "KeyManager": "AWS"}),
    _key("rotation-unread", {"KeyState": "Enabled"}, SourceError("AccessDeniedException", "")),
    _key("rotation-missing", {"KeyState": "Enabled"}),
    {"KeyId": "undescribed", "aws_managed": False, "meta": SourceError("AccessDeniedException", "")},
]


def test_kms_rotation_is_judged_on_rotatable_customer_keys_and_unknown_is_error() -> None:
    assert dict(_run("kms-key-rotation-off", {"kms_keys": KEYS})) == {
        "rotated": "PASS",
        "unrotated": "FAIL",
        "rotation-unread": "ERROR",
        "rotation-missing": "ERROR",
        "undescribed": "ERROR",
    }


def test_kms_keys_pending_deletion_fail() -> None:
    got = dict(_run("kms-key-pending-deletion", {"kms_keys": KEYS}))
    assert got["doomed"] == "FAIL"
    assert got["undescribed"] == "ERROR"
    passing = {"rotated", "unrotated", "asymmetric", "imported", "disabled", "rotation-unread", "rotation-missing"}
    assert {k for k, v in got.items() if v == "PASS"} == passing
    assert "aws" not in got
    assert "aws-by-meta" not in got
