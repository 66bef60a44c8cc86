"""The pure rules of ChatOps: reading the command, who may plan and approve, and the plan's digest."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.chatops import access, commands, plans
from functions.chatops.models import Audience, ChatopsConfig, ChatopsSettings, TaskAccess
from shared.errors import InputError

TASKS = frozenset({"snapshot-rotation", "resource-audit"})
NOBODY: dict[str, frozenset[str]] = {}


def groups(table: dict[str, frozenset[str]]) -> Any:
    return lambda group: table.get(group, frozenset())


# ---- commands -----------------------------------------------------------------------------------------------


def test_plan_reads_the_task_the_policy_and_each_region_once() -> None:
    parsed = commands.parse(
        "plan snapshot-rotation daily --region eu-west-1 --region us-east-1 --region eu-west-1", TASKS
    )
    assert parsed == commands.Command("plan", "snapshot-rotation", "daily", ("eu-west-1", "us-east-1"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("plan", "`plan` needs a task"),
        ("plan nope", "no task `nope` here"),
        ("plan snapshot-rotation a b", "one policy at most"),
        ("plan snapshot-rotation --region", "`--region` needs a region name"),
        ("plan snapshot-rotation --region xx-fake-9", "`--region xx-fake-9`"),
        ("plan snapshot-rotation --force", "unknown option `--force`"),
        ("plan snapshot-rotation Daily!", "is not a policy name"),
        ("report billing", "the one report is `report audit`"),
        ("status now", "`status` takes nothing after it"),
        ("rm -rf /", "unknown command `rm`"),
    ],
)
def test_a_command_that_cannot_run_as_written_is_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(commands.CommandError, match=message.replace("[", r"\[")):
        commands.parse(text, TASKS)


@settings(max_examples=200)
@given(st.text(max_size=80))
def test_any_text_reads_as_a_command_or_a_refusal_never_anything_else(text: str) -> None:
    try:
        parsed = commands.parse(text, TASKS)
    except commands.CommandError as exc:
        refusal = str(exc)
        assert refusal, "a refusal says why"
        return
    assert parsed.verb in ("help", "list", "plan", "report", "status")
    if parsed.verb == "plan":
        assert parsed.task in TASKS


# ---- access -------------------------------------------------------------------------------------------------

users = st.sampled_from(["U0A", "U0B", "U0C", "W0D"])
channels = st.sampled_from(["C0OPS", "C0DEV", None])


@settings(max_examples=200)
@given(user=users, channel=channels, requester=users, four_eyes=st.booleans())
def test_without_an_approve_audience_nobody_approves(
    user: str, channel: str | None, requester: str, four_eyes: bool
) -> None:
    config = ChatopsConfig(four_eyes=four_eyes, access={"snapshot-rotation": TaskAccess(plan=Audience(users=[user]))})
    decision = access.may_approve(config, "snapshot-rotation", user, channel, groups(NOBODY), requested_by=requester)
    assert not decision.allowed


@settings(max_examples=200)
@given(
    user=users,
    channel=channels,
    named=st.lists(users, max_size=4),
    group=st.lists(users, max_size=4),
    only=st.lists(st.sampled_from(["C0OPS", "C0DEV"]), max_size=2),
    requester=users,
)
def test_approval_admits_exactly_the_named_or_grouped_from_the_allowed_channels_and_never_the_requester(
    user: str, channel: str | None, named: list[str], group: list[str], only: list[str], requester: str
) -> None:
    if not (named or group or only):
        return
    audience = Audience(users=named, groups=["S0SRE"] if group else [], channels=only)
    config = ChatopsConfig(four_eyes=True, access={"snapshot-rotation": TaskAccess(approve=audience)})
    table = {"S0SRE": frozenset(group)}
    decision = access.may_approve(config, "snapshot-rotation", user, channel, groups(table), requested_by=requester)
    expected = (
        user != requester and (not only or channel in only) and (not (named or group) or user in named or user in group)
    )
    assert decision.allowed is expected, decision.reason


def test_four_eyes_refuses_the_requester_even_when_named_as_an_approver() -> None:
    config = ChatopsConfig(access={"snapshot-rotation": TaskAccess(approve=Audience(users=["U0A"]))})
    decision = access.may_approve(config, "snapshot-rotation", "U0A", "C0OPS", groups(NOBODY), requested_by="U0A")
    assert decision == access.Decision(False, "four eyes: the person who asked for the plan may not approve it")
    off = config.model_copy(update={"four_eyes": False})
    assert access.may_approve(off, "snapshot-rotation", "U0A", "C0OPS", groups(NOBODY), requested_by="U0A").allowed


def test_an_audience_that_names_no_one_is_refused_as_configuration() -> None:
    with pytest.raises(ValueError, match="names no one"):
        Audience()


def test_settings_name_a_malformed_environment_variable() -> None:
    with pytest.raises(InputError, match="DEVOPS_TASKS_CHATOPS_CONFIG: not JSON"):
        ChatopsSettings.from_env({"DEVOPS_TASKS_CHATOPS_CONFIG": "{", "DEVOPS_TASKS_REPORT_BUCKET": "b"})
    with pytest.raises(InputError, match="signing_secret_parameter"):
        ChatopsSettings.from_env({"DEVOPS_TASKS_REPORT_BUCKET": "b"})


# ---- digest -------------------------------------------------------------------------------------------------

action = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["create", "delete", "copy"]),
        "resource": st.sampled_from([f"snap-{i:04x}" for i in range(12)]),
        "reason": st.text(max_size=20),
        "status": st.sampled_from(["planned", "planned", "skipped"]),
    }
)
reports = st.lists(action, max_size=12).map(
    lambda acts: {"units": [{"account": "123456789012", "region": "eu-west-1", "actions": acts, "counts": {}}]}
)


@settings(max_examples=200)
@given(report=reports, data=st.data())
def test_the_digest_ignores_reasons_and_order_and_sees_any_change_in_what_is_planned(
    report: dict[str, Any], data: st.DataObject
) -> None:
    shuffled = copy.deepcopy(report)
    acts = shuffled["units"][0]["actions"]
    data.draw(st.randoms()).shuffle(acts)
    for a in acts:
        a["reason"] = "older, by another clock"
    assert plans.digest(shuffled) == plans.digest(report)
    changed = copy.deepcopy(report)
    changed["units"][0]["actions"].append(
        {"action": "delete", "resource": "snap-ffff", "reason": "", "status": "planned"}
    )
    assert plans.digest(changed) != plans.digest(report)
    if any(a["status"] == "planned" for a in report["units"][0]["actions"]):
        dropped = copy.deepcopy(report)
        acts = dropped["units"][0]["actions"]
        acts.remove(next(a for a in acts if a["status"] == "planned"))
        assert plans.digest(dropped) != plans.digest(report)


def test_a_report_without_its_actions_has_no_digest() -> None:
    with pytest.raises(ValueError, match="too large"):
        plans.digest({"actions_omitted": True, "units": []})
