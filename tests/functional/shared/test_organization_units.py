"""Units from AWS Organizations under in-process moto: nested OUs, exclusions, states, pages, one listing per run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from shared.aws import Clients
from shared.errors import RunFailed
from shared.inputs import TaskSettings
from shared.runner import Task, execute
from shared.units import resolve_units
from tests.faults import CallLog, ErrorOn, _Raw
from tests.functional.shared import organization
from tests.functional.shared.organization import MANAGEMENT, ROLE
from tests.helpers import REGION


class MemberSettings(TaskSettings):
    """The settings of a task that works in member accounts (as snapshot rotation does)."""

    works_in_member_accounts: ClassVar[bool] = True


NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
COUNT = Task(name="count", params_model=MemberSettings, work=lambda params, unit, result, ctx: result.count("seen"))


@pytest.fixture
def org(aws: None) -> organization.Organization:
    return organization.create()


def session_with(log: CallLog | None = None) -> boto3.Session:
    session = boto3.Session()
    if log is not None:
        log.attach(session)
    return session


def units_of(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(u["account"], u["region"]) for u in report["units"]}


def assumed(log: CallLog) -> list[tuple[str, str | None]]:
    return sorted((p["RoleArn"], p.get("ExternalId")) for svc, op, p in log.calls if op == "AssumeRole")


def test_include_ous_are_worked_in_with_their_nested_ous_without_the_excluded_and_closed_accounts(
    org: organization.Organization,
) -> None:
    log = CallLog()
    event = {
        "regions": [REGION, "us-east-1"],
        "accounts": {
            "organization": {
                "include_ous": [org.ous["workloads"]],
                "exclude_accounts": [org.accounts["dev-a"]],
                "external_id": "ext-1234",
            }
        },
    }
    report = execute(COUNT, event, clients=Clients(session_with(log)), clock=lambda: NOW)

    expected = org.ids("platform", "prod-a", "prod-b")  # prod-closed is SUSPENDED; sandbox and management in root
    assert units_of(report) == {(a, r) for a in expected for r in (REGION, "us-east-1")}
    assert report["status"] == "succeeded"
    assert assumed(log) == [(f"arn:aws:iam::{a}:role/{ROLE}", "ext-1234") for a in expected]


def test_the_whole_organization_includes_the_management_account_with_the_functions_own_credentials(
    org: organization.Organization,
) -> None:
    log = CallLog()
    event = {"regions": [REGION], "accounts": {"organization": {"role": "custom-member"}}}
    report = execute(COUNT, event, clients=Clients(session_with(log)), clock=lambda: NOW)

    active = org.ids("management", "sandbox", "platform", "prod-a", "prod-b", "dev-a")
    assert units_of(report) == {(a, REGION) for a in active}
    # the management account is the credentials' own: no role is assumed there
    members = [a for a in active if a != MANAGEMENT]
    assert assumed(log) == [(f"arn:aws:iam::{a}:role/custom-member", None) for a in members]


def test_an_account_whose_role_cannot_be_assumed_is_that_accounts_failure_and_the_others_go_on(
    org: organization.Organization,
) -> None:
    session = session_with()
    refused = org.accounts["prod-b"]

    def refuse(params: dict[str, str], **_: object) -> None:
        if f":{refused}:" in params["RoleArn"]:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not trusted"}}, "AssumeRole")

    session.events.register("provide-client-params.sts.AssumeRole", refuse)
    event = {"regions": [REGION], "accounts": {"organization": {"include_ous": [org.ous["prod"]]}}}
    with pytest.raises(RunFailed) as failed:
        execute(COUNT, event, clients=Clients(session), clock=lambda: NOW)

    units = {(u["account"], u["region"]): u for u in failed.value.report["units"]}
    assert set(units) == {(org.accounts["prod-a"], REGION), (refused, "*")}
    assert units[(refused, "*")]["failures"][0]["error_code"] == "AccessDenied"
    assert units[(org.accounts["prod-a"], REGION)]["counts"] == {"seen": 1}


def test_all_regions_are_each_member_accounts_enabled_regions(org: organization.Organization) -> None:
    event = {"regions": ["all"], "accounts": {"organization": {"include_ous": [org.ous["prod"]]}}}
    report = execute(COUNT, event, clients=Clients(session_with()), clock=lambda: NOW)

    members = org.ids("prod-a", "prod-b")
    listed = sorted(
        r["RegionName"] for r in organization.member_session(members[0]).client("ec2").describe_regions()["Regions"]
    )
    # moto lists the regions of every partition; AWS (and so the run) only the credentials' partition's
    regions = [r for r in listed if not r.startswith(("cn-", "us-gov-"))]
    assert REGION in regions
    assert len(regions) < len(listed)
    assert units_of(report) == {(a, r) for a in members for r in regions}


def test_the_organization_is_listed_once_per_run(org: organization.Organization) -> None:
    log = CallLog()
    clients = Clients(session_with(log))
    settings = MemberSettings.model_validate(
        {"regions": [REGION, "us-east-1", "eu-central-1"], "accounts": {"organization": {}}}
    )
    first, _ = resolve_units(settings, clients)
    again, _ = resolve_units(settings, clients)

    assert len(first) == 6 * 3
    assert [u.label for u in again] == [u.label for u in first]
    assert log.operations("organizations") == {"ListAccounts": 1}


def test_a_failed_listing_fails_the_run_before_any_unit(org: organization.Organization) -> None:
    session = session_with()
    ErrorOn(lambda op, _: op == "ListAccounts", "AccessDeniedException").attach(session)
    with pytest.raises(RunFailed) as failed:
        execute(COUNT, {"accounts": {"organization": {}}}, clients=Clients(session), clock=lambda: NOW)
    [unit] = failed.value.report["units"]
    assert (unit["account"], unit["region"]) == ("*", "*")
    assert unit["failures"][0]["operation"] == "discover-accounts"
    assert unit["failures"][0]["error_code"] == "AccessDeniedException"


class Pages:
    """Serves an Organizations listing in pages of ``size`` (moto returns everything at once), by the NextToken
    the caller sends; records every token asked for."""

    def __init__(self, operation: str, key: str, items: list[dict[str, Any]], size: int = 2) -> None:
        self.operation, self.key, self.items, self.size = operation, key, items, size
        self.tokens: list[str | None] = []

    def attach(self, session: boto3.Session) -> Pages:
        session.events.register_first(f"before-call.organizations.{self.operation}", self._serve)
        return self

    def _serve(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        token = json.loads(params["body"] or b"{}").get("NextToken")
        self.tokens.append(token)
        start = int(token or 0)
        page: dict[str, Any] = {self.key: self.items[start : start + self.size]}
        if start + self.size < len(self.items):
            page["NextToken"] = str(start + self.size)
        page["ResponseMetadata"] = {"HTTPStatusCode": 200}
        return AWSResponse("", 200, {}, _Raw(b"")), page  # type: ignore[arg-type]


def account(number: int, **state: str) -> dict[str, Any]:
    return {"Id": f"{number:012d}", "Name": f"a{number}", **state}


def test_every_page_is_followed_and_only_active_accounts_are_worked_in(aws: None) -> None:
    listed = [
        account(1, State="ACTIVE", Status="ACTIVE"),
        account(2, State="SUSPENDED", Status="SUSPENDED"),
        account(3, State="PENDING_CLOSURE", Status="PENDING_CLOSURE"),
        account(4, State="ACTIVE"),  # after Organizations retired Status
        account(5, Status="ACTIVE"),  # before State existed
        account(6, State="CLOSED"),
        account(7, State="PENDING_ACTIVATION"),
        account(8, Status="PENDING_CLOSURE"),
        account(9, State="ACTIVE"),
    ]
    session = session_with()
    pages = Pages("ListAccounts", "Accounts", listed).attach(session)
    settings = MemberSettings.model_validate({"regions": [REGION], "accounts": {"organization": {}}})
    units, failed = resolve_units(settings, Clients(session))

    assert pages.tokens == [None, "2", "4", "6", "8"]
    assert sorted(u.account for u in units) == [f"{n:012d}" for n in (1, 4, 5, 9)]
    assert failed == []


def test_an_account_of_unknown_state_is_a_failed_unit_never_worked_in(aws: None) -> None:
    session = session_with()
    Pages("ListAccounts", "Accounts", [account(1, State="ACTIVE"), account(2), account(3, State="DORMANT")]).attach(
        session
    )
    settings = MemberSettings.model_validate({"regions": [REGION], "accounts": {"organization": {}}})
    units, failed = resolve_units(settings, Clients(session))

    assert [u.account for u in units] == ["000000000001"]
    assert [(f.account, f.region, f.failures[0].operation) for f in failed] == [
        ("000000000002", "*", "account-state"),
        ("000000000003", "*", "account-state"),
    ]
    assert "'DORMANT'" in failed[1].failures[0].message


def test_nested_ou_listings_are_followed_page_by_page(aws: None) -> None:
    session = session_with()
    children = Pages(
        "ListChildren", "Children", [{"Id": f"ou-ab12-{n:08d}", "Type": "ORGANIZATIONAL_UNIT"} for n in range(3)]
    )
    children.attach(session)
    accounts = Pages("ListAccountsForParent", "Accounts", [account(n, State="ACTIVE") for n in range(1, 6)])
    accounts.attach(session)
    ou = "ou-ab12-parent01"
    settings = MemberSettings.model_validate({"regions": [REGION], "accounts": {"organization": {"include_ous": [ou]}}})
    units, _ = resolve_units(settings, Clients(session))

    # Every OU (the named one and its 3 children, each listing children that are already seen) has its account
    # and child listings followed to their last page; an account listed under several parents is one unit.
    assert sorted(u.account for u in units) == [f"{n:012d}" for n in range(1, 6)]
    assert accounts.tokens == [None, "2", "4"] * 4
    assert children.tokens == [None, "2"] * 4
