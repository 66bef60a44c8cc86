"""Resources shared beyond the account, per (account, region): public AMIs, EBS snapshots shared with accounts
outside the organization (RDS snapshots: checks/rds.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from functions.resource_audit.checks.base import (
    CheckEnv,
    Inventory,
    Outcome,
    OutcomeStatus,
    SourceError,
    check,
    flag,
    tags_of,
)


def outside_accounts(inv: Inventory, env: CheckEnv, shared: Iterable[str]) -> tuple[OutcomeStatus, str]:
    """The verdict on a resource shared with ``shared`` (account ids, or ``all``): FAIL when public or shared with
    an account outside the organization; ERROR when an account is neither audited by this run nor trusted and the
    organization's accounts could not be listed (it may be outside); else PASS."""
    shared = sorted(set(shared))
    if "all" in shared:
        return "FAIL", "public: shared with all AWS accounts"
    listed = env.params.accounts if isinstance(env.params.accounts, list) else []
    known = {inv.account, *(a.account_id for a in listed), *env.params.trusted_accounts}
    others = [a for a in shared if a not in known]
    if not others:
        return "PASS", f"shared with {', '.join(shared)} (audited or trusted)" if shared else "not shared"
    org = (inv.data.get("organization") or {}).get("accounts")
    """The organization's account ids, or the SourceError of listing them (kept as data: only a share with an
    account of unknown membership is ERROR)."""
    if isinstance(org, frozenset):
        outside = [a for a in others if a not in org]
        if outside:
            return "FAIL", f"shared with {', '.join(outside)}, outside the organization"
        return "PASS", f"shared within the organization ({', '.join(others)})"
    why = org if isinstance(org, SourceError) else "not listed"
    return "ERROR", (
        f"shared with {', '.join(others)}; the organization's accounts could not be listed ({why}): "
        "list the accounts you trust in trusted_accounts"
    )


@check(
    id="ec2-ami-public",
    title="AMI is public",
    category="security",
    severity="critical",
    scope="region",
    needs=("images",),
    looks_at="DescribeImages (Owners=self, the listing the AMI checks share): Public",
    remediation="Make the AMI private (aws ec2 modify-image-attribute --launch-permission "
    '"Remove=[{Group=all}]"), share it with the accounts or organization that need it, and turn on block public '
    "access for AMIs in the region.",
    link="https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/sharingamis-intro.html",
    prowler=("ec2_ami_public",),
)
def ami_public(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for image in inv["images"]:
        iid = image["ImageId"]
        public = flag(image.get("Public"))
        status = "ERROR" if public is None else "FAIL" if public else "PASS"
        evidence = {None: f"Public not reported ({image.get('Public')!r})", True: "anyone can launch it"}
        yield Outcome(
            resource=iid,
            resource_type="image",
            status=status,  # type: ignore[arg-type]
            evidence=evidence.get(public, "not public"),
            arn=inv.arn("ec2", f"image/{iid}", account=False),
            tags=tags_of(image.get("Tags")),
        )


@check(
    id="ebs-snapshot-shared",
    title="EBS snapshot is shared with an account outside the organization",
    category="security",
    severity="high",
    scope="region",
    needs=("snapshots", "snapshot_permissions", "organization"),
    looks_at="DescribeSnapshotAttribute createVolumePermission per own snapshot (no listing says who a snapshot is "
    "shared with): an account not in the organization (Organizations ListAccounts), not audited by this run and "
    "not in trusted_accounts, or all; an account whose membership cannot be known is ERROR",
    remediation="Remove the account from the snapshot's createVolumePermission (aws ec2 modify-snapshot-attribute "
    "--operation-type remove --user-ids ...), or list a partner's account in trusted_accounts; share encrypted "
    "snapshots with a customer managed key only.",
    link="https://docs.aws.amazon.com/ebs/latest/userguide/ebs-modifying-snapshot-permissions.html",
)
def snapshot_shared(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    perms = inv["snapshot_permissions"]
    for snap in inv["snapshots"]:
        sid = snap["SnapshotId"]
        got = perms.get(sid)
        if isinstance(got, SourceError) or got is None:
            status: OutcomeStatus = "ERROR"
            evidence = f"could not read its createVolumePermission: {got or 'not read'}"
        else:
            who = [p.get("UserId") or p.get("Group") or "?" for p in got]
            status, evidence = outside_accounts(inv, env, who)
        yield Outcome(
            resource=sid,
            resource_type="snapshot",
            status=status,
            evidence=evidence,
            arn=inv.arn("ec2", f"snapshot/{sid}", account=False),
            tags=tags_of(snap.get("Tags")),
        )
