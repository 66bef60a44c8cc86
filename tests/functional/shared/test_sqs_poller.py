"""The demo's SQS poller works a queue as Lambda's event source mapping does: one message an invocation, the
message deleted only when the invocation returned without batch item failures, delayed messages left alone."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from cli.sqs import SqsPoller, queue_depth
from tests.helpers import REGION

pytestmark = pytest.mark.usefixtures("aws")


def test_only_what_succeeded_is_deleted_and_delayed_messages_are_not_waited_for() -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="units", Attributes={"VisibilityTimeout": "900"})["QueueUrl"]
    for n in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": "close"}), DelaySeconds=900)
    events: list[dict[str, Any]] = []

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        events.append(event)
        [record] = event["Records"]  # batch size 1
        n = json.loads(record["body"])["n"]
        if n == 1:
            raise RuntimeError("this invocation fails")
        if n == 2:
            return {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
        return {"batchItemFailures": []}

    rounds: list[int] = []
    poller = SqsPoller(sqs, url, handler, concurrency=2, on_round=lambda d: rounds.append(len(d)))
    left = poller.work_visible()

    assert len(events) == 5
    record = events[0]["Records"][0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":units")
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert all(r <= 2 for r in rounds)
    assert poller.outcomes == {"ok": 3, "raised RuntimeError": 1, "item failure": 1}
    # the two failed deliveries are in flight (back after the visibility timeout), the close message delayed
    assert left == queue_depth(sqs, url)
    assert left == {
        "ApproximateNumberOfMessages": 0,
        "ApproximateNumberOfMessagesNotVisible": 2,
        "ApproximateNumberOfMessagesDelayed": 1,
    }
