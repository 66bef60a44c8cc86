"""RDS instances and snapshots, and snapshots shared beyond the organization: pure checks over hand-made
inventories. A share with an account whose membership cannot be known is ERROR, never PASS."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from functions.resource_audit.checks import BY_ID
from functions.resource_audit.checks.base import CheckEnv, Inventory, SourceError
from functions.resource_audit.models import ResourceAuditInput

NOW = datetime(2025, 6, 30, tzinfo=UTC)
ME, MEMBER, AUDITED, PARTNER, STRANGER = "123456789012", "210987654321", "111122223333", "444455556666", "999988887777"
ORG = {"accounts": frozenset({ME, MEMBER})}
DENIED = {"accounts": SourceError("AccessDeniedException", "not the management account")}


def _run(check_id: str, data: dict[str, Any], **params: Any) -> list[tuple[str, str, str]]:
    settings = ResourceAuditInput.model_validate(
        {"accounts": [{"account_id": AUDITED, "role": "audit"}], "trusted_accounts": [PARTNER]} | params
    )
    inv = Inventory(account=ME, region="eu-west-1", data=data)
    return [(o.resource, o.status, o.evidence) for o in BY_ID[check_id].run(inv, CheckEnv(settings, NOW))]


def _ebs(perms: Any, org: dict[str, Any] = ORG) -> tuple[str, str]:
    data = {"snapshots": [{"SnapshotId": "snap-1"}], "snapshot_permissions": {"snap-1": perms}, "organization": org}
    [(_, status, evidence)] = _run("ebs-snapshot-shared", data)
    return status, evidence


@pytest.mark.parametrize(
    ("perms", "org", "status"),
    [
        ([], ORG, "PASS"),
        ([{"UserId": MEMBER}], ORG, "PASS"),  # in the organization
        ([{"UserId": AUDITED}], DENIED, "PASS"),  # audited by this run
        ([{"UserId": PARTNER}], DENIED, "PASS"),  # trusted
        ([{"UserId": STRANGER}], ORG, "FAIL"),
        ([{"UserId": MEMBER}, {"UserId": STRANGER}], ORG, "FAIL"),
        ([{"Group": "all"}], DENIED, "FAIL"),
        ([{"UserId": STRANGER}], DENIED, "ERROR"),  # may be outside: the organization could not be listed
        ([{"UserId": STRANGER}], {"accounts": frozenset()}, "FAIL"),  # no organization: every other account
        (SourceError("UnauthorizedOperation", ""), ORG, "ERROR"),
    ],
)
def test_an_ebs_snapshot_shared_outside_the_organization_fails(perms: Any, org: dict[str, Any], status: str) -> None:
    got, evidence = _ebs(perms, org)
    assert got == status
    if status == "FAIL" and perms != [{"Group": "all"}]:
        assert STRANGER in evidence


def test_an_ebs_snapshot_whose_permissions_were_not_read_is_error() -> None:
    data = {"snapshots": [{"SnapshotId": "snap-1"}], "snapshot_permissions": {}, "organization": ORG}
    assert [s for _, s, _ in _run("ebs-snapshot-shared", data)] == ["ERROR"]


def _rds_snapshot(restore: Any, kind: str = "instance") -> dict[str, Any]:
    return {"id": "s1", "arn": None, "kind": kind, "restore": restore}


@pytest.mark.parametrize(
    ("restore", "org", "status"),
    [
        ([], ORG, "PASS"),
        (["all"], ORG, "FAIL"),
        ([STRANGER], ORG, "FAIL"),
        ([MEMBER], ORG, "PASS"),
        ([STRANGER], DENIED, "ERROR"),
        (SourceError("AccessDenied", ""), ORG, "ERROR"),
    ],
)
def test_an_rds_snapshot_public_or_shared_outside_fails(restore: Any, org: dict[str, Any], status: str) -> None:
    for kind in ("instance", "cluster"):
        data = {"db_snapshots": [_rds_snapshot(restore, kind)], "organization": org}
        assert [s for _, s, _ in _run("rds-snapshot-shared", data)] == [status]


def _db(**fields: Any) -> dict[str, Any]:
    return {"DBInstanceIdentifier": "db1", "Engine": "postgres"} | fields


@pytest.mark.parametrize(
    ("check_id", "db", "status"),
    [
        ("rds-instance-public", _db(PubliclyAccessible=True), "FAIL"),
        ("rds-instance-public", _db(PubliclyAccessible=False), "PASS"),
        ("rds-instance-public", _db(), "ERROR"),
        ("rds-instance-storage-unencrypted", _db(StorageEncrypted=False), "FAIL"),
        ("rds-instance-storage-unencrypted", _db(StorageEncrypted=True), "PASS"),
        ("rds-instance-storage-unencrypted", _db(StorageEncrypted="unknown"), "ERROR"),
        ("rds-instance-backups-off", _db(BackupRetentionPeriod=0), "FAIL"),
        ("rds-instance-backups-off", _db(BackupRetentionPeriod=7), "PASS"),
        ("rds-instance-backups-off", _db(), "ERROR"),
        ("rds-instance-backups-off", _db(BackupRetentionPeriod=True), "ERROR"),
        ("rds-instance-backups-off", _db(Engine="aurora-postgresql", DBClusterIdentifier="c1"), "PASS"),
    ],
)
def test_rds_instance_settings(check_id: str, db: dict[str, Any], status: str) -> None:
    assert [s for _, s, _ in _run(check_id, {"db_instances": [db]})] == [status]


def test_trusted_accounts_are_twelve_digit_ids() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="trusted_accounts"):
        ResourceAuditInput.model_validate({"trusted_accounts": ["12345"]})
