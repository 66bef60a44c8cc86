"""``accounts: {"organization": ...}``: the input's rules, and which listed accounts a run works in."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import InputError
from shared.inputs import MAX_ACCOUNTS, MAX_OUS, OrganizationAccounts, TaskSettings, parse_input
from shared.organizations import ACTIVE, KNOWN_STATES, Member, select

OU = "ou-ab12-cd34ef56"


def org(**spec: object) -> dict[str, object]:
    return {"accounts": {"organization": spec}}


def test_the_organization_takes_ous_roots_exclusions_a_role_name_and_an_external_id() -> None:
    parsed = parse_input(
        org(include_ous=[OU, "r-ab12"], exclude_accounts=["111111111111"], role="member", external_id="ext-1"),
        TaskSettings,
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
    spec = parse_input(org(), TaskSettings, env={}).accounts
    assert isinstance(spec, OrganizationAccounts)
    assert (spec.organization.include_ous, spec.organization.role) == ([], "devops-tasks-member")


def test_a_list_of_accounts_still_works() -> None:
    parsed = parse_input({"accounts": [{"account_id": "111111111111", "role": "member"}]}, TaskSettings, env={})
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
        parse_input(org(**spec), TaskSettings, env={})
    assert "account_id" not in str(err.value), "the error is about the shape given, not the other one"


def test_an_object_that_is_not_an_organization_is_refused_as_such() -> None:
    with pytest.raises(InputError, match=r"accounts\.organization: Field required"):
        parse_input({"accounts": {"account_id": "111111111111"}}, TaskSettings, env={})


def test_a_list_error_still_names_the_list_item() -> None:
    with pytest.raises(InputError, match=r"accounts\.0\.account_id") as err:
        parse_input({"accounts": [{"account_id": "1", "role": "member"}]}, TaskSettings, env={})
    assert "organization" not in str(err.value)


def test_the_organization_from_the_environment_default() -> None:
    env = {"DEVOPS_TASKS_ACCOUNTS": '{"organization": {"include_ous": ["' + OU + '"]}}'}
    parsed = parse_input({}, TaskSettings, env=env)
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
    spec = parse_input(org(exclude_accounts=excluded), TaskSettings, env={}).accounts
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
