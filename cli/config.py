"""The stage configuration file (``config/<stage>.yml``), checked as deploying it would use it.

config/load.js turns the file into the service (which tasks, their schedules); this module validates it for people:
every policy's input with the handlers' own pydantic models, schedules and time zones, regions against botocore's
partition data, with each problem named by file, line and field, and the nearest known field for a typo.
The structure rules (known keys, policy names, schedule syntax) are the loader's; the contract tests hold the two
to the same answers on the example and on bad files.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ValidationError

from cli import registry
from shared.errors import english

RATE = re.compile(r"^rate\((1 (minute|hour|day)|([2-9]|[1-9]\d+) (minutes|hours|days))\)$")
CRON = re.compile(r"^cron\((\S+ ){5}\S+\)$")
POLICY_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
TOP_KEYS = ("tasks", "chatops")
TASK_KEYS = ("enabled", "policies")
POLICY_KEYS = ("schedule", "timezone", "description", "enabled", "input")
RESERVED_INPUT = "schedule"

Path_ = tuple[Any, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration file, where it is."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        at = f"{self.file}:{self.line}" if self.line else self.file
        return f"{at}: {self.field}: {self.message}" if self.field else f"{at}: {self.message}"


@dataclass(frozen=True)
class Policy:
    """A policy as it will be deployed: its schedule and its validated input."""

    task: str
    name: str
    schedule: str
    timezone: str
    enabled: bool
    input: dict[str, Any]


def _dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path)


class _Marks:
    """The line of every key and item of a YAML document, from PyYAML's node marks."""

    def __init__(self, node: yaml.Node | None) -> None:
        self.lines: dict[Path_, int] = {}
        self.duplicates: list[tuple[Path_, int]] = []
        if node is not None:
            self._walk(node, ())

    def _walk(self, node: yaml.Node, path: Path_) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                name = str(key.value)
                if name in seen:
                    self.duplicates.append(((*path, name), key.start_mark.line + 1))
                seen.add(name)
                self.lines[(*path, name)] = key.start_mark.line + 1
                self._walk(value, (*path, name))
                self.lines[(*path, name)] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*path, index))

    def line(self, path: Path_) -> int | None:
        """The line of the deepest part of ``path`` that is in the file."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


def nearest(word: str, known: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, or nothing."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@cache
def known_regions() -> frozenset[str]:
    """Every region botocore's partition data names, in every partition."""
    import botocore.session

    session = botocore.session.get_session()
    found: set[str] = set()
    for partition in session.get_available_partitions():
        for service in ("ec2", "s3"):
            found.update(session.get_available_regions(service, partition_name=partition))
    return frozenset(found)


def _regions_in(value: Any, path: Path_) -> Iterator[tuple[Path_, str]]:
    """Every region name in an input: ``regions`` lists and ``region`` fields, at any depth."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "regions" and isinstance(item, list):
                for index, region in enumerate(item):
                    if isinstance(region, str) and region != "all":
                        yield (*path, key, index), region
            elif key == "region" and isinstance(item, str):
                yield (*path, key), item
            else:
                yield from _regions_in(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _regions_in(item, (*path, index))


def _submodel(annotation: Any, part: str | int) -> Any:
    """The type found under ``part`` of a value of type ``annotation`` (a model field, a list item, a dict value)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            found = _submodel(arg, part)
            if found is not None:
                return found
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return field.annotation if field is not None else None
    if origin in (list, tuple, set, frozenset) and isinstance(part, int):
        args = get_args(annotation)
        return args[0] if args else None
    if origin is dict:
        args = get_args(annotation)
        return args[1] if len(args) == 2 else None
    return None


def _model_fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model that holds ``loc``'s last part, for suggestions."""
    current: Any = model
    for part in loc[:-1]:
        current = _submodel(current, part)
        if current is None:
            return []
    for candidate in get_args(current) or (current,):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return list(candidate.model_fields)
    return []


class Checker:
    """Validates one configuration document; ``problems`` lists what is wrong."""

    def __init__(self, file: str, marks: _Marks) -> None:
        self.file = file
        self.marks = marks
        self.problems: list[Problem] = []
        self.policies: list[Policy] = []

    def problem(self, path: Path_, message: str) -> None:
        self.problems.append(Problem(self.file, self.marks.line(path), _dotted(path), message))

    def _keys(self, value: Mapping[str, Any], path: Path_, known: tuple[str, ...]) -> None:
        for key in value:
            if key not in known:
                self.problem((*path, key), f"unknown field{nearest(str(key), known)}; known: {', '.join(known)}")

    def _mapping(self, value: Any, path: Path_) -> bool:
        if value is None or isinstance(value, Mapping):
            return True
        self.problem(path, f"must be a mapping, not {type(value).__name__}")
        return False

    def document(self, data: Any, tasks: Mapping[str, registry.FunctionInfo]) -> None:
        for twice, line in self.marks.duplicates:
            self.problems.append(Problem(self.file, line, _dotted(twice), "given twice (the last one would win)"))
        if not self._mapping(data, ()):
            return
        top = data or {}
        self._keys(top, (), TOP_KEYS)
        if "chatops" in top:
            self.chatops(top["chatops"], tasks)
        configured = top.get("tasks") or {}
        if not self._mapping(configured, ("tasks",)):
            return
        self._requirements(configured, tasks)
        for name, entry in configured.items():
            path: Path_ = ("tasks", name)
            if name not in tasks:
                self.problem(path, f"no such task{nearest(str(name), list(tasks))}; known: {', '.join(tasks)}")
                continue
            if not self._mapping(entry, path):
                continue
            entry = entry or {}
            self._keys(entry, path, TASK_KEYS)
            if "enabled" in entry and not isinstance(entry["enabled"], bool):
                self.problem((*path, "enabled"), "must be true or false")
            policies = entry.get("policies")
            if policies is not None:
                self.task_policies(tasks[name], policies, (*path, "policies"))

    def _requirements(self, configured: Mapping[str, Any], tasks: Mapping[str, registry.FunctionInfo]) -> None:
        def enabled(name: str) -> bool:
            entry = configured.get(name)
            return not (isinstance(entry, Mapping) and entry.get("enabled") is False)

        for name, info in tasks.items():
            for needed in info.requires:
                if enabled(name) and not enabled(needed):
                    self.problem(
                        ("tasks", name),
                        f"needs {needed} (it works on its resources), which is disabled: disable it too",
                    )

    def chatops(self, block: Any, tasks: Mapping[str, registry.FunctionInfo]) -> None:
        """The chatops: block (who may plan and approve), with the ChatOps function's own model."""
        from functions.chatops.models import ChatopsConfig

        if not self._mapping(block, ("chatops",)):
            return
        try:
            parsed = ChatopsConfig.model_validate(dict(block or {}))
        except ValidationError as exc:
            for item in exc.errors(include_url=False):
                self.problem(("chatops", *item["loc"]), english(item, with_location=False))
            return
        for name in parsed.access:
            if name not in tasks or tasks[name].policies is None:
                plannable = sorted(n for n, i in tasks.items() if i.policies is not None and n != "chatops")
                self.problem(
                    ("chatops", "access", name),
                    f"no task to plan{nearest(name, plannable)}; known: {', '.join(plannable)}",
                )

    def task_policies(self, info: registry.FunctionInfo, policies: Any, path: Path_) -> None:
        if not self._mapping(policies, path):
            return
        if info.policies is None and policies:
            self.problem(path, f"{info.task_name} is not run on a schedule: it has no policies")
            return
        logical: dict[str, str] = {}
        for name, policy in (policies or {}).items():
            where: Path_ = (*path, name)
            if not isinstance(name, str) or not POLICY_NAME.match(name):
                self.problem(
                    where, "a policy name is lower-case letters, digits and -, at most 32, starting with a letter"
                )
                continue
            pascal = "".join(part[:1].upper() + part[1:] for part in name.split("-"))
            if pascal in logical:
                self.problem(where, f"clashes with policy {logical[pascal]} (the same resource name)")
            logical[pascal] = name
            self.policy(info, name, policy, where)

    def policy(self, info: registry.FunctionInfo, name: str, policy: Any, path: Path_) -> None:
        if not isinstance(policy, Mapping):
            self.problem(path, "must be a mapping with schedule, timezone and input")
            return
        self._keys(policy, path, POLICY_KEYS)
        schedule = policy.get("schedule")
        if schedule is None:
            self.problem((*path, "schedule"), "required: cron(<6 fields>) or rate(<n> <minutes|hours|days>)")
        elif not isinstance(schedule, str) or not (RATE.match(schedule) or CRON.match(schedule)):
            self.problem(
                (*path, "schedule"),
                f"{schedule!r} is not cron(<minutes> <hours> <day of month> <month> <day of week> <year>) "
                "or rate(<n> <minutes|hours|days>)",
            )
        zone = policy.get("timezone", "UTC")
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            self.problem((*path, "timezone"), f"unknown time zone {zone!r} (an IANA name such as Europe/Berlin)")
        if "enabled" in policy and not isinstance(policy["enabled"], bool):
            self.problem((*path, "enabled"), "must be true or false")
        if not isinstance(policy.get("description", ""), str) or len(policy.get("description", "")) > 512:
            self.problem((*path, "description"), "must be text of at most 512 characters")
        raw = policy.get("input")
        raw = {} if raw is None else raw
        if not self._mapping(raw, (*path, "input")):
            return
        before = len(self.problems)
        self.input(info, raw, (*path, "input"))
        if len(self.problems) == before:
            self.policies.append(
                Policy(info.task_name, name, str(schedule), str(zone), policy.get("enabled", True) is not False, raw)
            )

    def input(self, info: registry.FunctionInfo, raw: Mapping[str, Any], path: Path_) -> None:
        if RESERVED_INPUT in raw:
            self.problem((*path, RESERVED_INPUT), "is set by the schedule itself (which policy started the run)")
            return
        bad_regions = {}
        for where, region in _regions_in(raw, path):
            if region not in known_regions():
                bad_regions[where] = region
                self.problem(where, f"{region!r} is not an AWS region{nearest(region, sorted(known_regions()))}")
        model: type[BaseModel] = info.task_module().TASK.params_model
        try:
            model.model_validate(dict(raw))
        except ValidationError as exc:
            for item in exc.errors(include_url=False):
                where = (*path, *item["loc"])
                if any(bad[: len(where)] == where for bad in bad_regions):
                    continue  # the region is already named above
                message = english(item, with_location=False)
                if item["type"] == "extra_forbidden" and item["loc"]:
                    known = _model_fields_at(model, tuple(item["loc"]))
                    message = f"unknown field{nearest(str(item['loc'][-1]), known)}"
                self.problem(where, message)


def tasks_by_name() -> dict[str, registry.FunctionInfo]:
    return {info.task_name: info for info in registry.functions()}


def check_text(text: str, file: str, tasks: Mapping[str, registry.FunctionInfo] | None = None) -> Checker:
    """Validate a configuration document given as text; ``file`` names it in the problems."""
    tasks = tasks_by_name() if tasks is None else tasks
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        checker = Checker(file, _Marks(None))
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        checker.problems.append(Problem(file, line, "", f"not valid YAML: {reason}"))
        return checker
    checker = Checker(file, _Marks(node))
    checker.document(data, tasks)
    return checker


def check_file(path: Path) -> Checker:
    """Validate a configuration file (a missing or unreadable file is a problem, not an exception)."""
    try:
        text = path.read_text()
    except OSError as exc:
        checker = Checker(str(path), _Marks(None))
        checker.problems.append(Problem(str(path), None, "", f"cannot read it: {exc.strerror or exc}"))
        return checker
    return check_text(text, str(path))


def check_defaults() -> Checker:
    """The project's default policies (each task's serverless.yml), as deploying without a configuration uses."""
    tasks = tasks_by_name()
    checkers = []
    for info in tasks.values():
        if not info.policies:
            continue
        file = f"functions/{info.task_dir}/serverless.yml"
        text = (registry.ROOT / file).read_text()
        node = yaml.compose(text, Loader=registry._CfnLoader)
        checker = Checker(file, _Marks(node))
        checker.task_policies(info, info.policies, ("policies",))
        checkers.append(checker)
    merged = Checker("defaults", _Marks(None))
    for checker in checkers:
        merged.problems.extend(checker.problems)
        merged.policies.extend(checker.policies)
    return merged
