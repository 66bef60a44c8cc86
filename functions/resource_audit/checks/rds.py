"""RDS checks, per (account, region): instances from one DescribeDBInstances, manual snapshots with who may
restore them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from functions.resource_audit.checks.base import CheckEnv, Inventory, Outcome, OutcomeStatus, SourceError, check, flag
from functions.resource_audit.checks.sharing import outside_accounts

RDS_DOCS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/"


def _db(inv: Inventory, db: dict[str, Any], status: OutcomeStatus, evidence: str) -> Outcome:
    name = db["DBInstanceIdentifier"]
    return Outcome(
        resource=name,
        resource_type="db-instance",
        status=status,
        evidence=evidence,
        arn=db.get("DBInstanceArn") or inv.arn("rds", f"db:{name}"),
        tags={t["Key"]: t.get("Value", "") for t in db.get("TagList") or []},
    )


def _flagged(inv: Inventory, field: str, bad: bool, said: dict[bool, str]) -> Iterator[Outcome]:
    for db in inv["db_instances"]:
        value = flag(db.get(field))
        if value is None:
            yield _db(inv, db, "ERROR", f"{field} not reported ({db.get(field)!r})")
        else:
            yield _db(inv, db, "FAIL" if value is bad else "PASS", said[value])


@check(
    id="rds-instance-public",
    title="RDS instance is publicly accessible",
    category="security",
    severity="high",
    scope="region",
    needs=("db_instances",),
    looks_at="DescribeDBInstances: PubliclyAccessible (its endpoint resolves to a public address; whether it answers "
    "also depends on its security groups, see ec2-sg-open-database-ports)",
    remediation="Modify the instance with --no-publicly-accessible (the endpoint then resolves to its private "
    "address), keep it in private subnets, and reach it from the application's security group only.",
    link=RDS_DOCS + "USER_VPC.WorkingWithRDSInstanceinaVPC.html",
    cis=("2.3.3",),
    prowler=("rds_instance_no_public_access",),
)
def instance_public(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    yield from _flagged(inv, "PubliclyAccessible", True, {True: "publicly accessible", False: "private"})


@check(
    id="rds-instance-storage-unencrypted",
    title="RDS instance storage is not encrypted",
    category="security",
    severity="high",
    scope="region",
    needs=("db_instances",),
    looks_at="DescribeDBInstances: StorageEncrypted",
    remediation="Encryption cannot be turned on in place: snapshot the instance, copy the snapshot with a KMS key, "
    "restore the copy and switch the application to it.",
    link=RDS_DOCS + "Overview.Encryption.html",
    cis=("2.3.1",),
    prowler=("rds_instance_storage_encrypted",),
)
def instance_unencrypted(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    yield from _flagged(inv, "StorageEncrypted", False, {True: "storage encrypted", False: "storage not encrypted"})


@check(
    id="rds-instance-backups-off",
    title="RDS instance has automated backups turned off",
    category="reliability",
    severity="medium",
    scope="region",
    needs=("db_instances",),
    looks_at="DescribeDBInstances: BackupRetentionPeriod 0 (Aurora instances are backed up with their cluster, "
    "always at least one day)",
    remediation="Set a backup retention period of 7 days or more (modify-db-instance --backup-retention-period 7); "
    "it also enables point-in-time recovery.",
    link=RDS_DOCS + "USER_WorkingWithAutomatedBackups.html",
    prowler=("rds_instance_backup_enabled",),
)
def instance_backups_off(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for db in inv["db_instances"]:
        if db.get("DBClusterIdentifier") and str(db.get("Engine", "")).startswith("aurora"):
            yield _db(inv, db, "PASS", f"backed up with its Aurora cluster {db['DBClusterIdentifier']}")
            continue
        days = db.get("BackupRetentionPeriod")
        if not isinstance(days, int) or isinstance(days, bool):
            yield _db(inv, db, "ERROR", f"BackupRetentionPeriod not reported ({days!r})")
        elif days == 0:
            yield _db(inv, db, "FAIL", "automated backups off (retention 0 days)")
        else:
            yield _db(inv, db, "PASS", f"backups kept {days} days")


@check(
    id="rds-snapshot-shared",
    title="RDS snapshot is public or shared outside the organization",
    category="security",
    severity="critical",
    scope="region",
    needs=("db_snapshots", "organization"),
    looks_at="DescribeDBSnapshots and DescribeDBClusterSnapshots (manual), and each one's restore attribute "
    "(DescribeDB[Cluster]SnapshotAttributes): 'all', or an account that is not in the organization "
    "(Organizations ListAccounts), not audited by this run and not in trusted_accounts; an account whose "
    "membership cannot be known is ERROR",
    remediation="Remove 'all' or the account from the snapshot's restore attribute (modify-db-snapshot-attribute "
    "--attribute-name restore --values-to-remove ...); share encrypted snapshots only, with the accounts that "
    "need them, or list a partner's account in trusted_accounts.",
    link=RDS_DOCS + "USER_ShareSnapshot.html",
    prowler=("rds_snapshots_public_access",),
)
def snapshot_shared(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for snap in inv["db_snapshots"]:
        restore = snap["restore"]
        kind = "db-cluster-snapshot" if snap["kind"] == "cluster" else "db-snapshot"
        arn = snap.get("arn") or inv.arn(
            "rds", f"{'cluster-snapshot' if snap['kind'] == 'cluster' else 'snapshot'}:{snap['id']}"
        )
        if isinstance(restore, SourceError):
            yield Outcome(snap["id"], kind, "ERROR", f"could not read who may restore it: {restore}", arn=arn)
            continue
        status, evidence = outside_accounts(inv, env, restore)
        yield Outcome(snap["id"], kind, status, evidence, arn=arn)
