"""What a fanned-out audit carries between its invocations (docs/scaling.md): the run-wide reads the dispatcher
makes once (``prepare``) and each unit adopts (``adopt``), and what each unit keeps of its evaluations with its result
(``keep``) for the worker that closes the run to build the one report from (``restore``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from functions.resource_audit import inventory
from functions.resource_audit.checks.base import SourceError
from functions.resource_audit.findings import Finding
from functions.resource_audit.models import ResourceAuditInput
from functions.resource_audit.plan import Evaluation, enabled_checks, sources_needed
from shared.aws import Clients
from shared.observability import logger
from shared.runner import RunContext
from shared.units import Unit

STATE_KEY = "resource-audit"
"""The prefix of the audit's entries in a run's ``RunContext.state``."""


def organization(ctx: RunContext) -> frozenset[str] | SourceError:
    """The organization's account ids, listed once per run with the run's own credentials (the management or a
    delegated administrator account can list them); no organization is an empty one; an error is returned, not
    raised, so that only a share with an account of unknown membership is ERROR."""
    with ctx.lock:
        key = f"{STATE_KEY}:organization"
        if key not in ctx.state:
            ctx.state[key] = inventory.organization_accounts(ctx.clients)
        found: frozenset[str] | SourceError = ctx.state[key]
        return found


def _organization_json(found: frozenset[str] | SourceError) -> dict[str, Any]:
    if isinstance(found, SourceError):
        return {"error": {"code": found.code, "message": found.message}}
    return {"accounts": sorted(found)}


def prepare(params: ResourceAuditInput, ctx: RunContext) -> dict[str, Any]:
    """A fanned-out run's run-wide reads, once, by the dispatcher: the organization's accounts (Organizations
    allows a few calls a second per account: one listing per unit of a run of 2,000 would be throttled), when an
    enabled check needs them. The price table is not among them: each unit reads it from its S3 cache."""
    if "organization" not in sources_needed(enabled_checks(params), params, "region"):
        return {}
    return {"organization": _organization_json(organization(ctx))}


def adopt(params: ResourceAuditInput, ctx: RunContext, prepared: Any) -> None:
    """A unit worker's context with the dispatcher's reads (a unit of a run without them lists nothing itself
    unless a check needs it: then it lists once, as an inline run does)."""
    org = (prepared or {}).get("organization")
    if org is None:
        return
    error = org.get("error")
    found = SourceError(error["code"], error["message"]) if error else frozenset(org["accounts"])
    with ctx.lock:
        ctx.state[f"{STATE_KEY}:organization"] = found


def keep(params: ResourceAuditInput, unit: Unit, ctx: RunContext) -> dict[str, Any]:
    """What a fanned-out unit found, for the run's report: its evaluations (findings, the check scopes it audited
    cleanly, suppression hits) and the role that reaches its account (for the Security Hub export)."""
    evaluations: list[Evaluation] = ctx.state.get(f"{STATE_KEY}:evaluations", [])
    role = unit.clients.role
    return {
        "account": unit.account,
        "role": {"arn": role[0], "external_id": role[1]} if role else None,
        "evaluations": [
            {
                "findings": [f.model_dump(mode="json") for f in ev.findings],
                "audited": sorted(ev.audited),
                "expired_hits": {str(index): n for index, n in ev.expired_hits.items()},
            }
            for ev in evaluations
        ],
    }


def restore(params: ResourceAuditInput, ctx: RunContext, kept: Mapping[str, list[Any]]) -> None:
    """The closing worker's context with every reported unit's evaluations. A continuation audits its unit again
    from the start, so a unit's last entry is what it found; a unit without one (it never reported) contributes
    nothing, and its check scopes are not audited (unknown in the diff)."""
    evaluations: list[Evaluation] = []
    roles: dict[str, dict[str, Any] | None] = {}
    for entries in kept.values():
        if not entries:
            continue
        last = entries[-1]
        roles.setdefault(last["account"], last["role"])
        for ev in last["evaluations"]:
            evaluations.append(
                Evaluation(
                    findings=[Finding.model_validate(f) for f in ev["findings"]],
                    audited=set(ev["audited"]),
                    expired_hits=Counter({int(index): n for index, n in ev["expired_hits"].items()}),
                )
            )
    ctx.state[f"{STATE_KEY}:evaluations"] = evaluations
    if params.security_hub.enabled and not params.dry_run:
        ctx.state[f"{STATE_KEY}:clients"] = _reach(ctx.clients, roles)


def _reach(base: Clients, roles: Mapping[str, dict[str, Any] | None]) -> dict[str, Clients]:
    """Each account's clients (its role assumed again); an account whose role cannot be assumed is left out, and
    its export fails with the reason that it has no credentials."""
    found: dict[str, Clients] = {}
    for account, role in sorted(roles.items()):
        try:
            found[account] = base.assume(role["arn"], external_id=role["external_id"]) if role else base
        except Exception:  # noqa: BLE001 - the account's Security Hub export fails, the others go on
            logger.exception("account unreachable for the export", account=account)
    return found
