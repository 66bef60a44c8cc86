"""Alerts to chat: what the alerts topic carries (run failures and incomplete runs, the audit's digest, alarms),
posted to the configured channel with chat.postMessage, beside the topic's other subscribers."""

from __future__ import annotations

import json
from typing import Any

from functions.chatops.plans import _section
from functions.chatops.views import message

MAX_LINES = 25


def sns_messages(event: Any) -> list[dict[str, Any]] | None:
    """The SNS messages of an SNS-to-Lambda event, or None when the event is not one."""
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list) or not event["Records"]:
        return None
    records = event["Records"]
    if not all(isinstance(r, dict) and r.get("EventSource") == "aws:sns" for r in records):
        return None
    return [r["Sns"] for r in records]


def blocks_of(sns: dict[str, Any]) -> list[dict[str, Any]]:
    """One message as Block Kit: a run summary's first lines, or a CloudWatch alarm's state and reason."""
    subject = sns.get("Subject") or "devops-tasks"
    text = str(sns.get("Message", ""))
    try:
        alarm = json.loads(text)
    except json.JSONDecodeError:
        alarm = None
    if isinstance(alarm, dict) and "AlarmName" in alarm:
        icon = ":rotating_light:" if alarm.get("NewStateValue") == "ALARM" else ":white_check_mark:"
        return [
            _section(
                f"{icon} *{alarm['AlarmName']}* is {alarm.get('NewStateValue')}: "
                f"{alarm.get('AlarmDescription') or ''}\n{alarm.get('NewStateReason') or ''}"
            )
        ]
    head = text.split("\n\n{", 1)[0].splitlines()[:MAX_LINES]
    icon = ":x:" if "failed" in subject else ":warning:" if "incomplete" in subject else ":information_source:"
    return [_section(f"{icon} *{subject}*"), _section("\n".join(head) or "(no text)")]


def post(client: Any, channel: str, event: dict[str, Any]) -> int:
    """Post every message of the event; a failed post raises (SNS then retries the delivery)."""
    found = sns_messages(event) or []
    for sns in found:
        client.chat_postMessage(channel=channel, **message(blocks_of(sns)))
    return len(found)
