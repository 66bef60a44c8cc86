"""ChatOps end to end against moto server over HTTP: plan snapshot-rotation -> approve -> the task runs with the
approved input -> the result is posted; an estate that changed since the plan, and an approval after its expiry,
are refused. Slack is the fake Web API and response_url on 127.0.0.1; time moves by the app's clock, never sleep."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.chatops_support import (
    APPROVER,
    Rig,
    button,
    click,
    configure,
    plan_message,
    rig_for,
    snapshots,
    volume,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def rig(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    yield from rig_for(monkeypatch)


def test_plan_approve_run_and_the_result_posted(rig: Rig) -> None:
    configure(rig)
    volume("db")
    value = button(plan_message(rig), "approve")
    _, posted = click(rig, "approve", value)
    assert f"approved by <@{APPROVER}>: *succeeded*" in json.dumps(posted[-1]["blocks"])
    runs = rig.lam.task_invocations()
    assert [p["dry_run"] for _, p in runs] == [True, True, False]
    assert runs[2][1]["policy"] == runs[0][1]["policy"], "the run has the approved input"
    assert runs[2][1]["approval"]["plan_id"] == json.loads(value)["p"]
    assert snapshots() == 1


def test_an_estate_changed_since_the_plan_is_refused(rig: Rig) -> None:
    configure(rig)
    volume("db")
    value = button(plan_message(rig), "approve")
    volume("new")
    _, posted = click(rig, "approve", value)
    assert "no longer the one shown" in posted[-1]["text"]
    assert snapshots() == 0


def test_an_approval_after_its_expiry_is_refused(rig: Rig) -> None:
    configure(rig)
    volume("db")
    value = button(plan_message(rig), "approve")
    rig.now[0] += timedelta(minutes=15, seconds=1)
    ack, posted = click(rig, "approve", value)
    assert json.loads(str(ack["body"]))["text"] == f"plan `{json.loads(value)['p']}` expired: plan again"
    assert posted == []
    assert [p["dry_run"] for _, p in rig.lam.task_invocations()] == [True]
    assert snapshots() == 0
