"""Domain errors shared by every task."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError

_PREFIXES = ("Value error, ", "Assertion failed, ")


def english(item: Any, *, with_location: bool = True) -> str:
    """One pydantic error as a sentence: ``policy.retention.daily: Input should be greater than or equal to 0``;
    a model-level rule reads as its own message, without pydantic's ``(root): Value error,`` in front."""
    message = str(item["msg"])
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    loc = ".".join(_path(item["loc"]))
    return f"{loc}: {message}" if loc and with_location else message


def _path(loc: tuple[Any, ...]) -> list[str]:
    """The field path of an error's location, without the tag pydantic adds for a branch of a tagged union: the
    list branch's tag is empty, and the others are named after their one field (``accounts.organization``)."""
    parts: list[str] = []
    for part in map(str, loc):
        if part and (not parts or parts[-1] != part):
            parts.append(part)
    return parts


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
        problems = [english(item) for item in error.errors(include_url=False)]
        return cls(f"invalid {where}: " + "; ".join(problems), problems=problems)


class RunFailed(DevopsTasksError):
    """A run finished with failed items (or stopped incomplete when that counts as failure).

    Raised at the very end, after the report is written, so the Lambda Errors metric and alarms fire.
    """

    def __init__(self, message: str, *, report: dict[str, object]) -> None:
        self.report = report
        super().__init__(message)
