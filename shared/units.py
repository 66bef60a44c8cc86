"""Runs are made of (account, region) units, worked on in parallel with bounded concurrency.

Each unit is independent: a fanned-out run (:mod:`shared.fanout`, one SQS message per unit) calls ``work`` for one unit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import botocore

from shared.aws import Clients, enabled_regions, role_arn_for
from shared.clock import TimeBudget
from shared.errors import InputError
from shared.inputs import OrganizationAccounts, OrganizationSpec, TaskSettings
from shared.observability import logger
from shared.organizations import KNOWN_STATES, discover
from shared.partitions import partition_of
from shared.report import UnitResult


@dataclass(frozen=True)
class Unit:
    """One account and region, with the clients that reach them."""

    account: str
    region: str
    clients: Clients = field(compare=False, repr=False)

    @property
    def label(self) -> str:
        return f"{self.account}/{self.region}"

    def client(self, service: str) -> object:
        return self.clients.client(service, self.region)


def account_leaders(units: Sequence[Unit]) -> frozenset[str]:
    """The first unit (``account/region``) of each account in the run's unit order: the one that also does the
    account's account-wide work. Derived from the order alone, so every worker of a fanned-out run agrees."""
    first: dict[str, str] = {}
    for unit in units:
        first.setdefault(unit.account, unit.label)
    return frozenset(first.values())


def resolve_units(settings: TaskSettings, base: Clients) -> tuple[list[Unit], list[UnitResult]]:
    """The units of a run, and a failed result for each account that could not be reached.

    Accounts come from ``settings.accounts`` (AssumeRole), from the organization (:func:`organization_targets`)
    or are the current one; regions from ``settings.regions``, ``['all']`` meaning every enabled region of each
    account.
    """
    # STS goes to the configured region, or else to the first region asked for (e.g. the CLI's --region).
    sts_region = settings.regions[0] if settings.regions and settings.regions != ["all"] else None
    _check_partition(settings, base)
    targets: list[tuple[str, Callable[[], Clients]]] = []
    unreachable: list[UnitResult] = []
    partition = partition_of(base.session.region_name or sts_region or "") or "aws"
    if isinstance(settings.accounts, OrganizationAccounts):
        targets, unreachable = organization_targets(settings.accounts.organization, base, sts_region, partition)
    elif settings.accounts:
        for acct in settings.accounts:
            arn = role_arn_for(acct.account_id, acct.role, partition)
            targets.append(
                (
                    acct.account_id,
                    lambda arn=arn, ext=acct.external_id: base.assume(arn, external_id=ext, region=sts_region),  # type: ignore[misc]
                )
            )
    else:
        targets.append(("", lambda: base))

    units: list[Unit] = []
    for account, connect in targets:
        try:
            clients = connect()
            account = account or clients.account_id(sts_region)
            if settings.regions == ["all"]:
                regions = enabled_regions(clients)
            else:
                regions = settings.regions or [clients.default_region]
        except Exception as exc:  # noqa: BLE001 - recorded as this account's failure; the others go on
            result = UnitResult(account=account or "self", region="*", complete=False)
            result.fail("connect", exc, resource=account or None)
            logger.error("account unreachable", account=account, error=str(exc))
            unreachable.append(result)
            continue
        for region in regions:
            if partition_of(region) is None:
                unreachable.append(_unknown_region(account, region))
            else:
                units.append(Unit(account, region, clients))
    return units, unreachable


def organization_targets(
    spec: OrganizationSpec, base: Clients, sts_region: str | None, partition: str
) -> tuple[list[tuple[str, Callable[[], Clients]]], list[UnitResult]]:
    """The organization's ACTIVE accounts (listed once per run, see :func:`shared.organizations.discover`), each
    reached through ``spec.role``; and a failed result if discovery failed, or per account of unknown state.

    The account of the function's own credentials (the management account, or the delegated administrator),
    when discovery lists it, is worked in with those credentials: the function's role already holds the task's
    permissions there, and a StackSet does not deploy the member role to the management account.
    """
    try:
        found = base.once(
            "organization:" + spec.model_dump_json(include={"include_ous", "exclude_accounts"}),
            lambda: discover(spec, base.client("organizations", sts_region)),
        )
        own = base.account_id(sts_region)
    except Exception as exc:  # noqa: BLE001 - the run's failure: no unit is known, and the run fails at the end
        logger.exception("organization accounts not listed")
        failed = UnitResult(account="*", region="*", complete=False)
        failed.fail("discover-accounts", exc, resource="organization")
        return [], [failed]
    logger.info(
        "organization accounts discovered",
        accounts=len(found.accounts),
        excluded=found.excluded,
        unknown_state=[m.account_id for m in found.unknown],
    )
    unknown = []
    for member in found.unknown:
        result = UnitResult(account=member.account_id, region="*", complete=False)
        result.fail(
            "account-state",
            f"Organizations lists account {member.account_id} with state {member.state!r}, not one of "
            f"{sorted(KNOWN_STATES)}: not worked in",
            resource=member.account_id,
        )
        unknown.append(result)
    targets: list[tuple[str, Callable[[], Clients]]] = []
    for member in found.accounts:
        if member.account_id == own:
            targets.append((own, lambda: base))
            continue
        arn = role_arn_for(member.account_id, spec.role, partition)
        targets.append(
            (
                member.account_id,
                lambda arn=arn: base.assume(arn, external_id=spec.external_id, region=sts_region),  # type: ignore[misc]
            )
        )
    return targets, unknown


def _check_partition(settings: TaskSettings, base: Clients) -> None:
    """Regions asked for must be in the partition of the credentials' region: one is refused before any call."""
    home = base.session.region_name
    if not home or not settings.regions or settings.regions == ["all"]:
        return
    theirs, ours = partition_of(settings.regions[0]), partition_of(home)
    if ours is not None and theirs != ours:
        raise InputError(
            f"regions: {settings.regions[0]} is in partition {theirs}, but these credentials are for "
            f"{home} in partition {ours}: run in {theirs} with credentials (and a region) of that partition"
        )


def _unknown_region(account: str, region: str) -> UnitResult:
    """An enabled region (DescribeRegions) that botocore has no data for: a failed unit, never worked in."""
    result = UnitResult(account=account, region=region, complete=False)
    result.fail(
        "region",
        f"region {region} is enabled in the account but botocore {botocore.__version__} does not know it: "
        "upgrade botocore to work there",
        resource=region,
    )
    logger.error("region unknown to botocore", account=account, region=region)
    return result


def run_units(
    units: Sequence[Unit],
    work: Callable[[Unit, UnitResult], None],
    *,
    max_workers: int,
    budget: TimeBudget,
) -> list[UnitResult]:
    """Run ``work`` for every unit, at most ``max_workers`` at a time.

    An exception escaping ``work`` is recorded as that unit's failure and the other units go on. Units not
    started because the time budget ran out are returned as incomplete.
    """

    def one(unit: Unit) -> UnitResult:
        result = UnitResult(account=unit.account, region=unit.region)
        if budget.exhausted():
            result.complete = False
            return result
        try:
            work(unit, result)
        except Exception as exc:  # noqa: BLE001 - recorded as this unit's failure; the run fails at the end
            logger.exception("unit failed", unit=unit.label)
            result.fail("unit", exc, resource=unit.label)
            result.complete = False
        return result

    if not units:
        return []
    with ThreadPoolExecutor(max_workers=min(max_workers, len(units)), thread_name_prefix="unit") as pool:
        return list(pool.map(one, units))
