"""SQS messages from ReceiveMessage, shaped as the Lambda SQS event source delivers them (demo and tests), and a
small poller that works a queue as Lambda's SQS event source mapping would."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

QUEUE_DEPTH = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """The SQS event record Lambda builds from a message as ``ReceiveMessage`` returned it."""
    body = message["Body"]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": {k: str(v) for k, v in message.get("Attributes", {}).items()},
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def lambda_sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The Lambda event for ``messages`` (as ``ReceiveMessage`` returned them) of the queue ``queue_arn``."""
    return {"Records": [sqs_record(m, queue_arn, region) for m in messages]}


def queue_depth(sqs: Any, queue_url: str) -> dict[str, int]:
    """The queue's visible, in-flight and delayed message counts (SQS's approximate attributes)."""
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(QUEUE_DEPTH))["Attributes"]
    return {name: int(attrs.get(name, 0)) for name in QUEUE_DEPTH}


Invoke = Callable[[dict[str, Any]], dict[str, Any]]
"""Invokes the function with an SQS event and returns its response; raising is a failed invocation."""


@dataclass
class Delivery:
    """One message as the poller delivered it, and what became of it."""

    body: dict[str, Any]
    deleted: bool
    outcome: str


@dataclass
class SqsPoller:
    """Lambda's SQS event source mapping with batch size 1, ``ReportBatchItemFailures`` and a maximum concurrency.

    Each round receives up to ``concurrency`` messages, invokes the function once per message side by side,
    deletes a message whose invocation returned without batch item failures, and leaves any other to come back
    after its visibility timeout (and to the dead-letter queue after the queue's redrive count), as Lambda does.
    """

    sqs: Any
    queue_url: str
    invoke: Invoke
    concurrency: int = 4
    on_round: Callable[[list[Delivery]], None] | None = None
    """Called after each round with its deliveries (to show progress)."""
    outcomes: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]
        self.queue_arn = str(attrs["QueueArn"])
        self.region = str(self.sqs.meta.region_name)

    def _one(self, message: dict[str, Any]) -> Delivery:
        body = json.loads(message["Body"])
        try:
            response = self.invoke({"Records": [sqs_record(message, self.queue_arn, self.region)]})
        except Exception as exc:  # noqa: BLE001 - what Lambda does with a failed invocation: the message comes back
            return Delivery(body, False, f"raised {type(exc).__name__}")
        if response.get("batchItemFailures"):
            return Delivery(body, False, "item failure")
        return Delivery(body, True, "ok")

    def round(self) -> list[Delivery]:
        """One receive and its invocations; an empty list when no message is visible."""
        got = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=min(10, self.concurrency), AttributeNames=["All"]
        ).get("Messages", [])
        if not got:
            return []
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            done = list(pool.map(self._one, got))
        for message, delivery in zip(got, done, strict=True):
            self.outcomes[delivery.outcome] += 1
            if delivery.deleted:
                with contextlib.suppress(self.sqs.exceptions.ReceiptHandleIsInvalid):
                    self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        if self.on_round is not None:
            self.on_round(done)
        return done

    def work_visible(self, max_rounds: int = 1000) -> dict[str, int]:
        """Deliver until no message is visible; returns the queue's depth then. Delayed messages, and those whose
        delivery failed (back after their visibility timeout), are left: this waits for neither."""
        for _ in range(max_rounds):
            if self.round():
                continue
            depth = queue_depth(self.sqs, self.queue_url)
            if not depth["ApproximateNumberOfMessages"]:
                return depth
        raise RuntimeError(f"the queue {self.queue_url} still had visible messages after {max_rounds} rounds")
