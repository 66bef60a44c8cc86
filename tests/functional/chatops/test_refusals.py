"""Requests that are correctly signed but not allowed: each gets a clear refusal in the ack, starts no lazy
listener and so makes no AWS call beyond reading the signing secret."""

from __future__ import annotations

import json
from datetime import timedelta

from functions.chatops.models import Audience, ChatopsConfig, TaskAccess
from tests.chatops_support import action_body, command_body, url_event
from tests.functional.chatops.conftest import APPROVER, OTHER, PLANNER, Rig


def _command(rig: Rig, text: str, user: str = PLANNER) -> dict[str, object]:
    return rig.handle(url_event(command_body(text, user=user, response_url=rig.slack.response_url())))


def _button(rig: Rig, action: str, *, user: str, requested_by: str = PLANNER, expires_in: float = 600) -> dict:
    value = json.dumps(
        {
            "p": "a" * 32,
            "t": "snapshot-rotation",
            "r": requested_by,
            "e": int((rig.now[0] + timedelta(seconds=expires_in)).timestamp()),
        }
    )
    return rig.handle(url_event(action_body(action, value, user=user, response_url=rig.slack.response_url())))


def _no_aws_but_the_secret(rig: Rig) -> None:
    # the signing secret (to verify the request) and the bot token (for Slack's user groups), nothing else
    assert set(rig.aws_calls()) <= {("ssm", "GetParameter")}
    assert rig.lam.invoked == [], "no lazy listener, no task invoked"


def _approvers(rig: Rig, *, four_eyes: bool = True) -> None:
    rig.config = ChatopsConfig(
        four_eyes=four_eyes,
        access={"snapshot-rotation": TaskAccess(approve=Audience(users=[PLANNER], groups=["S0APPROVERS"]))},
    )


def test_an_unknown_command_is_refused_with_the_usage(rig: Rig) -> None:
    response = _command(rig, "destroy everything")
    assert response["statusCode"] == 200
    body = json.loads(str(response["body"]))
    assert body["response_type"] == "ephemeral"
    assert "unknown command `destroy`" in body["text"]
    assert "plan TASK [POLICY]" in body["text"]
    _no_aws_but_the_secret(rig)


def test_a_plan_of_a_task_not_deployed_is_refused(rig: Rig) -> None:
    body = json.loads(str(_command(rig, "plan bitcoin-miner")["body"]))
    assert "no task `bitcoin-miner` here: one of snapshot-rotation" in body["text"]
    _no_aws_but_the_secret(rig)


def test_an_unknown_region_is_refused_before_any_call(rig: Rig) -> None:
    body = json.loads(str(_command(rig, "plan snapshot-rotation --region xx-fake-9")["body"]))
    assert "`--region xx-fake-9`" in body["text"]
    _no_aws_but_the_secret(rig)


def test_help_is_answered_in_the_ack_alone(rig: Rig) -> None:
    body = json.loads(str(_command(rig, "help")["body"]))
    assert body["text"].startswith("/devops `help`")
    _no_aws_but_the_secret(rig)


def test_a_user_outside_the_plan_audience_may_not_plan(rig: Rig) -> None:
    rig.config = ChatopsConfig(access={"snapshot-rotation": TaskAccess(plan=Audience(users=[PLANNER]))})
    body = json.loads(str(_command(rig, "plan snapshot-rotation", user=OTHER)["body"]))
    assert body["text"] == f"<@{OTHER}> may not plan this task"
    _no_aws_but_the_secret(rig)


def test_approval_is_denied_by_default(rig: Rig) -> None:
    body = json.loads(str(_button(rig, "approve", user=APPROVER)["body"]))
    assert body["text"] == "nobody may approve this task: the configuration names no approvers"
    _no_aws_but_the_secret(rig)


def test_an_unauthorised_user_may_not_approve(rig: Rig) -> None:
    _approvers(rig)
    body = json.loads(str(_button(rig, "approve", user=OTHER)["body"]))
    assert body["text"] == f"<@{OTHER}> may not approve this task"
    _no_aws_but_the_secret(rig)


def test_under_four_eyes_the_requester_may_not_approve_their_own_plan(rig: Rig) -> None:
    _approvers(rig)  # PLANNER is an approver, but planned this one
    body = json.loads(str(_button(rig, "approve", user=PLANNER, requested_by=PLANNER)["body"]))
    assert body["text"] == "four eyes: the person who asked for the plan may not approve it"
    _no_aws_but_the_secret(rig)


def test_without_four_eyes_an_approver_may_approve_their_own_plan(rig: Rig) -> None:
    _approvers(rig, four_eyes=False)
    response = _button(rig, "approve", user=PLANNER, requested_by=PLANNER)
    assert response["statusCode"] == 200
    assert len(rig.lam.queued) == 1, "accepted: the lazy listener takes it from here"


def test_a_member_of_an_approver_user_group_is_admitted(rig: Rig) -> None:
    _approvers(rig)
    assert _button(rig, "approve", user=APPROVER)["statusCode"] == 200
    assert [p["usergroup"] for p in rig.slack.to("/api/usergroups.users.list")] == ["S0APPROVERS"]
    assert len(rig.lam.queued) == 1


def test_an_expired_approval_is_refused(rig: Rig) -> None:
    _approvers(rig)
    body = json.loads(str(_button(rig, "approve", user=APPROVER, expires_in=-1)["body"]))
    assert body["text"] == f"plan `{'a' * 32}` expired: plan again"
    _no_aws_but_the_secret(rig)


def test_someone_who_may_not_approve_may_not_cancel_either(rig: Rig) -> None:
    body = json.loads(str(_button(rig, "cancel", user=OTHER)["body"]))
    assert body["text"] == "only the person who planned or an approver may cancel"
    _no_aws_but_the_secret(rig)
