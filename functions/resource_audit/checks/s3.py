"""S3 checks, once per account. Per-bucket reads that failed make that bucket's outcome ERROR."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from functions.resource_audit.checks.base import CheckEnv, Inventory, Outcome, SourceError, check

BPA_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def effective(account: dict[str, Any] | None, bucket: dict[str, Any] | None) -> dict[str, bool]:
    """What S3 enforces on a bucket: each setting is on if the account's or the bucket's configuration has it."""
    return {flag: bool((account or {}).get(flag) or (bucket or {}).get(flag)) for flag in BPA_FLAGS}


CANCELS = {"acl": "IgnorePublicAcls", "policy": "RestrictPublicBuckets"}
"""The setting that makes S3 disregard a public grant of each kind: IgnorePublicAcls ignores public ACLs (bucket
and objects), RestrictPublicBuckets limits a public policy to AWS services and the bucket owner's account.
BlockPublicAcls/BlockPublicPolicy only refuse new public grants; the ones already there still apply."""


def cancels_all(account: dict[str, Any] | None) -> bool:
    """Whether an account-level configuration alone cancels every public grant of every bucket."""
    return all(bool((account or {}).get(flag)) for flag in CANCELS.values())


def _cancelled_by(kind: str, account: dict[str, Any] | None, bucket: dict[str, Any] | None) -> str | None:
    flag = CANCELS[kind]
    if (account or {}).get(flag):
        return f"{flag} (account)"
    if (bucket or {}).get(flag):
        return f"{flag} (bucket)"
    return None


def _bucket(inv: Inventory, b: dict[str, Any], status: str, evidence: str) -> Outcome:
    tags = b.get("tags")
    return Outcome(
        resource=b["Name"],
        resource_type="bucket",
        status=status,  # type: ignore[arg-type]
        evidence=evidence,
        arn=f"arn:{inv.partition}:s3:::{b['Name']}",
        tags=tags if isinstance(tags, dict) else {},
        region=b.get("Region") or None,
    )


def _per_bucket(inv: Inventory, field: str) -> Iterator[tuple[dict[str, Any], Any, Outcome | None]]:
    """Each bucket with its value for ``field``, or an ERROR outcome when reading it failed."""
    for b in inv["buckets"]:
        value = b.get(field)
        if isinstance(value, SourceError):
            yield b, None, _bucket(inv, b, "ERROR", f"could not read it: {value}")
        else:
            yield b, value, None


@check(
    id="s3-account-public-access-block",
    title="S3 Block Public Access is not fully on for the account",
    category="security",
    severity="high",
    scope="account",
    needs=("account_public_access_block",),
    looks_at="S3 Control GetPublicAccessBlock for the account: all four settings on",
    remediation="Turn on all four account-level Block Public Access settings (aws s3control "
    "put-public-access-block); serve public content through CloudFront with origin access control instead.",
)
def account_bpa(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    config = inv["account_public_access_block"]
    off = [flag for flag in BPA_FLAGS if not (config or {}).get(flag)]
    yield Outcome(
        resource=inv.account,
        resource_type="account-setting",
        status="FAIL" if off else "PASS",
        evidence=("off: " + ", ".join(off)) if off else "all four settings on",
    )


@check(
    id="s3-bucket-public",
    title="S3 bucket is public (a public ACL or policy that Block Public Access does not cancel)",
    category="security",
    severity="critical",
    scope="account",
    needs=("buckets", "account_public_access_block"),
    looks_at="GetBucketPolicyStatus (IsPublic) and GetBucketAcl (AllUsers / AuthenticatedUsers grants), each "
    "skipped when Block Public Access cancels that kind of grant: IgnorePublicAcls for ACLs, RestrictPublicBuckets "
    "for policies, on the account (then no per-bucket read at all) or the bucket (GetPublicAccessBlock)",
    remediation="Remove the public policy statement or ACL grant, then turn on the bucket's Block Public Access "
    "(better: the account's).",
)
def bucket_public(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    account = inv["account_public_access_block"]
    if cancels_all(account):
        settled = f"settled by account-level Block Public Access ({', '.join(CANCELS.values())})"
        for b in inv["buckets"]:
            yield _bucket(inv, b, "PASS", settled)
        return
    for b, public, error in _per_bucket(inv, "public"):
        if error:
            yield error
            continue
        if not isinstance(public, dict):
            yield _bucket(inv, b, "ERROR", "public access settings not read")
            continue
        block = public.get("block")
        exposed, notes, unknown = [], [], []
        for kind, label in (("policy", "bucket policy"), ("acl", "ACL")):
            cancelled = _cancelled_by(kind, account, block)
            grant = public.get(f"{kind}_public")
            if cancelled:
                notes.append(f"{label} grants cancelled by {cancelled}")
            elif grant is None:
                unknown.append(f"{label} not read")
            elif grant:
                exposed.append(label)
        if exposed:
            yield _bucket(inv, b, "FAIL", "public through its " + " and ".join(exposed))
        elif unknown:
            yield _bucket(inv, b, "ERROR", "; ".join(unknown))
        else:
            yield _bucket(inv, b, "PASS", "; ".join(["not public", *notes]))


@check(
    id="s3-bucket-encryption",
    title="S3 bucket has no default encryption configuration",
    category="security",
    severity="medium",
    scope="account",
    needs=("buckets",),
    looks_at="GetBucketEncryption per bucket",
    remediation="Set default encryption (SSE-S3, or SSE-KMS with a bucket key) with put-bucket-encryption.",
)
def bucket_encryption(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for b, rules, error in _per_bucket(inv, "encryption"):
        if error:
            yield error
        elif rules:
            algos = sorted({r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm", "?") for r in rules})
            yield _bucket(inv, b, "PASS", "default encryption " + ", ".join(algos))
        else:
            yield _bucket(inv, b, "FAIL", "no default encryption configuration")


@check(
    id="s3-bucket-versioning",
    title="S3 bucket versioning is not enabled",
    category="reliability",
    severity="medium",
    scope="account",
    needs=("buckets",),
    looks_at="GetBucketVersioning per bucket",
    remediation="Enable versioning (put-bucket-versioning) and add a lifecycle rule that expires noncurrent "
    "versions so the bill stays bounded.",
)
def bucket_versioning(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for b, status, error in _per_bucket(inv, "versioning"):
        if error:
            yield error
        elif status == "Enabled":
            yield _bucket(inv, b, "PASS", "versioning enabled")
        else:
            yield _bucket(inv, b, "FAIL", f"versioning {status or 'never enabled'}")


@check(
    id="s3-bucket-lifecycle",
    title="S3 bucket has no lifecycle rule",
    category="cost",
    severity="low",
    scope="account",
    needs=("buckets",),
    looks_at="GetBucketLifecycleConfiguration per bucket: at least one enabled rule",
    remediation="Add lifecycle rules: expire temporary data and noncurrent versions, abort incomplete multipart "
    "uploads, move cold data to cheaper storage classes.",
)
def bucket_lifecycle(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for b, rules, error in _per_bucket(inv, "lifecycle"):
        if error:
            yield error
            continue
        enabled = [r for r in rules or [] if r.get("Status") == "Enabled"]
        if enabled:
            yield _bucket(inv, b, "PASS", f"{len(enabled)} enabled rule(s)")
        else:
            yield _bucket(inv, b, "FAIL", "no enabled lifecycle rule")
