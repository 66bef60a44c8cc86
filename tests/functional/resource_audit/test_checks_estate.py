"""Every check against a seeded estate under moto: a failing and a passing resource each; suppressions; the diff."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from functions.resource_audit.checks import CHECKS
from tests.functional.resource_audit.estate import ACCOUNT, HARDENED, NOW, audit, event, read_report, seed, shims

SUPPRESSIONS = [
    {"check": "ebs-volume-gp2", "resource": "vol-*", "reason": "gp3 migration planned", "expires": "2099-12-31"},
    {"check": "s3-bucket-versioning", "resource": "messy-*", "reason": "waived last year", "expires": "2020-12-31"},
]


@pytest.fixture(scope="module")
def estate() -> Iterator[dict[str, Any]]:
    """One audit run of the seeded estate (module-wide: the checks are many, the estate is one)."""
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as mp:
        for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            mp.delenv(var, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        mp.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        with mock_aws(), shims():
            ids = seed()
            response = audit(event(suppressions=SUPPRESSIONS))
            report = read_report()
            yield {"ids": ids, "response": response, "report": report}


def _by(report: dict[str, Any], check_id: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["check_id"] == check_id]


def _status(report: dict[str, Any], check_id: str, account: str, resource: str) -> str:
    found = [f["status"] for f in _by(report, check_id) if f["account"] == account and f["resource"] == resource]
    assert len(found) == 1, (check_id, resource, found)
    return found[0]


@pytest.mark.parametrize("check_id", [c.id for c in CHECKS])
def test_every_check_finds_a_failing_and_a_passing_resource(estate: dict[str, Any], check_id: str) -> None:
    statuses = {f["status"] for f in _by(estate["report"], check_id)}
    assert {"PASS"} <= statuses
    assert statuses & {"FAIL", "SUPPRESSED"}
    assert "ERROR" not in statuses


@pytest.mark.parametrize(
    ("check_id", "role_fail", "role_pass"),
    [
        ("ebs-volume-unattached", "volume_fail", "volume_pass"),
        ("ebs-volume-unencrypted", "volume_fail", "volume_pass"),
        ("ebs-snapshot-old", "snapshot_fail", "snapshot_pass"),
        ("ebs-snapshot-public", "snapshot_fail", "snapshot_pass"),
        ("ebs-snapshot-unencrypted", "snapshot_fail", "snapshot_pass"),
        ("ebs-snapshot-orphan", "snapshot_orphan", "snapshot_pass"),
        ("ec2-eip-unused", "eip_fail", "eip_pass"),
        ("ec2-instance-stopped-long", "instance_fail", "instance_pass"),
        ("ec2-instance-imdsv1", "instance_fail", "instance_pass"),
        ("ec2-ami-old-unused", "ami_fail", "ami_pass"),
        ("ec2-ami-public", "ami_fail", "ami_pass"),
        ("ebs-snapshot-shared", "snapshot_orphan", "snapshot_pass"),
        ("rds-instance-public", "db_fail", "db_pass"),
        ("rds-instance-storage-unencrypted", "db_fail", "db_pass"),
        ("rds-instance-backups-off", "db_fail", "db_pass"),
        ("rds-snapshot-shared", "db_snapshot_fail", "db_snapshot_pass"),
        ("ec2-sg-open-database-ports", "sg_fail", "sg_pass"),
        ("kms-key-rotation-off", "key_fail", "key_pass"),
        ("kms-key-pending-deletion", "key_doomed", "key_pass"),
        ("vpc-flow-logs-off", "vpc_fail", "vpc_pass"),
        ("elb-idle", "lb_fail", "lb_pass"),
        ("ec2-nat-gateway-idle", "nat_fail", "nat_pass"),
        ("ebs-io-overprovisioned", "io_fail", "io_pass"),
        ("ec2-sg-open-admin-ports", "sg_fail", "sg_pass"),
        ("ec2-sg-open-all-ports", "sg_fail", "sg_pass"),
        ("ec2-sg-unused", "sg_fail", "sg_pass"),
        ("logs-group-no-retention", "log_fail", "log_pass"),
        ("tags-required-ec2", "volume_fail", "volume_pass"),
        ("s3-bucket-secure-transport", "bucket_fail", "bucket_pass"),
        ("s3-bucket-lifecycle", "bucket_fail", "bucket_pass"),
        ("tags-required-s3", "bucket_fail", "bucket_pass"),
        ("iam-user-console-no-mfa", "user_fail", "user_pass"),
        ("iam-access-key-old", "user_fail", "user_pass"),
    ],
)
def test_the_seeded_bad_resource_fails_and_the_good_one_passes(
    estate: dict[str, Any], check_id: str, role_fail: str, role_pass: str
) -> None:
    ids = estate["ids"][ACCOUNT]
    assert _status(estate["report"], check_id, ACCOUNT, ids[role_fail]) == "FAIL"
    assert _status(estate["report"], check_id, ACCOUNT, ids[role_pass]) == "PASS"


@pytest.mark.parametrize(
    "check_id",
    [
        "s3-account-public-access-block",
        "iam-password-policy",
        "iam-root-mfa",
        "iam-root-access-keys",
        "iam-root-used-recently",
        "cloudtrail-multi-region-logging",
        "ebs-encryption-by-default",
        "guardduty-off",
        "access-analyzer-off",
    ],
)
def test_account_settings_fail_in_the_plain_account_and_pass_in_the_hardened_one(
    estate: dict[str, Any], check_id: str
) -> None:
    by_account = {f["account"]: f["status"] for f in _by(estate["report"], check_id)}
    assert by_account == {ACCOUNT: "FAIL", HARDENED: "PASS"}


def test_a_public_bucket_fails_and_account_block_public_access_settles_every_bucket(estate: dict[str, Any]) -> None:
    report = estate["report"]
    plain, hardened = estate["ids"][ACCOUNT], estate["ids"][HARDENED]
    messy = next(f for f in _by(report, "s3-bucket-public") if f["resource"] == plain["bucket_fail"])
    assert (messy["status"], messy["evidence"]) == ("FAIL", "public through its ACL")
    assert _status(report, "s3-bucket-public", ACCOUNT, plain["bucket_pass"]) == "PASS"
    settled = [f for f in _by(report, "s3-bucket-public") if f["account"] == HARDENED]
    assert settled
    assert {f["evidence"] for f in settled} == {
        "settled by account-level Block Public Access (IgnorePublicAcls, RestrictPublicBuckets)"
    }
    assert hardened["bucket_fail"] in {f["resource"] for f in settled}


def test_suppressions_by_tag_and_by_config_and_an_expired_one(estate: dict[str, Any]) -> None:
    report = estate["report"]
    ids = estate["ids"][ACCOUNT]
    waived = next(f for f in _by(report, "ebs-volume-unattached") if f["resource"] == ids["volume_tag_suppressed"])
    assert waived["status"] == "SUPPRESSED"
    assert waived["suppressed_by"] == "tag devops-tasks:audit-ignore"
    gp2 = [f for f in _by(report, "ebs-volume-gp2") if f["resource"] == ids["volume_fail"]]
    assert [f["status"] for f in gp2] == ["SUPPRESSED"]
    assert gp2[0]["suppressed_by"].startswith("config until 2099-12-31")
    messy = next(f for f in _by(report, "s3-bucket-versioning") if f["resource"] == ids["bucket_fail"])
    assert messy["status"] == "FAIL"
    assert "suppression expired 2020-12-31" in messy["evidence"]
    assert [(x["check"], x["matched"]) for x in report["expired_suppressions"]] == [("s3-bucket-versioning", 2)]


def test_reports_carry_savings_counts_and_links(estate: dict[str, Any]) -> None:
    report, response = estate["report"], estate["response"]
    assert report["schema"] == "devops-tasks/resource-audit"
    assert report["summary"]["monthly_saving_usd"] > 0
    assert report["summary"]["checks_in_error"] == []
    assert report["accounts"] == sorted([ACCOUNT, HARDENED])
    assert response["status"] == "succeeded"
    assert any(line.startswith("failing: critical") for line in response["notes"])
    assert {"json", "csv", "html"} <= set(response["links"])
    console = next(v for k, v in response["links"].items() if k.startswith("html report"))
    assert console.startswith("https://console.aws.amazon.com/s3/object/devops-tasks-reports?region=eu-west-1&")
    assert not [v for v in response["links"].values() if "X-Amz-Signature" in v]
    assert sum(u["counts"].get("findings_fail", 0) for u in response["units"]) == report["summary"]["by_status"]["FAIL"]


def test_a_second_run_reports_what_changed(estate: dict[str, Any]) -> None:
    """Fix the unattached volume and open a new log group without retention: one resolved, new ones appear."""
    import boto3
    from moto import mock_aws

    assert mock_aws  # the module fixture's mock is still active while its tests run
    ids = estate["ids"][ACCOUNT]
    from tests.functional.resource_audit.estate import session_for

    session = session_for(ACCOUNT)
    ec2 = session.client("ec2", region_name="eu-west-1")
    ec2.delete_snapshot(SnapshotId=ids["snapshot_fail"])
    session.client("logs", region_name="eu-west-1").create_log_group(logGroupName="/app/brand-new")
    with shims():
        second = audit(event(suppressions=SUPPRESSIONS), now=NOW + timedelta(hours=1))
    report = read_report()
    diff = report["diff"]
    assert diff["previous_run_id"] == estate["response"]["run_id"]
    assert ("logs-group-no-retention", "/app/brand-new") in {(f["check_id"], f["resource"]) for f in diff["new"]}
    resolved = {(f["check_id"], f["resource"]) for f in diff["resolved"]}
    assert ("ebs-snapshot-public", ids["snapshot_fail"]) in resolved
    assert ("ebs-snapshot-old", ids["snapshot_fail"]) in resolved
    assert diff["still_open"] > 0
    assert any(
        line.startswith("- low logs-group-no-retention") and "/app/brand-new" in line for line in second["notes"]
    )
    boto3.client("s3", region_name="eu-west-1").head_object(
        Bucket="devops-tasks-reports", Key="reports/resource-audit/latest.html"
    )
