"""Edges of single checks: effective Block Public Access, trails of unknown status, gp3 savings, password age."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from functions.resource_audit.checks import BY_ID
from functions.resource_audit.checks.base import CheckEnv, Inventory, Outcome, SourceError
from functions.resource_audit.models import ResourceAuditInput

NOW = datetime(2025, 6, 30, tzinfo=UTC)


def _run(check_id: str, data: dict[str, Any]) -> list[Outcome]:
    inv = Inventory(account="123456789012", region="global", data=data)
    return list(BY_ID[check_id].run(inv, CheckEnv(ResourceAuditInput(), NOW)))


def _bucket(block: dict[str, bool] | None, *, policy: bool = False, acl: bool = False) -> dict[str, Any]:
    return {"Name": "b", "Region": "eu-west-1", "public": {"block": block, "policy_public": policy, "acl_public": acl}}


ACLS = {"BlockPublicAcls": True, "IgnorePublicAcls": True}
POLICIES = {"BlockPublicPolicy": True, "RestrictPublicBuckets": True}


IGNORE, RESTRICT = {"IgnorePublicAcls": True}, {"RestrictPublicBuckets": True}


@pytest.mark.parametrize(
    ("account", "bucket", "policy", "acl", "status", "said"),
    [
        # S3 applies the most restrictive combination of the account's and the bucket's settings
        (None, None, False, True, "FAIL", "public through its ACL"),
        (None, None, True, True, "FAIL", "public through its bucket policy and ACL"),
        (IGNORE, None, False, True, "PASS", "IgnorePublicAcls (account)"),  # the grant is cancelled
        (None, IGNORE, False, True, "PASS", "IgnorePublicAcls (bucket)"),
        (None, RESTRICT, True, False, "PASS", "RestrictPublicBuckets (bucket)"),
        (RESTRICT, None, True, False, "PASS", "RestrictPublicBuckets (account)"),
        (IGNORE, None, True, True, "FAIL", "public through its bucket policy"),  # only the ACL is cancelled
        (None, RESTRICT, True, True, "FAIL", "public through its ACL"),
        (ACLS, {"BlockPublicPolicy": True}, False, False, "PASS", "not public"),
        (None, None, False, False, "PASS", "not public"),
        (POLICIES, ACLS, True, True, "PASS", "IgnorePublicAcls (bucket)"),
    ],
)
def test_bucket_public_is_the_effective_exposure_after_block_public_access(
    account: dict[str, bool] | None, bucket: dict[str, bool] | None, policy: bool, acl: bool, status: str, said: str
) -> None:
    data = {"account_public_access_block": account, "buckets": [_bucket(bucket, policy=policy, acl=acl)]}
    [outcome] = _run("s3-bucket-public", data)
    assert (outcome.status, said in outcome.evidence) == (status, True), outcome.evidence


def test_a_grant_the_settings_do_not_cancel_but_that_was_not_read_is_error() -> None:
    unread = {"Name": "b", "Region": "eu-west-1", "public": {"block": IGNORE}}  # policy status missing
    data = {"account_public_access_block": None, "buckets": [unread]}
    assert [o.status for o in _run("s3-bucket-public", data)] == ["ERROR"]
    nothing = {"Name": "b", "Region": "eu-west-1"}
    assert [
        o.status for o in _run("s3-bucket-public", {"account_public_access_block": None, "buckets": [nothing]})
    ] == ["ERROR"]
    settled = {"account_public_access_block": IGNORE | RESTRICT, "buckets": [nothing]}
    [outcome] = _run("s3-bucket-public", settled)
    assert outcome.status == "PASS"
    assert "account-level Block Public Access" in outcome.evidence


def _trail(name: str) -> dict[str, Any]:
    return {"Name": name, "TrailARN": f"arn:aws:cloudtrail:eu-west-1:1:trail/{name}", "IsMultiRegionTrail": True}


def test_a_trail_of_unknown_status_makes_the_trail_check_error_not_fail() -> None:
    """One trail stopped, the other's status unreadable: it may be logging, so the check cannot say FAIL."""
    trails = [
        {"trail": _trail("stopped"), "status": {"IsLogging": False}},
        {"trail": _trail("org"), "status": SourceError("AccessDenied", "")},
    ]
    [outcome] = _run("cloudtrail-multi-region-logging", {"trails": trails})
    assert outcome.status == "ERROR"
    assert "stopped: not logging" in outcome.evidence
    assert "AccessDenied" in outcome.evidence
    logging = [*trails, {"trail": _trail("good"), "status": {"IsLogging": True}}]
    assert [o.status for o in _run("cloudtrail-multi-region-logging", {"trails": logging})] == ["PASS"]


@pytest.mark.parametrize(
    ("size", "saving"),
    [
        (100, 2.00),  # 300 IOPS and 128 MiB/s: the gp3 baseline covers them; storage saving only
        (500, 5.00),  # 1500 IOPS (bursts to 3000, the gp3 baseline), 250 MiB/s: 125 MiB/s more at $0.04 -> 10 - 5
        (2000, 20.00),  # 6000 IOPS: 3000 more at $0.005; 125 MiB/s more at $0.04 -> 40 - 15 - 5
        (16000, 250.00),  # 16000 IOPS (the gp2 maximum): 13000 more -> 320 - 65 - 5
    ],
)
def test_gp3_saving_prices_the_iops_and_throughput_gp2_included(size: int, saving: float) -> None:
    volume = {"VolumeId": "vol-1", "State": "in-use", "Size": size, "VolumeType": "gp2"}
    [outcome] = _run("ebs-volume-gp2", {"volumes": [volume]})
    assert outcome.saving == pytest.approx(saving)


def _user(**fields: str) -> dict[str, str]:
    base = {"user": "u", "arn": "arn:aws:iam::1:user/u", "user_creation_time": "2023-01-01T00:00:00+00:00",
            "password_enabled": "true", "password_last_used": "no_information", "mfa_active": "true",
            "access_key_1_active": "false", "access_key_2_active": "false"}  # fmt: skip
    return base | fields


def test_a_password_never_used_is_aged_from_when_it_was_set_not_from_when_the_user_was_created() -> None:
    fresh = _user(password_last_changed="2025-06-25T00:00:00+00:00")
    assert [o.status for o in _run("iam-credentials-unused", {"credential_report": [fresh]})] == ["PASS"]
    stale = _user(password_last_changed="2024-06-25T00:00:00+00:00")
    [outcome] = _run("iam-credentials-unused", {"credential_report": [stale]})
    assert outcome.status == "FAIL"
    assert "password unused for 370 days" in outcome.evidence
    unknown = _user(password_last_changed="N/A")  # falls back to the user's creation
    assert [o.status for o in _run("iam-credentials-unused", {"credential_report": [unknown]})] == ["FAIL"]
