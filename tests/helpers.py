"""Helpers for tests: event fixtures and a fake Lambda context."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).parent / "events"
REGION = "eu-west-1"


def load_event(name: str) -> dict[str, Any]:
    """A JSON event fixture from tests/events/ (e.g. ``load_event("eventbridge_scheduled.json")``)."""
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


@dataclass
class FakeContext:
    """The parts of a Lambda context that the handlers and Powertools read."""

    remaining_ms: int = 900_000
    function_name: str = "devops-tasks-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:devops-tasks-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
