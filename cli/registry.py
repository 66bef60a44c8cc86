"""The tasks, as serverless.yml declares them: each ``functions/<task>/serverless.yml`` is the source of truth.

A task file holds its function, its resources and, under ``policies``, the project's default policies (schedule,
time zone, input); config/load.js builds the deployed service from the same files.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation tags (!Ref, !Sub, ...) as plain values: enough to list functions and events."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return f"!{suffix} {loader.construct_scalar(node)}"
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _any_tag)


@dataclass(frozen=True)
class FunctionInfo:
    """One Lambda function of the service."""

    key: str
    handler: str
    description: str
    task_dir: str
    events: list[dict[str, Any]] = field(default_factory=list)
    policies: dict[str, dict[str, Any]] | None = None
    """The default policies by name; None when the task is not run on a schedule."""
    requires: tuple[str, ...] = ()
    """Tasks whose resources this one's template refers to: it is deployed only with them."""

    @property
    def task_name(self) -> str:
        try:
            module = self.task_module()
        except ModuleNotFoundError:
            return self.task_dir.replace("_", "-")
        return str(getattr(module, "NAME", self.task_dir.replace("_", "-")))

    def task_module(self) -> ModuleType:
        return importlib.import_module(f"functions.{self.task_dir}.task")

    def handler_function(self) -> Any:
        module_path, func = self.handler.rsplit(".", 1)
        return getattr(importlib.import_module(module_path.replace("/", ".")), func)

    def triggers(self) -> list[str]:
        found = [
            f"schedule {name}: {spec.get('schedule')} {spec.get('timezone', 'UTC')}"
            for name, spec in (self.policies or {}).items()
        ]
        for event in self.events:
            for kind, spec in event.items():
                if kind == "schedule":
                    found.append(f"schedule {spec.get('rate') if isinstance(spec, dict) else spec}")
                elif kind == "sqs":
                    found.append("sqs")
                elif kind == "s3":
                    found.append("s3")
                else:
                    found.append(kind)
        return found

    def schedule_input(self) -> dict[str, Any] | None:
        """The input of the task's first default policy, if it has one."""
        for spec in (self.policies or {}).values():
            return dict(spec.get("input") or {})
        return None


def functions(root: Path = ROOT) -> list[FunctionInfo]:
    """Every function declared under ``functions/*/serverless.yml``."""
    found = []
    for path in sorted((root / "functions").glob("*/serverless.yml")):
        data = yaml.load(path.read_text(), Loader=_CfnLoader)
        for key, spec in (data.get("functions") or {}).items():
            found.append(
                FunctionInfo(
                    key=key,
                    handler=spec["handler"],
                    description=spec.get("description", ""),
                    task_dir=path.parent.name,
                    events=list(spec.get("events") or []),
                    policies=dict(data["policies"] or {}) if "policies" in data else None,
                    requires=tuple(data.get("requires") or ()),
                )
            )
    return found


def find(name: str, root: Path = ROOT) -> FunctionInfo:
    """A function by task name (``snapshot-rotation``), function key (``snapshotRotation``) or folder."""
    wanted = name.replace("_", "-").lower()
    every = functions(root)
    for info in every:
        if wanted in {info.key.lower(), info.task_dir.replace("_", "-"), info.task_name}:
            return info
    known = ", ".join(sorted(i.task_name for i in every))
    raise KeyError(f"no task named {name!r}; known: {known}")
