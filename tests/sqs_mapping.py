"""Lambda's SQS event source mapping, as the tests drive it: poll the queue, invoke the handler, delete what it did.

moto keeps the queue (visibility timeouts, delays, redrive to the dead-letter queue) but runs no function, so
:class:`EventSourceMapping` does what Lambda's poller does for a mapping with batch size 1,
``ReportBatchItemFailures`` and a maximum concurrency: receive up to ``concurrency`` messages, invoke the handler
once per message side by side, delete a message whose invocation succeeded and reported no item failure, and leave
any other (a raised exception, a killed worker) to come back after its visibility timeout (the records are
:func:`cli.sqs.sqs_record`'s, as the demo's poller builds them). Time is freezegun's:
when only delayed or in-flight messages remain, the frozen clock moves on (moto's SQS reads the same clock), so a
continuation's or a close message's ``DelaySeconds`` costs no wall time.

Deliveries can be tampered with, as SQS's at-least-once delivery allows: ``duplicate`` (a message delivered twice,
side by side), ``reverse`` (each round's messages in reverse order), and ``kill`` (the worker dies at the start of
a chosen delivery: nothing it would have done happens, and the message comes back).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cli.sqs import queue_depth, sqs_record
from tests.faults import Crash
from tests.helpers import FakeContext

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class EventSourceMapping:
    sqs: Any
    queue_url: str
    handler: Handler
    tick: Callable[[float], None]
    """Moves the frozen clock on (``frozen.tick``)."""
    concurrency: int = 4
    duplicate: Callable[[dict[str, Any]], bool] = lambda _body: False
    reverse: bool = False
    kill: Callable[[dict[str, Any], int], bool] = lambda _body, _receives: False
    """Whether the worker dies on this delivery (the message's body and its receive count)."""
    step_seconds: float = 60.0
    invocations: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]
        self.queue_arn = attrs["QueueArn"]
        self.region = self.sqs.meta.region_name

    def _left(self) -> int:
        return sum(queue_depth(self.sqs, self.queue_url).values())

    def _invoke(self, message: dict[str, Any]) -> bool:
        """One invocation with one message: True if Lambda would delete it."""
        import json

        body = json.loads(message["Body"])
        receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        self.bodies.append(body)
        if self.kill(body, receives):
            self.outcomes["killed"] += 1
            return False
        event = {"Records": [sqs_record(message, self.queue_arn, self.region)]}
        try:
            response = self.handler(event, FakeContext())
        except Crash:
            self.outcomes["killed"] += 1
            return False
        except Exception:  # noqa: BLE001 - what Lambda does with a failed invocation: the message comes back
            self.outcomes["raised"] += 1
            return False
        if response.get("batchItemFailures"):
            self.outcomes["item failures"] += 1
            return False
        self.outcomes["ok"] += 1
        return True

    def drain(self, max_rounds: int = 2000) -> EventSourceMapping:
        """Deliver until the queue is empty (delayed and in-flight messages included)."""
        import json

        for _ in range(max_rounds):
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=min(10, self.concurrency), AttributeNames=["All"]
            ).get("Messages", [])
            if not got:
                if not self._left():
                    return self
                self.tick(self.step_seconds)
                continue
            deliveries = [m for m in got for _ in range(2 if self.duplicate(json.loads(m["Body"])) else 1)]
            if self.reverse:
                deliveries.reverse()
            self.invocations += len(deliveries)
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                done = list(pool.map(self._invoke, deliveries))
            for message, ok in zip(deliveries, done, strict=True):
                if ok:  # (a duplicate's receipt handle may be that of a message deleted already)
                    with contextlib.suppress(self.sqs.exceptions.ReceiptHandleIsInvalid):
                        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        raise AssertionError(f"the queue did not drain in {max_rounds} rounds")
