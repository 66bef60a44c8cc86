"""S3 checks, once per account. Per-bucket reads that failed make that bucket's outcome ERROR."""

from __future__ import annotations

import json
import re
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
        elif field not in b:
            yield b, None, _bucket(inv, b, "ERROR", f"{field} not read")
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
    link="https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html",
    cis=("2.1.4",),
    prowler=("s3_account_level_public_access_blocks",),
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
    link="https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html",
    cis=("2.1.4",),
    prowler=("s3_bucket_public_access",),
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


def _as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _everyone(principal: object) -> bool:
    if principal == "*":
        return True
    return isinstance(principal, dict) and "*" in _as_list(principal.get("AWS"))


def _every_s3_action(action: object) -> bool:
    return any(str(a).lower() in ("*", "s3:*") for a in _as_list(action))


def _matches(pattern: str, arn: str) -> bool:
    """An IAM resource pattern (``*`` any characters, ``?`` one) against an ARN."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, arn) is not None


def _bucket_and_objects(resource: object, bucket_arn: str) -> bool:
    patterns = [str(r) for r in _as_list(resource)]
    return all(any(_matches(p, arn) for p in patterns) for arn in (bucket_arn, f"{bucket_arn}/any-key"))


def _insecure_only(condition: object) -> bool:
    """The condition is exactly ``aws:SecureTransport`` false (Bool or BoolIfExists): a deny with any other
    condition as well applies to fewer requests than every plain-HTTP one."""
    if not isinstance(condition, dict) or len(condition) != 1:
        return False
    [(operator, clause)] = condition.items()
    if str(operator).lower() not in ("bool", "boolifexists") or not isinstance(clause, dict) or len(clause) != 1:
        return False
    [(key, values)] = clause.items()
    return str(key).lower() == "aws:securetransport" and any(str(v).lower() == "false" for v in _as_list(values))


def statements(policy: object) -> list[dict[str, Any]] | None:
    """The statements of a policy document (JSON text or parsed); None when it has none that can be read."""
    try:
        document = json.loads(policy) if isinstance(policy, str) else policy
    except ValueError:
        return None
    found = document.get("Statement") if isinstance(document, dict) else None
    listed = _as_list(found) if found is not None else []
    if not listed or not all(isinstance(st, dict) for st in listed):
        return None
    return listed


def denies_insecure_transport(policy: list[dict[str, Any]], bucket_arn: str) -> bool:
    """Whether a statement denies every S3 action, to everyone, on the bucket and its objects, when the request
    does not use TLS."""
    return any(
        st.get("Effect") == "Deny"
        and _everyone(st.get("Principal"))
        and _every_s3_action(st.get("Action"))
        and "Resource" in st
        and _bucket_and_objects(st.get("Resource"), bucket_arn)
        and _insecure_only(st.get("Condition"))
        for st in policy
    )


@check(
    id="s3-bucket-secure-transport",
    title="S3 bucket policy does not deny requests over plain HTTP",
    category="security",
    severity="medium",
    scope="account",
    needs=("buckets",),
    looks_at="GetBucketPolicy per bucket: a statement that denies s3:* to every principal on the bucket and its "
    "objects when aws:SecureTransport is false (Bool or BoolIfExists, and no other condition)",
    remediation='Add to the bucket policy: {"Effect": "Deny", "Principal": "*", "Action": "s3:*", '
    '"Resource": ["arn:aws:s3:::BUCKET", "arn:aws:s3:::BUCKET/*"], "Condition": {"Bool": '
    '{"aws:SecureTransport": "false"}}} (check first that no client still uses http://).',
    link="https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html",
    cis=("2.1.1",),
    prowler=("s3_bucket_secure_transport_policy",),
)
def bucket_secure_transport(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for b, policy, error in _per_bucket(inv, "policy"):
        if error:
            yield error
            continue
        if policy is None:
            yield _bucket(inv, b, "FAIL", "no bucket policy: requests over plain HTTP are allowed")
            continue
        found = statements(policy)
        if found is None:
            yield _bucket(inv, b, "ERROR", "bucket policy not readable (no JSON statements)")
        elif denies_insecure_transport(found, f"arn:{inv.partition}:s3:::{b['Name']}"):
            yield _bucket(inv, b, "PASS", "bucket policy denies every request without TLS (aws:SecureTransport)")
        else:
            yield _bucket(inv, b, "FAIL", "bucket policy does not deny requests over plain HTTP")


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
    link="https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html",
    prowler=("s3_bucket_object_versioning",),
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
    link="https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lifecycle-mgmt.html",
    prowler=("s3_bucket_lifecycle_enabled",),
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
