"""Every event fixture under tests/events/ is a shape the functions accept: AWS-documented S3/SQS notifications
parse with Powertools' strict models, task payloads validate against the task's input model."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import (
    EventBridgeModel,
    LambdaFunctionUrlModel,
    S3EventNotificationEventBridgeModel,
    S3Model,
    SnsModel,
    SqsModel,
)

from shared.inputs import parse_input
from tests.helpers import EVENTS

FIXTURES = sorted(p for p in EVENTS.rglob("*.json") if "invalid" not in p.parts)


def kind(event: dict[str, Any]) -> str:
    if "requestContext" in event and event.get("version") == "2.0":
        return "function-url"
    if "Records" in event and event["Records"][0].get("EventSource") == "aws:sns":
        return "sns"
    if "Records" in event:
        return "sqs" if event["Records"][0].get("eventSource") == "aws:sqs" else "s3"
    if "detail-type" in event:
        return "eventbridge"
    if event.get("Event") == "s3:TestEvent":
        return "s3-test"
    return "payload"


GARBLED_MESSAGE = "6a1f0e2c-22a4-4bd0-8f57-9f4b8a3c7d55"


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(EVENTS)))
def test_event_fixture_is_an_accepted_shape(path: Path) -> None:
    event = json.loads(path.read_text())
    shape = kind(event)
    if shape == "sqs":
        parsed = parse(event=event, model=SqsModel)
        for record in parsed.Records:
            try:
                body = json.loads(record.body)
            except json.JSONDecodeError:
                # the one garbled message, kept on purpose to prove partial batch failures
                assert record.messageId == GARBLED_MESSAGE, (path, record.messageId)
                continue
            if "Records" in body:
                parse(event=body, model=S3Model)
            elif body.get("source") == "aws.s3":
                parse(event=body, model=S3EventNotificationEventBridgeModel)
            else:
                assert body.get("Event") == "s3:TestEvent" or "Message" in body, path
    elif shape == "s3":
        assert parse(event=event, model=S3Model).Records
    elif shape == "eventbridge":
        parse(
            event=event, model=S3EventNotificationEventBridgeModel if event["source"] == "aws.s3" else EventBridgeModel
        )
    elif shape == "function-url":
        parse(event=event, model=LambdaFunctionUrlModel)
    elif shape == "sns":
        parse(event=event, model=SnsModel)
    elif shape == "payload":
        task = importlib.import_module(f"functions.{path.parent.name}.task")
        parse_input(event, task.TASK.params_model, env={})
    else:
        assert event["Service"] == "Amazon S3"


def test_there_are_fixtures_for_every_task_folder() -> None:
    folders = {p.parent.name for p in FIXTURES if p.parent != EVENTS}
    tasks = {p.name for p in (EVENTS.parents[1] / "functions").iterdir() if (p / "handler.py").exists()}
    assert tasks <= folders, f"no event fixtures for {sorted(tasks - folders)}"
