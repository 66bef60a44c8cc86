"""Time: one injectable "now" and the Lambda time budget."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC. The only place production code reads the clock."""
    return datetime.now(UTC)


class LambdaContextLike(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@dataclass
class TimeBudget:
    """How long a run may keep starting new work.

    Built from the Lambda context's remaining time, less a safety margin kept for finishing in-flight calls and
    writing the report. Without a context (local CLI) the budget is unlimited unless ``max_seconds`` is given.
    """

    remaining_s: Callable[[], float]
    margin_s: float = 0.0
    _stopped: bool = field(default=False, init=False)

    @classmethod
    def from_context(cls, context: Any, margin_s: float, max_seconds: float | None = None) -> TimeBudget:
        getter = getattr(context, "get_remaining_time_in_millis", None)
        if callable(getter):
            return cls(lambda: getter() / 1000.0, margin_s)
        if max_seconds is not None:
            deadline = time.monotonic() + max_seconds
            return cls(lambda: deadline - time.monotonic(), margin_s)
        return cls.unlimited()

    @classmethod
    def unlimited(cls) -> TimeBudget:
        return cls(lambda: float("inf"), 0.0)

    def exhausted(self) -> bool:
        """True once less than the margin is left. Sticky: once exhausted, it stays so for this run."""
        if not self._stopped and self.remaining_s() < self.margin_s:
            self._stopped = True
        return self._stopped
