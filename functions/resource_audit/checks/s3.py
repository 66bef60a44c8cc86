"""S3 checks, once per account. Per-bucket reads that failed make that bucket's outcome ERROR."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from functions.resource_audit.checks.base import CheckEnv, Inventory, Outcome, SourceError, check

BPA_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def blocks_all(config: dict[str, Any] | None) -> bool:
    """Whether a Block Public Access configuration turns on all four settings."""
    return bool(config) and all(bool(config.get(flag)) for flag in BPA_FLAGS)  # type: ignore[union-attr]


def effective(account: dict[str, Any] | None, bucket: dict[str, Any] | None) -> dict[str, bool]:
    """What S3 enforces on a bucket: each setting is on if the account's or the bucket's configuration has it."""
    return {flag: bool((account or {}).get(flag) or (bucket or {}).get(flag)) for flag in BPA_FLAGS}


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
    title="S3 bucket is public or can be made public",
    category="security",
    severity="critical",
    scope="account",
    needs=("buckets", "account_public_access_block"),
    looks_at="Skipped per bucket when account-level Block Public Access is fully on; otherwise the bucket's "
    "GetPublicAccessBlock (combined with the account's: a setting on at either level applies), "
    "GetBucketPolicyStatus and GetBucketAcl (AllUsers / AuthenticatedUsers grants)",
    remediation="Remove the public policy statement or ACL grant, then turn on the bucket's Block Public Access "
    "(better: the account's).",
)
def bucket_public(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    account = inv["account_public_access_block"]
    if blocks_all(account):
        for b in inv["buckets"]:
            yield _bucket(inv, b, "PASS", "settled by account-level Block Public Access")
        return
    for b, public, error in _per_bucket(inv, "public"):
        if error:
            yield error
            continue
        if blocks_all(public.get("block")):
            yield _bucket(inv, b, "PASS", "bucket-level Block Public Access fully on")
        elif blocks_all(effective(account, public.get("block"))):
            yield _bucket(inv, b, "PASS", "account and bucket Block Public Access settings together fully on")
        elif public.get("policy_public") or public.get("acl_public"):
            why = [
                w for w, on in (("bucket policy", public.get("policy_public")), ("ACL", public.get("acl_public"))) if on
            ]
            yield _bucket(inv, b, "FAIL", "public through its " + " and ".join(why))
        else:
            yield _bucket(inv, b, "FAIL", "not public now, but no Block Public Access stops it being made public")


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
