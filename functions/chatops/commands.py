"""The slash command's text, read into a command, or refused with the reason (pure: no Slack, no AWS)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from shared.partitions import check_region

Verb = Literal["help", "list", "plan", "report", "status"]

USAGE = (
    "`help` this text · `list` tasks, policies, schedules, last runs · "
    "`plan TASK [POLICY] [--region R ...]` a dry run to approve · `report audit` the latest audit · "
    "`status` runs in progress and the last failures"
)

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
MAX_REGIONS = 16


class CommandError(ValueError):
    """A command that cannot be run as written; the message says why, for the person who typed it."""


@dataclass(frozen=True)
class Command:
    verb: Verb
    task: str | None = None
    policy: str | None = None
    regions: tuple[str, ...] = field(default_factory=tuple)


def parse(text: str, tasks: frozenset[str]) -> Command:
    """Read ``text`` (what followed the slash command). ``tasks`` are the tasks this deployment can plan."""
    words = text.split()
    if not words or words[0].lower() == "help":
        if len(words) > 1:
            raise CommandError(f"`help` takes nothing after it, got `{' '.join(words[1:])}`")
        return Command("help")
    verb, rest = words[0].lower(), words[1:]
    if verb in ("list", "status"):
        if rest:
            raise CommandError(f"`{verb}` takes nothing after it, got `{' '.join(rest)}`")
        return Command(verb)  # type: ignore[arg-type]
    if verb == "report":
        if rest != ["audit"]:
            raise CommandError("the one report is `report audit`")
        return Command("report", task="resource-audit")
    if verb == "plan":
        return _plan(rest, tasks)
    raise CommandError(f"unknown command `{words[0]}`. {USAGE}")


def _plan(words: list[str], tasks: frozenset[str]) -> Command:
    if not words:
        raise CommandError(f"`plan` needs a task: one of {', '.join(sorted(tasks)) or '(none deployed)'}")
    task = words[0].lower()
    if task not in tasks:
        raise CommandError(f"no task `{words[0]}` here: one of {', '.join(sorted(tasks)) or '(none deployed)'}")
    policy: str | None = None
    regions: list[str] = []
    i = 1
    while i < len(words):
        word = words[i]
        if word == "--region":
            if i + 1 >= len(words):
                raise CommandError("`--region` needs a region name after it")
            try:
                regions.append(check_region(words[i + 1]))
            except ValueError as exc:
                raise CommandError(f"`--region {words[i + 1]}`: {exc}") from exc
            i += 2
            continue
        if word.startswith("-"):
            raise CommandError(f"unknown option `{word}` (the one option is `--region R`)")
        if policy is not None:
            raise CommandError(f"one policy at most, got `{policy}` and `{word}`")
        if not _NAME.fullmatch(word):
            raise CommandError(f"`{word}` is not a policy name (lower-case letters, digits and -)")
        policy = word
        i += 1
    if len(regions) > MAX_REGIONS:
        raise CommandError(f"at most {MAX_REGIONS} regions in one plan, got {len(regions)}")
    return Command("plan", task=task, policy=policy, regions=tuple(dict.fromkeys(regions)))
