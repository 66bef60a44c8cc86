"""Accounts of an AWS Organizations organization: the accounts a run with ``accounts: {"organization": ...}`` works in.

Discovery runs with the function's own credentials, which must be those of the organization's management account
or of a delegated administrator for Organizations (docs/configuration.md). Every listing is paginated (botocore's
paginators follow ``NextToken``); the listing is made once per run and kept on the run's :class:`Clients`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from shared.inputs import OrganizationSpec

ACTIVE = "ACTIVE"


@dataclass(frozen=True)
class Member:
    """An account listed by Organizations, and its state (``State``, or the older ``Status`` field)."""

    account_id: str
    name: str
    state: str | None


@dataclass(frozen=True)
class Discovery:
    """What discovery found: the accounts to work in, and the ones listed but left out, with the reason."""

    accounts: list[Member]
    excluded: dict[str, str] = field(default_factory=dict)
    unknown: list[Member] = field(default_factory=list)
    """Accounts whose state Organizations did not say (or said in a word this code does not know): never worked in,
    and each one is a failed unit of the run, not a silent omission."""


KNOWN_STATES = frozenset({"PENDING_ACTIVATION", "ACTIVE", "SUSPENDED", "PENDING_CLOSURE", "CLOSED"})
"""Organizations' account states (``State``; ``Status`` had ACTIVE, SUSPENDED and PENDING_CLOSURE)."""


def _member(raw: dict[str, Any]) -> Member:
    # Organizations retires the Status field (September 2026) in favour of State, which has more values.
    state = raw.get("State") or raw.get("Status")
    return Member(account_id=str(raw["Id"]), name=str(raw.get("Name", "")), state=str(state) if state else None)


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page[key]


def _under(client: Any, parents: list[str]) -> Iterator[dict[str, Any]]:
    """Every account under ``parents`` (OUs or a root), nested OUs included, breadth first; each OU listed once,
    however many of the named ones hold it."""
    pending, seen = list(dict.fromkeys(parents)), set(parents)
    while pending:
        current = pending.pop(0)
        yield from _pages(client, "list_accounts_for_parent", "Accounts", ParentId=current)
        for child in _pages(client, "list_children", "Children", ParentId=current, ChildType="ORGANIZATIONAL_UNIT"):
            if child["Id"] not in seen:
                seen.add(child["Id"])
                pending.append(child["Id"])


def listed(spec: OrganizationSpec, client: Any) -> list[Member]:
    """The accounts Organizations lists for ``spec``: ListAccounts, or the include_ous' accounts (each once)."""
    raw = _under(client, spec.include_ous) if spec.include_ous else _pages(client, "list_accounts", "Accounts")
    found: dict[str, Member] = {}
    for account in raw:
        member = _member(account)
        found.setdefault(member.account_id, member)
    return list(found.values())


def select(members: list[Member], spec: OrganizationSpec) -> Discovery:
    """ACTIVE accounts not excluded, in account order; the others with why they are left out."""
    excluded: dict[str, str] = {}
    unknown: list[Member] = []
    accounts: list[Member] = []
    exclude = set(spec.exclude_accounts)
    for member in sorted(members, key=lambda m: m.account_id):
        if member.account_id in exclude:
            excluded[member.account_id] = "in exclude_accounts"
        elif member.state not in KNOWN_STATES:
            unknown.append(member)
        elif member.state != ACTIVE:
            excluded[member.account_id] = f"state {member.state}"
        else:
            accounts.append(member)
    return Discovery(accounts=accounts, excluded=excluded, unknown=unknown)


def discover(spec: OrganizationSpec, client: Any) -> Discovery:
    """The organization's accounts to work in for ``spec``, with ``client`` an Organizations client."""
    return select(listed(spec, client), spec)
