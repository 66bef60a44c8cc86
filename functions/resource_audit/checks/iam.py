"""IAM checks, once per account, from the credential report (no call per user) and the password policy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from functions.resource_audit.checks.base import (
    CheckEnv,
    Inventory,
    Outcome,
    OutcomeStatus,
    age_days,
    check,
    flag,
    parse_time,
)

ROOT = "<root_account>"
NEVER = ("N/A", "no_information", "not_supported", "")


def _when(value: str | None) -> datetime | None:
    """A date of the report; None when it says there is none (``N/A``...), is empty, or cannot be read."""
    if value is None or value in NEVER:
        return None
    return parse_time(value)


def _user(row: dict[str, str], status: str, evidence: str) -> Outcome:
    return Outcome(
        resource=row["user"],
        resource_type="iam-user",
        status=status,  # type: ignore[arg-type]
        evidence=evidence,
        arn=row.get("arn"),
    )


def _users(inv: Inventory) -> list[dict[str, str]]:
    return [r for r in inv["credential_report"] if r.get("user") != ROOT]


def _flag(row: dict[str, str], column: str) -> bool | None:
    """A ``true``/``false`` column; None (not reported) for anything else."""
    return flag(row.get(column))


@check(
    id="iam-user-console-no-mfa",
    title="IAM user with a console password has no MFA",
    category="security",
    severity="high",
    scope="account",
    needs=("credential_report",),
    looks_at="Credential report: password_enabled=true and mfa_active=false",
    remediation="Have the user register an MFA device (or remove the console password); enforce MFA with an "
    "IAM policy condition aws:MultiFactorAuthPresent, or move people to IAM Identity Center.",
    link="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_enable_virtual.html",
    cis=("1.10",),
    prowler=("iam_user_mfa_enabled_console_access",),
)
def console_no_mfa(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for row in _users(inv):
        password, mfa = _flag(row, "password_enabled"), _flag(row, "mfa_active")
        if password is None:
            yield _user(row, "ERROR", f"password_enabled not readable ({row.get('password_enabled')!r})")
        elif not password:
            yield _user(row, "PASS", "no console password")
        elif mfa is None:
            yield _user(row, "ERROR", f"console password; mfa_active not readable ({row.get('mfa_active')!r})")
        elif mfa:
            yield _user(row, "PASS", "console password with MFA")
        else:
            yield _user(row, "FAIL", "console password without MFA")


def _active_keys(row: dict[str, str]) -> Iterator[tuple[int, dict[str, str] | None]]:
    """The user's active keys (1, 2) with their dates; None instead of the dates when the active flag is
    unreadable (the key may be active)."""
    for n in (1, 2):
        active = _flag(row, f"access_key_{n}_active")
        if active is None:
            yield n, None
        elif active:
            yield (
                n,
                {
                    "rotated": row.get(f"access_key_{n}_last_rotated", ""),
                    "used": row.get(f"access_key_{n}_last_used_date", ""),
                },
            )


def _verdict(row: dict[str, str], bad: list[str], unknown: list[str], limit: int, good: str) -> Outcome:
    """FAIL when something is certainly past the limit, else ERROR when something could not be read, else PASS."""
    if bad:
        return _user(row, "FAIL", f"{'; '.join(bad)} (limit {limit})")
    if unknown:
        return _user(row, "ERROR", "; ".join(unknown))
    return _user(row, "PASS", good)


@check(
    id="iam-access-key-old",
    title="Active IAM access key older than the threshold",
    category="security",
    severity="medium",
    scope="account",
    needs=("credential_report",),
    looks_at="Credential report: access_key_N_active and access_key_N_last_rotated against "
    "thresholds.access_key_max_age_days",
    remediation="Create a new key, move the workload to it, deactivate then delete the old one; better, use roles.",
    link="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
    cis=("1.14",),
    prowler=("iam_rotate_access_key_90_days",),
)
def access_key_old(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    limit = env.params.thresholds.access_key_max_age_days
    for row in _users(inv):
        old, unknown = [], []
        for n, key in _active_keys(row):
            rotated = None if key is None else _when(key["rotated"])
            if key is None:
                unknown.append(f"key {n}: active flag not readable")
            elif rotated is None:
                unknown.append(f"key {n} is active; its creation date is not readable ({key['rotated']!r})")
            elif age_days(rotated, env.now) > limit:
                old.append(f"key {n} is {age_days(rotated, env.now)} days old")
        yield _verdict(row, old, unknown, limit, "no active key past the limit")


@check(
    id="iam-credentials-unused",
    title="IAM password or access key unused for longer than the threshold",
    category="security",
    severity="medium",
    scope="account",
    needs=("credential_report",),
    looks_at="Credential report: password_last_used and access_key_N_last_used_date (or, if never used, when the "
    "password was set or the key created) against thresholds.credentials_unused_days",
    remediation="Remove the console password or deactivate the key; delete the user if nobody needs it.",
    link="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_finding-unused.html",
    cis=("1.12",),
    prowler=("iam_user_accesskey_unused", "iam_user_console_access_unused"),
)
def credentials_unused(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    limit = env.params.thresholds.credentials_unused_days
    for row in _users(inv):
        stale, unknown = [], []
        password = _flag(row, "password_enabled")
        if password is None:
            unknown.append(f"password_enabled not readable ({row.get('password_enabled')!r})")
        elif password:
            used = (
                _when(row.get("password_last_used"))
                or _when(row.get("password_last_changed"))
                or _when(row.get("user_creation_time"))
            )
            if used is None:
                unknown.append("console password; no readable date of use, change or creation")
            elif age_days(used, env.now) > limit:
                stale.append(f"password unused for {age_days(used, env.now)} days")
        for n, key in _active_keys(row):
            used = None if key is None else _when(key["used"]) or _when(key["rotated"])
            if key is None:
                unknown.append(f"key {n}: active flag not readable")
            elif used is None:
                unknown.append(f"key {n} is active; no readable date of use or creation")
            elif age_days(used, env.now) > limit:
                stale.append(f"key {n} unused for {age_days(used, env.now)} days")
        yield _verdict(row, stale, unknown, limit, "every credential used recently")


def _root(inv: Inventory) -> dict[str, Any]:
    root: dict[str, Any] = inv["root"]
    return root


@check(
    id="iam-root-access-keys",
    title="The root user has access keys",
    category="security",
    severity="critical",
    scope="account",
    needs=("root",),
    looks_at="Credential report <root_account> row (GetAccountSummary AccountAccessKeysPresent where the report "
    "has no root row)",
    remediation="Delete the root user's access keys (sign in as root > Security credentials); use roles instead.",
    link="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
    cis=("1.4",),
    prowler=("iam_no_root_access_key",),
)
def root_keys(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    root = _root(inv)
    keys = root.get("keys")
    status: OutcomeStatus = "ERROR" if keys is None else "FAIL" if keys else "PASS"
    said = {None: "access keys not reported", True: "has active access keys", False: "no access keys"}[keys]
    yield Outcome(
        resource="root",
        resource_type="root-user",
        status=status,
        evidence=f"{said} ({root['source']})",
        arn=f"arn:{inv.partition}:iam::{inv.account}:root",
    )


@check(
    id="iam-root-mfa",
    title="The root user has no MFA",
    category="security",
    severity="critical",
    scope="account",
    needs=("root",),
    looks_at="Credential report <root_account> row mfa_active (GetAccountSummary AccountMFAEnabled where the "
    "report has no root row)",
    remediation="Register an MFA device (preferably hardware or passkey) for the root user.",
    link="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user.html#id_root-user_manage_mfa",
    cis=("1.5",),
    prowler=("iam_root_mfa_enabled",),
)
def root_mfa(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    root = _root(inv)
    mfa = root.get("mfa")
    status: OutcomeStatus = "ERROR" if mfa is None else "PASS" if mfa else "FAIL"
    said = {None: "MFA not reported", True: "MFA enabled", False: "no MFA"}[mfa]
    yield Outcome(
        resource="root",
        resource_type="root-user",
        status=status,
        evidence=f"{said} ({root['source']})",
        arn=f"arn:{inv.partition}:iam::{inv.account}:root",
    )


@check(
    id="iam-password-policy",
    title="IAM password policy is missing or weak",
    category="security",
    severity="medium",
    scope="account",
    needs=("password_policy",),
    looks_at="GetAccountPasswordPolicy: present, MinimumPasswordLength >= thresholds.password_min_length, "
    "PasswordReusePrevention set",
    remediation="aws iam update-account-password-policy --minimum-password-length 14 "
    "--password-reuse-prevention 24 (and the character classes your standard asks for).",
    link="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_passwords_account-policy.html",
    cis=("1.8", "1.9"),
    prowler=("iam_password_policy_minimum_length_14", "iam_password_policy_reuse_24"),
)
def password_policy(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    policy = inv["password_policy"]
    need = env.params.thresholds.password_min_length
    problems = []
    if policy is None:
        problems.append("no password policy")
    else:
        if int(policy.get("MinimumPasswordLength", 0)) < need:
            problems.append(f"minimum length {policy.get('MinimumPasswordLength')} < {need}")
        if not policy.get("PasswordReusePrevention"):
            problems.append("password reuse allowed")
    yield Outcome(
        resource=inv.account,
        resource_type="password-policy",
        status="FAIL" if problems else "PASS",
        evidence="; ".join(problems)
        or f"minimum length {policy and policy.get('MinimumPasswordLength')}, reuse prevention on",
    )


ROOT_USE = ("password_last_used", "access_key_1_last_used_date", "access_key_2_last_used_date")
NOT_USED = ("N/A", "no_information", "not_supported")
"""What the report says for a credential never used (or not since October 2014, or that cannot be used)."""


@check(
    id="iam-root-used-recently",
    title="The root user was used recently",
    category="security",
    severity="high",
    scope="account",
    needs=("credential_report",),
    looks_at="Credential report <root_account> row: password_last_used and access_key_N_last_used_date against "
    "thresholds.root_used_days (90); no root row, or a date that cannot be read, is ERROR",
    remediation="Find out who signed in as root and why (CloudTrail: userIdentity.type Root); do daily work with "
    "IAM Identity Center or roles, keep the root credentials locked away (or centrally managed and removed from "
    "member accounts), and alarm on root sign-ins.",
    link="https://docs.aws.amazon.com/IAM/latest/UserGuide/root-user-best-practices.html",
    cis=("1.7",),
    prowler=("iam_avoid_root_usage",),
)
def root_used(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    limit = env.params.thresholds.root_used_days
    arn = f"arn:{inv.partition}:iam::{inv.account}:root"
    row = next((r for r in inv["credential_report"] if r.get("user") == ROOT), None)
    if row is None:
        yield Outcome("root", "root-user", "ERROR", "the credential report has no <root_account> row", arn=arn)
        return
    used, unknown = [], []
    for column in ROOT_USE:
        value = row.get(column)
        if value in NOT_USED:
            continue
        when = parse_time(value)
        if when is None:
            unknown.append(f"{column} not readable ({value!r})")
        elif age_days(when, env.now) <= limit:
            used.append(f"{column} {when:%Y-%m-%d} ({age_days(when, env.now)} days ago)")
    if used:
        yield Outcome("root", "root-user", "FAIL", f"used within {limit} days: {'; '.join(used)}", arn=arn)
    elif unknown:
        yield Outcome("root", "root-user", "ERROR", "; ".join(unknown), arn=arn)
    else:
        yield Outcome("root", "root-user", "PASS", f"not used in the last {limit} days", arn=arn)


ADMIN_AWS_POLICIES = frozenset({"AdministratorAccess"})
"""The AWS managed policies that allow every action on every resource (their documents are AWS's: not read)."""


def _document(raw: object) -> dict[str, Any]:
    """A policy document as GetAccountAuthorizationDetails gives it: decoded by botocore, or URL-encoded JSON."""
    if isinstance(raw, str):
        raw = json.loads(unquote(raw))
    if not isinstance(raw, dict) or "Statement" not in raw:
        raise ValueError("not a policy document")
    return raw


def _listed(value: object) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants_everything(raw: object) -> list[str]:
    """The statements of a policy that allow ``*`` (every action) on ``*`` (every resource); ValueError when the
    document cannot be read. A condition does not exempt a statement: it still grants everything when it holds."""
    found = []
    for n, st in enumerate(_listed(_document(raw)["Statement"])):
        if not isinstance(st, dict):
            raise TypeError("a statement is not an object")
        if st.get("Effect") != "Allow" or "Action" not in st or "Resource" not in st:
            continue
        if {"*", "*:*"} & set(_listed(st["Action"])) and "*" in _listed(st["Resource"]):
            found.append(
                str(st.get("Sid") or f"statement {n + 1}") + (" (with a condition)" if st.get("Condition") else "")
            )
    return found


KINDS = (
    ("UserDetailList", "user", "UserName", "UserPolicyList"),
    ("GroupDetailList", "group", "GroupName", "GroupPolicyList"),
    ("RoleDetailList", "role", "RoleName", "RolePolicyList"),
)


def _default_documents(details: dict[str, Any]) -> dict[str, object]:
    """Each customer managed policy's ARN -> its default version's document."""
    out: dict[str, object] = {}
    for p in details.get("Policies") or []:
        for v in p.get("PolicyVersionList") or []:
            if v.get("IsDefaultVersion"):
                out[p["Arn"]] = v.get("Document")
    return out


@check(
    id="iam-admin-policy-attached",
    title="IAM user, group or role has a policy allowing * on *",
    category="security",
    severity="critical",
    scope="account",
    needs=("authorization_details",),
    looks_at="GetAccountAuthorizationDetails (users, groups, roles, customer managed policies: one paginated "
    "listing): inline policies, and the default version of attached customer managed policies, with an Allow of "
    "Action * on Resource *; attached AWS managed AdministratorAccess",
    remediation="Replace the policy with one that grants the actions and resources the principal needs (IAM Access "
    "Analyzer can generate one from its CloudTrail activity); keep full administrator access to a few roles "
    "assumed with MFA, break-glass only.",
    link="https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html",
    cis=("1.16",),
    prowler=(
        "iam_aws_attached_policy_no_administrative_privileges",
        "iam_customer_attached_policy_no_administrative_privileges",
        "iam_inline_policy_no_administrative_privileges",
    ),
)
def admin_policy_attached(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    details = inv["authorization_details"]
    managed = _default_documents(details)
    for list_key, kind, name_key, inline_key in KINDS:
        for entity in details.get(list_key) or []:
            name = entity[name_key]
            hits, unknown = [], []
            for pol in entity.get(inline_key) or []:
                try:
                    sids = grants_everything(pol.get("PolicyDocument"))
                except (ValueError, KeyError, TypeError) as exc:
                    unknown.append(f"inline policy {pol.get('PolicyName')} not readable ({exc})")
                    continue
                if sids:
                    hits.append(f"inline policy {pol.get('PolicyName')}: {', '.join(sids)}")
            for att in entity.get("AttachedManagedPolicies") or []:
                arn, pname = str(att.get("PolicyArn", "")), att.get("PolicyName")
                if ":iam::aws:policy/" in arn:
                    if arn.rsplit("/", 1)[-1] in ADMIN_AWS_POLICIES:
                        hits.append(f"AWS managed policy {pname}")
                    continue
                if arn not in managed:
                    unknown.append(f"customer managed policy {arn}: no default version listed")
                    continue
                try:
                    sids = grants_everything(managed[arn])
                except (ValueError, KeyError, TypeError) as exc:
                    unknown.append(f"customer managed policy {pname} not readable ({exc})")
                    continue
                if sids:
                    hits.append(f"customer managed policy {pname}: {', '.join(sids)}")
            status: OutcomeStatus = "FAIL" if hits else "ERROR" if unknown else "PASS"
            evidence = "; ".join(hits or unknown) or "no policy allows * on *"
            yield Outcome(f"{kind}/{name}", f"iam-{kind}", status, evidence, arn=entity.get("Arn"))
