"""IAM checks, once per account, from the credential report (no call per user) and the password policy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

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
