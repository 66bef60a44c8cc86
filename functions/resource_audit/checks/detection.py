"""Detection and key management per (account, region): GuardDuty, IAM Access Analyzer, VPC flow logs, KMS keys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from functions.resource_audit.checks.base import (
    CheckEnv,
    Inventory,
    Outcome,
    OutcomeStatus,
    SourceError,
    check,
    parse_time,
    tags_of,
)

DOCS = "https://docs.aws.amazon.com/"


@check(
    id="guardduty-off",
    title="GuardDuty is not enabled in the region",
    category="security",
    severity="high",
    scope="region",
    needs=("guardduty_detectors",),
    looks_at="ListDetectors and GetDetector of each (one a region): a detector with Status ENABLED; a detector whose "
    "status cannot be read is ERROR unless another is enabled",
    remediation="Enable GuardDuty in every region (aws guardduty create-detector --enable), best from a delegated "
    "administrator account for the whole organization, with auto-enable for new accounts.",
    link=DOCS + "guardduty/latest/ug/guardduty_settingup.html",
    prowler=("guardduty_is_enabled",),
)
def guardduty_off(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    detectors = inv["guardduty_detectors"]
    statuses = {d["id"]: d["status"] for d in detectors}
    enabled = [i for i, s in statuses.items() if s == "ENABLED"]
    unknown = [f"{i}: {s}" for i, s in statuses.items() if isinstance(s, SourceError) or s is None]
    status: OutcomeStatus
    if enabled:
        status, evidence = "PASS", f"detector {enabled[0]} enabled"
    elif unknown:
        status, evidence = "ERROR", f"detector status not readable ({'; '.join(unknown)})"
    else:
        status = "FAIL"
        evidence = "no detector" if not statuses else f"detector {', '.join(f'{i} {s}' for i, s in statuses.items())}"
    yield Outcome("guardduty", "region-setting", status, evidence)


EXTERNAL_ACCESS_ANALYZERS = frozenset({"ACCOUNT", "ORGANIZATION"})
"""The analyzer types that find resources shared outside the zone of trust (CIS 1.20); the unused and internal
access analyzers report other things and do not count."""
OTHER_ANALYZERS = frozenset(
    {"ACCOUNT_UNUSED_ACCESS", "ORGANIZATION_UNUSED_ACCESS", "ACCOUNT_INTERNAL_ACCESS", "ORGANIZATION_INTERNAL_ACCESS"}
)
ANALYZER_STATUSES = frozenset({"ACTIVE", "CREATING", "DISABLED", "FAILED"})


@check(
    id="access-analyzer-off",
    title="IAM Access Analyzer (external access) is not active in the region",
    category="security",
    severity="medium",
    scope="region",
    needs=("access_analyzers",),
    looks_at="ListAnalyzers (one paginated listing a region): an analyzer of type ACCOUNT or ORGANIZATION with "
    "status ACTIVE; an analyzer whose type or status is missing or unknown is ERROR unless another one is active",
    remediation="Create an external access analyzer in every region (aws accessanalyzer create-analyzer "
    "--analyzer-name external --type ACCOUNT), or one of type ORGANIZATION from the delegated administrator "
    "account, and review its findings.",
    link=DOCS + "IAM/latest/UserGuide/access-analyzer-getting-started.html",
    cis=("1.20",),
    prowler=("accessanalyzer_enabled",),
)
def access_analyzer_off(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    active, inactive, unknown = [], [], []
    for a in inv["access_analyzers"]:
        name, kind, state = a.get("name") or a.get("arn"), a.get("type"), a.get("status")
        if kind not in EXTERNAL_ACCESS_ANALYZERS | OTHER_ANALYZERS or state not in ANALYZER_STATUSES:
            unknown.append(f"{name}: type {kind}, status {state}")
        elif kind in EXTERNAL_ACCESS_ANALYZERS and state == "ACTIVE":
            active.append(f"{name} ({kind})")
        else:
            inactive.append(f"{name} {kind} {state}")
    status: OutcomeStatus
    if active:
        status, evidence = "PASS", f"analyzer {active[0]} active"
    elif unknown:
        status, evidence = "ERROR", f"analyzer not readable ({'; '.join(unknown)})"
    else:
        status = "FAIL"
        evidence = "no analyzer" if not inactive else f"no active external access analyzer: {', '.join(inactive)}"
    yield Outcome("access-analyzer", "region-setting", status, evidence)


@check(
    id="vpc-flow-logs-off",
    title="VPC has no active flow log",
    category="security",
    severity="medium",
    scope="region",
    needs=("vpcs", "flow_logs"),
    looks_at="DescribeVpcs and DescribeFlowLogs (one listing each): a flow log on the VPC with FlowLogStatus ACTIVE "
    "(subnet or interface flow logs do not cover the whole VPC)",
    remediation="Create a flow log for the VPC (aws ec2 create-flow-logs --resource-type VPC --traffic-type ALL "
    "--log-destination-type s3 ...); S3 with a lifecycle rule is the cheapest destination.",
    link=DOCS + "vpc/latest/userguide/flow-logs.html",
    cis=("3.7",),
    prowler=("vpc_flow_logs_enabled",),
)
def flow_logs_off(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    by_vpc: dict[str, list[dict[str, Any]]] = {}
    for fl in inv["flow_logs"]:
        by_vpc.setdefault(str(fl.get("ResourceId")), []).append(fl)
    for vpc in inv["vpcs"]:
        vid = vpc["VpcId"]
        logs = by_vpc.get(vid, [])
        active = [f.get("FlowLogId") for f in logs if f.get("FlowLogStatus") == "ACTIVE"]
        unread = [f.get("FlowLogId") for f in logs if not f.get("FlowLogStatus")]
        status: OutcomeStatus = "PASS" if active else "ERROR" if unread else "FAIL"
        evidence = (
            f"flow log {active[0]} active"
            if active
            else f"flow log status not reported ({', '.join(map(str, unread))})"
            if unread
            else "no active flow log"
        )
        yield Outcome(vid, "vpc", status, evidence, arn=inv.arn("ec2", f"vpc/{vid}"), tags=tags_of(vpc.get("Tags")))


def rotatable(meta: dict[str, Any]) -> bool:
    """Whether KMS can rotate the key automatically: an enabled symmetric customer managed key whose key material
    KMS made (disabled keys and keys pending deletion cannot; asymmetric, HMAC, imported and custom key store keys
    never can)."""
    return (
        meta.get("KeyManager", "CUSTOMER") == "CUSTOMER"
        and meta.get("KeyState") == "Enabled"
        and meta.get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
        and meta.get("Origin", "AWS_KMS") == "AWS_KMS"
    )


def _key(inv: Inventory, key: dict[str, Any], status: OutcomeStatus, evidence: str) -> Outcome:
    return Outcome(key["KeyId"], "kms-key", status, evidence, arn=key.get("KeyArn"))


def _customer_keys(inv: Inventory) -> Iterator[tuple[dict[str, Any], dict[str, Any] | SourceError]]:
    """Each key that no ``alias/aws/*`` names, with its DescribeKey metadata (or the error of reading it); keys
    whose metadata says AWS manages them are left out."""
    for key in inv["kms_keys"]:
        meta = key.get("meta")
        if key.get("aws_managed") or (isinstance(meta, dict) and meta.get("KeyManager") == "AWS"):
            continue
        yield key, meta if isinstance(meta, (dict, SourceError)) else SourceError("NotRead", "metadata not read")


@check(
    id="kms-key-pending-deletion",
    title="KMS customer managed key is scheduled for deletion",
    category="reliability",
    severity="high",
    scope="region",
    needs=("kms_keys",),
    looks_at="ListKeys, ListAliases (alias/aws/* names the AWS managed keys, not read further) and DescribeKey of "
    "each other key: KeyState PendingDeletion or PendingReplicaDeletion; data encrypted under it is lost once it "
    "is deleted",
    remediation="If anything still uses the key (CloudTrail: Decrypt calls; a CloudWatch alarm on them), cancel the "
    "deletion (aws kms cancel-key-deletion) and disable the key instead; otherwise let it go.",
    link=DOCS + "kms/latest/developerguide/deleting-keys-scheduling-key-deletion.html",
    prowler=("kms_cmk_not_deleted_unintentionally",),
)
def key_pending_deletion(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for key, meta in _customer_keys(inv):
        if isinstance(meta, SourceError):
            yield _key(inv, key, "ERROR", f"could not describe it: {meta}")
            continue
        state = meta.get("KeyState")
        if not state:
            yield _key(inv, key, "ERROR", "KeyState not reported")
        elif state in ("PendingDeletion", "PendingReplicaDeletion"):
            when = parse_time(meta.get("DeletionDate"))
            due = f", deleted on {when:%Y-%m-%d}" if when else ""
            yield _key(inv, key, "FAIL", f"{state}{due}")
        else:
            yield _key(inv, key, "PASS", f"state {state}")


@check(
    id="kms-key-rotation-off",
    title="KMS customer managed key has automatic rotation off",
    category="security",
    severity="medium",
    scope="region",
    needs=("kms_keys",),
    looks_at="DescribeKey and GetKeyRotationStatus of each enabled symmetric customer managed key with key material "
    "from KMS (asymmetric, HMAC, imported and custom key store keys cannot rotate automatically and are not judged)",
    remediation="Turn on automatic rotation (aws kms enable-key-rotation --key-id ...; yearly by default, 90 to 2560 "
    "days with --rotation-period-in-days); old key versions stay available for decryption.",
    link=DOCS + "kms/latest/developerguide/rotate-keys.html",
    cis=("3.6",),
    prowler=("kms_cmk_rotation_enabled",),
)
def key_rotation_off(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for key, meta in _customer_keys(inv):
        if isinstance(meta, SourceError):
            yield _key(inv, key, "ERROR", f"could not describe it: {meta}")
            continue
        if not rotatable(meta):
            continue
        rotation = key.get("rotation")
        if isinstance(rotation, SourceError) or not isinstance(rotation, bool):
            yield _key(inv, key, "ERROR", f"rotation status not readable ({rotation})")
        else:
            yield _key(inv, key, "PASS" if rotation else "FAIL", "rotation on" if rotation else "rotation off")
