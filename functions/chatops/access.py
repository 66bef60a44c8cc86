"""Who may plan and approve what: the configuration's audiences, applied to one request (pure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from functions.chatops.models import Audience, ChatopsConfig

Verb = Literal["plan", "approve"]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def admits(
    audience: Audience | None, user: str, channel: str | None, groups_of: Callable[[str], frozenset[str]], *, verb: Verb
) -> Decision:
    """Whether ``audience`` admits ``user`` in ``channel``. No audience: anyone may plan, nobody may approve.

    ``groups_of(group)`` gives a user group's members; it is asked only when the user is not named directly."""
    if audience is None:
        if verb == "plan":
            return Decision(True, "anyone may plan this task")
        return Decision(False, "nobody may approve this task: the configuration names no approvers")
    if audience.channels and channel not in audience.channels:
        return Decision(False, f"not allowed to {verb} from this channel")
    if not (audience.users or audience.groups):
        return Decision(True, f"anyone in channel {channel} may {verb}")
    if user in audience.users:
        return Decision(True, f"{user} is named")
    for group in audience.groups:
        if user in groups_of(group):
            return Decision(True, f"{user} is in user group {group}")
    return Decision(False, f"<@{user}> may not {verb} this task")


def may_plan(
    config: ChatopsConfig, task: str, user: str, channel: str | None, groups_of: Callable[[str], frozenset[str]]
) -> Decision:
    return admits(config.of(task).plan, user, channel, groups_of, verb="plan")


def may_approve(
    config: ChatopsConfig,
    task: str,
    user: str,
    channel: str | None,
    groups_of: Callable[[str], frozenset[str]],
    *,
    requested_by: str,
) -> Decision:
    """Approval: the task's ``approve`` audience, and under four eyes someone other than the one who planned."""
    if config.four_eyes and user == requested_by:
        return Decision(False, "four eyes: the person who asked for the plan may not approve it")
    return admits(config.of(task).approve, user, channel, groups_of, verb="approve")
