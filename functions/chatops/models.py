"""ChatOps settings: who may do what (config/<stage>.yml, ``chatops:``) and the function's own environment."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.errors import InputError

SlackUser = Annotated[str, Field(pattern=r"^[UW][A-Z0-9]{2,20}$")]
SlackGroup = Annotated[str, Field(pattern=r"^S[A-Z0-9]{2,20}$")]
SlackChannel = Annotated[str, Field(pattern=r"^[CGD][A-Z0-9]{2,20}$")]


class Audience(BaseModel):
    """Who may do one thing: a person named in ``users`` or in one of ``groups`` (Slack user groups); and, when
    ``channels`` is set, only from one of those channels. Channels alone admit anyone in them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    users: list[SlackUser] = Field(default_factory=list, max_length=500)
    groups: list[SlackGroup] = Field(default_factory=list, max_length=50)
    channels: list[SlackChannel] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _names_someone(self) -> Audience:
        if not (self.users or self.groups or self.channels):
            raise ValueError("names no one: leave it out instead (approve then admits nobody)")
        return self


class TaskAccess(BaseModel):
    """Who may plan (a dry run) and who may approve (the real run) one task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plan: Audience | None = Field(default=None, description="who may plan; left out: anyone in the workspace")
    approve: Audience | None = Field(default=None, description="who may approve; left out: nobody (deny by default)")


class ChatopsConfig(BaseModel):
    """The ``chatops:`` block of config/<stage>.yml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: str = Field(default="/devops", pattern=r"^/[a-z0-9_-]{1,31}$", description="the slash command")
    approval_minutes: int = Field(default=15, ge=1, le=60, description="how long a plan's Approve button is valid")
    four_eyes: bool = Field(default=True, description="the person who planned may not approve the plan")
    notify_channel: SlackChannel | None = Field(
        default=None, description="where run failures, incomplete runs and audit digests are posted"
    )
    access: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,63}$")], TaskAccess] = Field(
        default_factory=dict, max_length=50, description="per task; a task left out: anyone plans, nobody approves"
    )

    def of(self, task: str) -> TaskAccess:
        return self.access.get(task, TaskAccess())


class ChatopsSettings(BaseModel):
    """The function's environment (serverless.yml and config/load.js set it); secrets are parameter names only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config: ChatopsConfig = Field(default_factory=ChatopsConfig)
    functions: dict[str, str] = Field(default_factory=dict, description="task name -> its Lambda function name")
    schedule_group: str | None = None
    report_bucket: str
    signing_secret_parameter: str = Field(min_length=1)
    bot_token_parameter: str = Field(min_length=1)
    slack_api_url: str = Field(
        default="https://slack.com/api/", pattern=r"^https?://", description="Slack's Web API (GovSlack has its own)"
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ChatopsSettings:
        """From ``DEVOPS_TASKS_CHATOPS_*``; a missing or malformed variable is an InputError naming it."""
        prefix = "DEVOPS_TASKS_CHATOPS_"
        raw: dict[str, Any] = {}
        try:
            for name in ("config", "functions"):
                if env.get(prefix + name.upper()):
                    raw[name] = json.loads(env[prefix + name.upper()])
        except json.JSONDecodeError as exc:
            raise InputError(f"{prefix}{name.upper()}: not JSON ({exc})") from exc
        for name in ("schedule_group", "signing_secret_parameter", "bot_token_parameter", "slack_api_url"):
            if env.get(prefix + name.upper()):
                raw[name] = env[prefix + name.upper()]
        if env.get("DEVOPS_TASKS_REPORT_BUCKET"):
            raw["report_bucket"] = env["DEVOPS_TASKS_REPORT_BUCKET"]
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise InputError.from_validation("chatops settings", exc) from exc
