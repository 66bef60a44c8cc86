"""Alerts to chat: the alerts topic's messages, delivered to the chatops function by SNS, are posted to the
configured channel with chat.postMessage and the bot token."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from functions.chatops import handler as chatops_handler
from tests.chatops_support import TOKEN, Rig
from tests.helpers import FakeContext, load_event


@pytest.fixture
def deployed(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    """The function as deployed: its settings from the environment serverless.yml and config/load.js set."""
    settings = rig.settings()
    env = {
        "DEVOPS_TASKS_CHATOPS_CONFIG": json.dumps({"notify_channel": "C0ALERTS"}),
        "DEVOPS_TASKS_CHATOPS_FUNCTIONS": json.dumps(settings.functions),
        "DEVOPS_TASKS_CHATOPS_SCHEDULE_GROUP": str(settings.schedule_group),
        "DEVOPS_TASKS_CHATOPS_SIGNING_SECRET_PARAMETER": settings.signing_secret_parameter,
        "DEVOPS_TASKS_CHATOPS_BOT_TOKEN_PARAMETER": settings.bot_token_parameter,
        "DEVOPS_TASKS_CHATOPS_SLACK_API_URL": settings.slack_api_url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    chatops_handler._parts.cache_clear()
    yield rig
    chatops_handler._parts.cache_clear()


def test_a_failed_run_on_the_alerts_topic_is_posted_to_the_channel(deployed: Rig) -> None:
    answer = chatops_handler.handler(load_event("chatops/sns_run_failed.json"), FakeContext())
    assert answer == {"posted": 1}
    (post,) = deployed.slack.to("/api/chat.postMessage")
    assert post["channel"] == "C0ALERTS"
    assert post["blocks"][0]["text"]["text"] == ":x: *devops-tasks snapshot-rotation: failed*"
    body = post["blocks"][1]["text"]["text"]
    assert "totals: deleted=4, failed=1" in body
    assert "InvalidSnapshot.InUse" in body
    assert '{"task"' not in body, "the JSON summary after the text is left out"
    assert post["text"].startswith(":x: *devops-tasks snapshot-rotation: failed*")


def test_an_alarm_is_posted_with_its_state_and_reason(deployed: Rig) -> None:
    event = load_event("chatops/sns_run_failed.json")
    event["Records"][0]["Sns"] |= {
        "Subject": 'ALARM: "devops-tasks-ErrorsAlarm" in EU (Ireland)',
        "Message": json.dumps(
            {
                "AlarmName": "devops-tasks-ErrorsAlarm",
                "NewStateValue": "ALARM",
                "NewStateReason": "Threshold Crossed: 1 datapoint [1.0] >= 1.0",
                "AlarmDescription": "devops-tasks snapshot rotation failed",
            }
        ),
    }
    chatops_handler.handler(event, FakeContext())
    (post,) = deployed.slack.to("/api/chat.postMessage")
    text = post["blocks"][0]["text"]["text"]
    assert text.startswith(":rotating_light: *devops-tasks-ErrorsAlarm* is ALARM: devops-tasks snapshot rotation")
    assert "Threshold Crossed" in text


def test_the_bot_token_goes_to_slack_only_in_the_authorization_header(
    deployed: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    chatops_handler.handler(load_event("chatops/sns_run_failed.json"), FakeContext())
    (post,) = deployed.slack.to("/api/chat.postMessage")
    assert TOKEN not in json.dumps(post)
    assert deployed.slack.auth == [("/api/chat.postMessage", f"Bearer {TOKEN}")]
    assert TOKEN not in capsys.readouterr().out, "never in a log line"
