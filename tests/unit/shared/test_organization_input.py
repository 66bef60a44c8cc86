"""``accounts: {"organization": ...}``: the input's rules, and which listed accounts a run works in."""

from __future__ import annotations

from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import InputError
from shared.inputs import MAX_ACCOUNTS, MAX_OUS, OrganizationAccounts, TaskSettings, parse_input
from shared.organizations import ACTIVE, KNOWN_STATES, Member, listed, select


class MemberSettings(TaskSettings):
    """The settings of a task that works in member accounts (as snapshot rotation does)."""

    works_in_member_accounts: ClassVar[bool] = True


OU = "ou-ab12-cd34ef56"


def org(**spec: object) -> dict[str, object]:
    return {"accounts": {"organization": spec}}


def test_the_organization_takes_ous_roots_exclusions_a_role_name_and_an_external_id() -> None:
    parsed = parse_input(
        org(include_ous=[OU, "r-ab12"], exclude_accounts=["111111111111"], role="member", external_id="ext-1"),
        MemberSettings,
        env={},
    )
    assert isinstance(parsed.accounts, OrganizationAccounts)
    spec = parsed.accounts.organization
    assert (spec.include_ous, spec.exclude_accounts, spec.role, spec.external_id) == (
        [OU, "r-ab12"],
        ["111111111111"],
        "member",
        "ext-1",
    )


def test_the_defaults_are_every_account_through_the_member_role() -> None:
    spec = parse_input(org(), MemberSettings, env={}).accounts
    assert isinstance(spec, OrganizationAccounts)
    assert (spec.organization.include_ous, spec.organization.role) == ([], "devops-tasks-member")


def test_a_list_of_accounts_still_works() -> None:
    parsed = parse_input({"accounts": [{"account_id": "111111111111", "role": "member"}]}, MemberSettings, env={})
    assert isinstance(parsed.accounts, list)
    assert parsed.accounts[0].account_id == "111111111111"


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"include_ous": ["ou-nope"]}, r"accounts\.organization\.include_ous\.0: String should match"),
        ({"include_ous": ["o-abcdefghij"]}, r"include_ous\.0"),
        ({"exclude_accounts": ["12345"]}, r"exclude_accounts\.0"),
        ({"role": "arn:aws:iam::111111111111:role/member"}, r"organization\.role: .*not an IAM role name"),
        ({"role": "bad role"}, r"organization\.role"),
        ({"external_id": "x"}, r"organization\.external_id"),
        ({"include_ou": [OU]}, r"organization\.include_ou: Extra inputs are not permitted"),
        ({"include_ous": [OU] * (MAX_OUS + 1)}, r"include_ous: List should have at most 100"),
        ({"exclude_accounts": ["111111111111"] * (MAX_ACCOUNTS + 1)}, r"exclude_accounts: List should have at most"),
    ],
)
def test_a_bad_organization_is_refused_naming_the_field(spec: dict[str, object], named: str) -> None:
    with pytest.raises(InputError, match=named) as err:
        parse_input(org(**spec), MemberSettings, env={})
    assert "account_id" not in str(err.value), "the error is about the shape given, not the other one"


def test_an_object_that_is_not_an_organization_is_refused_as_such() -> None:
    with pytest.raises(InputError, match=r"accounts\.organization: Field required"):
        parse_input({"accounts": {"account_id": "111111111111"}}, MemberSettings, env={})


def test_a_list_error_still_names_the_list_item() -> None:
    with pytest.raises(InputError, match=r"accounts\.0\.account_id") as err:
        parse_input({"accounts": [{"account_id": "1", "role": "member"}]}, MemberSettings, env={})
    assert "organization" not in str(err.value)


def test_the_organization_from_the_environment_default() -> None:
    env = {"DEVOPS_TASKS_ACCOUNTS": '{"organization": {"include_ous": ["' + OU + '"]}}'}
    parsed = parse_input({}, MemberSettings, env=env)
    assert isinstance(parsed.accounts, OrganizationAccounts)
    assert parsed.accounts.organization.include_ous == [OU]


STATES = st.one_of(st.none(), st.sampled_from(sorted(KNOWN_STATES)), st.sampled_from(["DORMANT", "active", ""]))
IDS = st.integers(min_value=1, max_value=40).map(lambda n: f"{n:012d}")
MEMBERS = st.lists(
    st.builds(Member, account_id=IDS, name=st.just("a"), state=STATES), max_size=30, unique_by=lambda m: m.account_id
)


@settings(max_examples=200)
@given(members=MEMBERS, excluded=st.lists(IDS, max_size=10))
def test_only_active_listed_accounts_not_excluded_are_worked_in_and_no_other_is_lost(
    members: list[Member], excluded: list[str]
) -> None:
    spec = parse_input(org(exclude_accounts=excluded), MemberSettings, env={}).accounts
    assert isinstance(spec, OrganizationAccounts)
    found = select(members, spec.organization)

    chosen = [m.account_id for m in found.accounts]
    assert chosen == sorted(chosen)
    assert all(m.state == ACTIVE and m.account_id not in excluded for m in found.accounts)
    # every listed account is worked in, left out with a reason, or of unknown state (a failure): never lost
    ids = {m.account_id for m in members}
    assert set(chosen) | set(found.excluded) | {m.account_id for m in found.unknown} == ids
    assert all(m.state not in KNOWN_STATES and m.account_id not in excluded for m in found.unknown)
    assert {a for a, why in found.excluded.items() if why == "in exclude_accounts"} == ids & set(excluded)


class FakeOrganizations:
    """An organization tree answered in pages of ``size`` by botocore-shaped paginators (no AWS, no moto)."""

    def __init__(self, parents: dict[str, str], accounts: dict[str, str], size: int) -> None:
        self.parents, self.accounts, self.size = parents, accounts, size
        self.calls: list[tuple[str, str]] = []

    def get_paginator(self, operation: str) -> FakeOrganizations._Paginator:
        return FakeOrganizations._Paginator(self, operation)

    class _Paginator:
        def __init__(self, org: FakeOrganizations, operation: str) -> None:
            self.org, self.operation = org, operation

        def paginate(self, **kwargs: str) -> list[dict[str, list[dict[str, str]]]]:
            org, parent = self.org, kwargs.get("ParentId", "")
            org.calls.append((self.operation, parent))
            if self.operation == "list_accounts":
                key, items = "Accounts", [{"Id": a, "State": ACTIVE} for a in org.accounts]
            elif self.operation == "list_accounts_for_parent":
                key, items = "Accounts", [{"Id": a, "State": ACTIVE} for a, p in org.accounts.items() if p == parent]
            else:
                assert kwargs["ChildType"] == "ORGANIZATIONAL_UNIT"
                key, items = (
                    "Children",
                    [{"Id": o, "Type": "ORGANIZATIONAL_UNIT"} for o, p in org.parents.items() if p == parent],
                )
            return [{key: items[i : i + org.size]} for i in range(0, max(len(items), 1), org.size)]


@st.composite
def trees(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, str]]:
    """OUs under the root or under earlier OUs (any depth), and accounts under the root or any OU."""
    parents: dict[str, str] = {}
    for n in range(draw(st.integers(0, 8))):
        parents[f"ou-ab12-{n:08d}"] = draw(st.sampled_from(["r-ab12", *parents]))
    holders = ["r-ab12", *parents]
    accounts = {f"{n:012d}": draw(st.sampled_from(holders)) for n in range(draw(st.integers(0, 15)))}
    return parents, accounts


def under(node: str, parents: dict[str, str], holder: str) -> bool:
    while holder != node and holder in parents:
        holder = parents[holder]
    return holder == node


@settings(max_examples=150)
@given(tree=trees(), size=st.integers(1, 4), data=st.data())
def test_the_named_ous_give_every_account_under_them_once_at_any_depth_and_page_size(
    tree: tuple[dict[str, str], dict[str, str]], size: int, data: st.DataObject
) -> None:
    parents, accounts = tree
    named = data.draw(st.lists(st.sampled_from(["r-ab12", *parents]), max_size=3))
    client = FakeOrganizations(parents, accounts, size)
    spec = parse_input(org(include_ous=named), MemberSettings, env={}).accounts
    assert isinstance(spec, OrganizationAccounts)

    found = [m.account_id for m in listed(spec.organization, client)]

    if not named:
        assert sorted(found) == sorted(accounts)
        assert client.calls == [("list_accounts", "")]
        return
    expected = {a for a, holder in accounts.items() if any(under(ou, parents, holder) for ou in named)}
    assert sorted(found) == sorted(expected)
    assert len(found) == len(set(found))
    # each OU's listings are made once however many named OUs hold it
    assert len(client.calls) == len(set(client.calls))
