"""JSON Schemas of the tasks' inputs and of the configuration file, from the same pydantic models the handlers use.

``make schema`` writes them to config/schema/ (config.json for the whole file, <task>.json per input); the example
configuration names config.json on its ``# yaml-language-server: $schema=...`` line, so editors complete and check
a policy as it is typed, and config/load.js checks each policy's input against them at deploy time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli import registry
from cli.config import POLICY_NAME, RESERVED_INPUT

SCHEMA_DIR = registry.ROOT / "config" / "schema"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def input_schema(info: registry.FunctionInfo) -> dict[str, Any]:
    """The JSON Schema of a task's input, as a policy writes it (without the field the schedule itself sets)."""
    model = info.task_module().TASK.params_model
    schema: dict[str, Any] = {"$schema": DRAFT, **model.model_json_schema()}
    schema["properties"].pop(RESERVED_INPUT, None)
    schema.get("$defs", {}).pop("ScheduledBy", None)
    return schema


def _policy_schema(task: str) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["schedule"],
        "properties": {
            "schedule": {
                "type": "string",
                "description": "cron(<minutes> <hours> <day of month> <month> <day of week> <year>) or "
                "rate(<n> <minutes|hours|days>), in the policy's time zone",
                "pattern": r"^(cron\((\S+ ){5}\S+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$",
            },
            "timezone": {"type": "string", "default": "UTC", "description": "IANA time zone, e.g. Europe/Berlin"},
            "description": {"type": "string", "maxLength": 512},
            "enabled": {"type": "boolean", "default": True, "description": "false: the schedule is kept, paused"},
            "input": {"$ref": f"{task}.json", "description": f"the {task} input (devops-tasks schema {task})"},
        },
    }


def config_schema(infos: list[registry.FunctionInfo]) -> dict[str, Any]:
    """The JSON Schema of a configuration file (config/<stage>.yml)."""
    tasks: dict[str, Any] = {}
    for info in sorted(infos, key=lambda i: i.task_name):
        policies: dict[str, Any] = {"type": "object", "description": "named policies; they replace the defaults"}
        if info.policies is None:
            policies |= {"maxProperties": 0, "description": f"{info.task_name} is not run on a schedule"}
        else:
            policies |= {
                "propertyNames": {"pattern": POLICY_NAME.pattern},
                "additionalProperties": _policy_schema(info.task_name),
            }
        tasks[info.task_name] = {
            "type": "object",
            "additionalProperties": False,
            "description": info.description,
            "properties": {
                "enabled": {"type": "boolean", "default": True, "description": "false: the task is not deployed"},
                "policies": policies,
            },
        }
    return {
        "$schema": DRAFT,
        "title": "devops-tasks configuration (config/<stage>.yml)",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "tasks": {"type": "object", "additionalProperties": False, "properties": tasks},
            "chatops": {"$ref": f"{CHATOPS}.json", "description": "who may plan and approve what from Slack"},
        },
    }


CHATOPS = "chatops-config"
"""The schema file of the configuration's chatops: block (config/load.js checks the block against it)."""


def chatops_schema() -> dict[str, Any]:
    from functions.chatops.models import ChatopsConfig

    return {"$schema": DRAFT, **ChatopsConfig.model_json_schema()}


def schemas() -> dict[str, dict[str, Any]]:
    """Every schema file of config/schema/, by file name."""
    infos = registry.functions()
    found = {"config.json": config_schema(infos), f"{CHATOPS}.json": chatops_schema()}
    for info in infos:
        if info.policies is not None:
            found[f"{info.task_name}.json"] = input_schema(info)
    return found


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema file (and remove those of tasks that no longer exist)."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = schemas()
    for stale in directory.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink()
    written = []
    for name, schema in wanted.items():
        path = directory / name
        path.write_text(render(schema))
        written.append(path)
    return written
