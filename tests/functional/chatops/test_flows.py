"""plan -> approve -> run, through Slack's requests, with the snapshot rotation's real handler behind Lambda's
Invoke (in-process moto): what is posted back, what is run, and what is refused."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3

from tests.chatops_support import button, click, configure, plan_message, snapshots, volume
from tests.functional.chatops.conftest import APPROVER, BUCKET, PLANNER, SNAPSHOT_FN, Rig
from tests.helpers import REGION


def test_plan_posts_a_summary_with_counts_reasons_a_link_and_approve_and_cancel_buttons(rig: Rig) -> None:
    configure(rig)
    vol = volume("db")
    posted = plan_message(rig)
    assert posted["response_type"] == "in_channel", "others must see it to approve it (four eyes)"
    texts = json.dumps(posted["blocks"])
    assert posted["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "Plan: snapshot-rotation"}}
    assert f"*snapshot-rotation policy `daily`* planned by <@{PLANNER}>: *1 actions* (1 create)" in texts
    assert f"`create` {vol} ({REGION})" in texts
    assert "full report>" in texts
    assert [e["text"]["text"] for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
        "Approve",
        "Cancel",
    ]
    # the task ran as a dry run with the policy's input, as its schedule sends it (less the schedule marker)
    ((name, payload),) = rig.lam.task_invocations()
    assert name == SNAPSHOT_FN
    assert payload["dry_run"] is True
    assert payload["policy"]["retention"] == {"keep_last": 1}
    assert "schedule" not in payload
    assert snapshots() == 0


def test_approve_recomputes_the_plan_runs_it_for_real_and_posts_the_result(rig: Rig) -> None:
    configure(rig)
    volume("db")
    value = button(plan_message(rig), "approve")
    ack, posted = click(rig, "approve", value)
    assert ack["statusCode"] == 200
    kinds = [p["dry_run"] for _, p in rig.lam.task_invocations()]
    assert kinds == [True, True, False], "plan, the plan again at approval, then the run"
    assert snapshots() == 1
    assert posted[0]["replace_original"] is True, "the buttons are gone once approved"
    result = json.dumps(posted[-1]["blocks"])
    assert f"approved by <@{APPROVER}>: *succeeded*" in result
    assert "created 1" in result
    decision = json.loads(
        boto3.client("s3")
        .get_object(Bucket=BUCKET, Key=f"chatops/decisions/{json.loads(value)['p']}.json")["Body"]
        .read()
    )
    assert (decision["decision"], decision["by"]) == ("approved", APPROVER)


def test_a_replayed_approval_is_refused_and_runs_nothing(rig: Rig) -> None:
    configure(rig)
    volume("db")
    value = button(plan_message(rig), "approve")
    click(rig, "approve", value)
    runs = len(rig.lam.task_invocations())
    ack, posted = click(rig, "approve", value, user=APPROVER)
    assert ack["statusCode"] == 200
    assert [p["text"] for p in posted] == [
        f":x: plan `{json.loads(value)['p']}` was already approved or cancelled: plan again"
    ]
    assert len(rig.lam.task_invocations()) == runs, "no dry run and no run"
    assert snapshots() == 1


def test_when_the_estate_changes_between_plan_and_approval_the_run_is_refused(rig: Rig) -> None:
    configure(rig)
    volume("db")
    value = button(plan_message(rig), "approve")
    volume("another")  # two snapshots would now be made, not the one that was shown
    _, posted = click(rig, "approve", value)
    assert "was not run: the plan is no longer the one shown (2 actions now)" in posted[-1]["text"]
    assert [p["dry_run"] for _, p in rig.lam.task_invocations()] == [True, True]
    assert snapshots() == 0


def test_a_button_that_outlives_its_plan_record_is_refused_by_the_record(rig: Rig) -> None:
    configure(rig)
    volume("db")
    value = json.loads(button(plan_message(rig), "approve"))
    rig.now[0] += timedelta(minutes=16)  # the button's expiry is checked in the ack, the record's in the work
    value["e"] += 3600
    _, posted = click(rig, "approve", json.dumps(value))
    assert "expired at" in posted[-1]["text"]
    assert [p["dry_run"] for _, p in rig.lam.task_invocations()] == [True]


def test_after_a_cancel_the_plan_cannot_be_approved(rig: Rig) -> None:
    configure(rig)
    volume("db")
    value = button(plan_message(rig), "approve")
    _, cancelled = click(rig, "cancel", value, user=PLANNER)
    assert cancelled[-1]["text"].startswith(":no_entry_sign: snapshot-rotation plan")
    _, posted = click(rig, "approve", value)
    assert "already approved or cancelled" in posted[-1]["text"]
    assert snapshots() == 0


def test_a_plan_with_nothing_to_do_has_no_buttons(rig: Rig) -> None:
    posted = plan_message(rig)
    assert not [b for b in posted["blocks"] if b["type"] == "actions"]
    assert "*0 actions* (nothing to do)" in json.dumps(posted["blocks"])


def test_an_unknown_policy_is_answered_with_the_reason(rig: Rig) -> None:
    posted = plan_message(rig, "plan snapshot-rotation weekly")
    assert posted["text"] == ":x: snapshot-rotation has no policy 'weekly'"
    assert rig.lam.task_invocations() == []


def test_an_action_the_estate_gained_after_the_check_is_reported_as_outside_the_approved_plan(rig: Rig) -> None:
    configure(rig)
    volume("db")
    value = button(plan_message(rig), "approve")
    run_task = rig.lam.handlers[SNAPSHOT_FN]
    gained: list[str] = []

    def changed_before_the_run(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if event.get("dry_run") is False:  # the seconds between the digest check and the run
            gained.append(volume("another"))
        return run_task(event, context)

    rig.lam.handlers[SNAPSHOT_FN] = changed_before_the_run
    _, posted = click(rig, "approve", value)
    assert [p["dry_run"] for _, p in rig.lam.task_invocations()] == [True, True, False]
    assert len(gained) == 1
    assert snapshots() == 2, "the run made the approved snapshot and the new volume's"
    result = json.dumps(posted[-1]["blocks"])
    assert ":warning: 1 action(s) of the run were not in the approved plan" in result


def test_a_run_that_did_only_the_approved_plan_carries_no_outside_plan_warning(rig: Rig) -> None:
    configure(rig)
    volume("db")
    value = button(plan_message(rig), "approve")
    _, posted = click(rig, "approve", value)
    assert "not in the approved plan" not in json.dumps(posted[-1]["blocks"])
