"""Checks as pure functions over hand-made inventories: the edges that moto cannot show."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.resource_audit.checks import BY_ID, CHECKS
from functions.resource_audit.checks.base import CheckEnv, Inventory, stopped_at
from functions.resource_audit.models import ResourceAuditInput

NOW = datetime(2025, 6, 30, tzinfo=UTC)


def _run(check_id: str, data: dict[str, object], params: ResourceAuditInput | None = None) -> list[tuple[str, str]]:
    inv = Inventory(account="123456789012", region="eu-west-1", data=data)
    return [(o.resource, o.status) for o in BY_ID[check_id].run(inv, CheckEnv(params or ResourceAuditInput(), NOW))]


def _sg(gid: str, *perms: dict[str, object]) -> dict[str, object]:
    return {"GroupId": gid, "GroupName": gid, "IpPermissions": list(perms)}


def _open(proto: str, lo: int | None = None, hi: int | None = None, v6: bool = False) -> dict[str, object]:
    perm: dict[str, object] = {"IpProtocol": proto}
    if lo is not None:
        perm |= {"FromPort": lo, "ToPort": hi}
    return perm | ({"Ipv6Ranges": [{"CidrIpv6": "::/0"}]} if v6 else {"IpRanges": [{"CidrIp": "0.0.0.0/0"}]})


@pytest.mark.parametrize(
    ("perm", "admin", "all_ports"),
    [
        (_open("tcp", 22, 22), "FAIL", "PASS"),
        (_open("tcp", 3000, 3500), "FAIL", "PASS"),  # a range that covers 3389
        (_open("tcp", 443, 443), "PASS", "PASS"),
        (_open("-1", v6=True), "FAIL", "FAIL"),
        (_open("tcp", 0, 65535), "FAIL", "FAIL"),
        (_open("icmp", -1, -1), "PASS", "PASS"),
        ({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}, "PASS", "PASS"),
    ],
)
def test_security_group_rules(perm: dict[str, object], admin: str, all_ports: str) -> None:
    data = {"security_groups": [_sg("sg-1", perm)], "prefix_lists": {}}
    assert _run("ec2-sg-open-admin-ports", data) == [("sg-1", admin)]
    assert _run("ec2-sg-open-all-ports", data) == [("sg-1", all_ports)]


def test_admin_ports_are_configurable() -> None:
    data = {"security_groups": [_sg("sg-1", _open("tcp", 5432, 5432))], "prefix_lists": {}}
    assert _run("ec2-sg-open-admin-ports", data) == [("sg-1", "PASS")]
    params = ResourceAuditInput(thresholds={"admin_ports": [22, 5432]})
    assert _run("ec2-sg-open-admin-ports", data, params) == [("sg-1", "FAIL")]


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("User initiated (2025-01-02 03:04:05 GMT)", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("User initiated (2025-01-02 03:04:05 UTC)", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("Server.ScheduledStop", None),
        (None, None),
    ],
)
def test_stop_time_from_state_transition_reason(reason: str | None, expected: datetime | None) -> None:
    assert stopped_at(reason) == expected


def _user(name: str, **fields: str) -> dict[str, str]:
    base = {"user": name, "arn": f"arn:aws:iam::1:user/{name}", "user_creation_time": "2025-06-01T00:00:00+00:00",
            "password_enabled": "false", "mfa_active": "false", "access_key_1_active": "false",
            "access_key_2_active": "false"}  # fmt: skip
    return base | fields


def test_iam_keys_and_unused_credentials_from_the_report() -> None:
    rows = [
        _user("<root_account>", access_key_1_active="true"),
        _user("old-key", access_key_2_active="true", access_key_2_last_rotated="2025-01-01T00:00:00+00:00",
              access_key_2_last_used_date="2025-06-29T00:00:00+00:00"),
        _user("idle", password_enabled="true", mfa_active="true", password_last_used="2025-02-01T00:00:00+00:00"),
        _user("never-used", password_enabled="true", mfa_active="true", password_last_used="no_information",
              user_creation_time="2024-01-01T00:00:00+00:00"),
        _user("fine", access_key_1_active="true", access_key_1_last_rotated="2025-06-01T00:00:00+00:00",
              access_key_1_last_used_date="N/A"),
    ]  # fmt: skip
    data = {"credential_report": rows}
    assert dict(_run("iam-access-key-old", data)) == {"old-key": "FAIL", "idle": "PASS", "never-used": "PASS",
                                                      "fine": "PASS"}  # fmt: skip
    assert dict(_run("iam-credentials-unused", data)) == {"old-key": "PASS", "idle": "FAIL", "never-used": "FAIL",
                                                          "fine": "PASS"}  # fmt: skip


def test_password_policy_missing_short_or_good() -> None:
    assert _run("iam-password-policy", {"password_policy": None}) == [("123456789012", "FAIL")]
    weak = {"MinimumPasswordLength": 8, "PasswordReusePrevention": 5}
    assert _run("iam-password-policy", {"password_policy": weak}) == [("123456789012", "FAIL")]
    good = {"MinimumPasswordLength": 14, "PasswordReusePrevention": 24}
    assert _run("iam-password-policy", {"password_policy": good}) == [("123456789012", "PASS")]


def test_trail_status_unknown_is_error_not_pass() -> None:
    from functions.resource_audit.checks.base import SourceError

    trail = {"Name": "org", "TrailARN": "arn:t", "IsMultiRegionTrail": True}
    assert _run("cloudtrail-multi-region-logging", {"trails": [{"trail": trail, "status": {"IsLogging": True}}]}) == [
        ("arn:t", "PASS")
    ]
    stopped = [{"trail": trail, "status": {"IsLogging": False}}]
    assert _run("cloudtrail-multi-region-logging", {"trails": stopped}) == [("123456789012", "FAIL")]
    unknown = [{"trail": trail, "status": SourceError("AccessDenied", "")}]
    assert _run("cloudtrail-multi-region-logging", {"trails": unknown}) == [("123456789012", "ERROR")]


def test_catalogue_has_at_least_25_checks_with_complete_metadata() -> None:
    assert len(CHECKS) >= 25
    assert len({c.id for c in CHECKS}) == len(CHECKS)
    for c in CHECKS:
        assert c.title
        assert c.remediation
        assert c.looks_at
        assert c.category in ("cost", "security", "reliability")
        assert c.severity in ("critical", "high", "medium", "low", "info")


def test_the_task_doc_documents_every_check() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "tasks" / "resource-audit.md").read_text()
    missing = [c.id for c in CHECKS if f"| `{c.id}` | {c.severity} |" not in doc]
    assert missing == []
