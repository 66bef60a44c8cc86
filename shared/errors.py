"""Domain errors shared by every task."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class DevopsTasksError(Exception):
    """Base class of the project's own errors."""


class InputError(DevopsTasksError, ValueError):
    """The event or the configuration is invalid. Raised before any AWS call."""

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__(message)

    @classmethod
    def from_validation(cls, where: str, error: ValidationError) -> InputError:
        """Name every invalid field of a pydantic validation error, e.g. ``policy.retention.daily``."""
        problems = []
        for item in error.errors(include_url=False):
            loc = ".".join(str(part) for part in item["loc"]) or "(root)"
            problems.append(f"{loc}: {item['msg']}")
        return cls(f"invalid {where}: " + "; ".join(problems), problems=problems)


class RunFailed(DevopsTasksError):
    """A run finished with failed items (or stopped incomplete when that counts as failure).

    Raised at the very end, after the report is written, so the Lambda Errors metric and alarms fire.
    """

    def __init__(self, message: str, *, report: dict[str, object]) -> None:
        self.report = report
        super().__init__(message)
