"""Task input: settings common to every task, and parsing of the three event shapes a task receives.

1. The constant ``input`` of an EventBridge schedule rule: the function receives that JSON object as is.
2. A raw EventBridge event (e.g. a rule without ``input``): its ``detail`` object is the payload.
3. A manual payload (CLI, ``serverless invoke``): a JSON object.

Defaults come from environment variables set in serverless.yml, named ``DEVOPS_TASKS_<FIELD>`` (a JSON value
or a plain string; a plain string for a list field is split on commas). The event overrides them.
Invalid input raises :class:`InputError` naming each bad field, before any AWS call.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from types import UnionType
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.errors import InputError
from shared.pacing import RateLimits
from shared.partitions import check_region, partition_ids, partition_of

ENV_PREFIX = "DEVOPS_TASKS_"

Region = Annotated[str, AfterValidator(check_region)]
"""A region botocore's partition data knows (checked without any AWS call)."""


def _region_or_all(value: str) -> str:
    return value if value == "all" else check_region(value)


_IAM_NAME = r"[A-Za-z0-9_+=,.@-]"
ROLE_NAME_RE = re.compile(_IAM_NAME + "{1,64}")
ROLE_ARN_RE = re.compile(
    rf"arn:(?P<partition>[a-z-]+):iam::(?P<account>\d{{12}}):role/(?P<path>(?:{_IAM_NAME}+/)*)(?P<name>{_IAM_NAME}{{1,64}})"
)
"""IAM's rules for role names (1-64 of ``A-Za-z0-9_+=,.@-``) and role ARNs of any partition, matched whole.

Path segments are held to the name's characters (IAM allows more punctuation in paths; none of it is needed here,
and ``*`` would read as a wildcard to a person reviewing the input)."""


def check_role_arn(value: str) -> str:
    """A role ARN of a partition botocore knows (``arn:aws-cn:iam::123456789012:role/path/name``), else ValueError."""
    found = ROLE_ARN_RE.fullmatch(value)
    if found is None or len(value) > 2048 or len(found["path"]) > 511:
        raise ValueError(f"{value!r} is not an IAM role ARN (arn:<partition>:iam::<12-digit account>:role/<name>)")
    if found["partition"] not in partition_ids():
        raise ValueError(f"{value!r}: unknown partition {found['partition']!r} (known: {sorted(partition_ids())})")
    return value


def check_role(value: str) -> str:
    """An IAM role name, or a role ARN (see :func:`check_role_arn`)."""
    if value.startswith("arn:"):
        return check_role_arn(value)
    if ROLE_NAME_RE.fullmatch(value) is None:
        raise ValueError(f"{value!r} is not an IAM role name (1-64 of A-Z a-z 0-9 _+=,.@-) nor a role ARN")
    return value


def check_role_name(value: str) -> str:
    """An IAM role name (no ARN: the same name is assumed in every account), else ValueError."""
    if ROLE_NAME_RE.fullmatch(value) is None:
        raise ValueError(
            f"{value!r} is not an IAM role name (1-64 of A-Z a-z 0-9 _+=,.@-): name the role, which every "
            "account of the organization has under that name, not an ARN of one account"
        )
    return value


BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
TOPIC_ARN_RE = re.compile(
    r"arn:(?P<partition>[a-z-]+):sns:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<name>[A-Za-z0-9_-]{1,256}(\.fifo)?)"
)


def check_bucket_name(value: str) -> str:
    """An S3 bucket name by S3's naming rules, else ValueError (``""`` included: never a silent "no bucket")."""
    if value == "":
        raise ValueError("empty: name the bucket, or leave the field out (null) when nothing is to be written")
    if BUCKET_RE.fullmatch(value) is None or ".." in value or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", value):
        raise ValueError(f"{value!r} is not an S3 bucket name (3-63 of a-z 0-9 . -, starting and ending alphanumeric)")
    return value


def check_topic_arn(value: str) -> str:
    """An SNS topic ARN of a partition and region botocore knows, else ValueError (``""`` included)."""
    if value == "":
        raise ValueError("empty: name the topic's ARN, or leave the field out (null) for no notification")
    found = TOPIC_ARN_RE.fullmatch(value)
    if found is None or found["partition"] not in partition_ids() or partition_of(found["region"]) is None:
        raise ValueError(f"{value!r} is not an SNS topic ARN (arn:<partition>:sns:<region>:<account>:<name>)")
    return value


BucketName = Annotated[str, AfterValidator(check_bucket_name)]
TopicArn = Annotated[str, AfterValidator(check_topic_arn)]

RoleArn = Annotated[str, AfterValidator(check_role_arn)]
"""A role ARN checked against IAM's rules before it reaches STS."""


def arn_account(arn: str) -> str:
    """The account of a (checked) role ARN."""
    return arn.split(":")[4]


def arn_partition(arn: str) -> str:
    """The partition of a (checked) role ARN."""
    return arn.split(":")[1]


class AccountConfig(BaseModel):
    """Another account to work in, reached with STS AssumeRole."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: str = Field(pattern=r"^\d{12}$")
    role: Annotated[str, AfterValidator(check_role)] = Field(
        description="role name in that account, or a full role ARN (in that account)"
    )
    external_id: str | None = Field(default=None, min_length=2, max_length=1224, pattern=r"^[\w+=,.@:/-]+$")

    @model_validator(mode="after")
    def _role_in_account(self) -> AccountConfig:
        if self.role.startswith("arn:") and arn_account(self.role) != self.account_id:
            raise ValueError(
                f"role {self.role} is in account {arn_account(self.role)}, not in account_id {self.account_id}: "
                "the unit would be reported under the wrong account"
            )
        return self


class ScheduledBy(BaseModel):
    """Which policy's schedule started the run. The schedule sets it (config/load.js), never the policy's input."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    scheduled_time: str | None = Field(default=None, description="when the schedule was due (ISO 8601, UTC)")
    execution_id: str | None = Field(default=None, description="EventBridge Scheduler's id of this invocation")


class ApprovedBy(BaseModel):
    """Who asked for and who approved the plan this run carries out (ChatOps sets it); recorded in the report.

    An audit record, not a permission: whoever may invoke the function may run it with any input."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    via: Literal["slack"] = "slack"
    plan_id: str = Field(pattern=r"^[a-f0-9]{32}$")
    digest: str = Field(pattern=r"^[a-f0-9]{64}$", description="SHA-256 of the planned actions that were shown")
    requested_by: str = Field(max_length=64)
    approved_by: str = Field(max_length=64)
    approved_at: str = Field(max_length=64, description="ISO 8601")
    channel: str | None = Field(default=None, max_length=64)


MAX_REGIONS = 64
"""More than any partition has (botocore knows 37 regions in ``aws``)."""
MAX_ACCOUNTS = 1000
"""Accounts per run: each is at least one unit on a 15-minute Lambda; a larger estate is split into policies."""


OU_ID_RE = r"^(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$"
"""Organizations' patterns of an organizational unit id (``ou-...``) and a root id (``r-...``)."""
MAX_OUS = 100
"""OUs named per run (their nested OUs are found by discovery and count for nothing here)."""
DEFAULT_MEMBER_ROLE = "devops-tasks-member"
"""The member role's name in deploy/member-role.yml and the stage parameter ``crossAccountRoleName``."""


class OrganizationSpec(BaseModel):
    """The accounts of the AWS Organizations organization of these credentials (the management account or a
    delegated administrator), discovered at the start of each run: ACTIVE accounts only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    include_ous: list[Annotated[str, Field(max_length=68, pattern=OU_ID_RE)]] = Field(
        default_factory=list,
        max_length=MAX_OUS,
        description="OUs (ou-...) or the root (r-...) whose accounts are worked in, nested OUs included; "
        "empty: every account of the organization",
    )
    exclude_accounts: list[Annotated[str, Field(max_length=12, pattern=r"^\d{12}$")]] = Field(
        default_factory=list, max_length=MAX_ACCOUNTS, description="accounts never worked in, even when discovered"
    )
    role: Annotated[str, AfterValidator(check_role_name)] = Field(
        default=DEFAULT_MEMBER_ROLE,
        description="the member role's name, the same in every account (deploy/member-role.yml)",
    )
    external_id: str | None = Field(default=None, min_length=2, max_length=1224, pattern=r"^[\w+=,.@:/-]+$")


class OrganizationAccounts(BaseModel):
    """``accounts: {"organization": {...}}``: the accounts come from AWS Organizations, not from a list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    organization: OrganizationSpec


def _accounts_shape(value: Any) -> str:
    return "organization" if isinstance(value, Mapping | OrganizationAccounts) else ""


Accounts = Annotated[
    Annotated[list[AccountConfig], Field(max_length=MAX_ACCOUNTS), Tag("")]
    | Annotated[OrganizationAccounts, Tag("organization")],
    Discriminator(_accounts_shape),
]
"""A list of accounts, or ``{"organization": {...}}``; an error names the field of the shape given, not both."""


class TaskSettings(BaseModel):
    """What every task's input has in common. Task models subclass it."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = False
    regions: list[Annotated[str, Field(max_length=32), AfterValidator(_region_or_all)]] = Field(
        default_factory=list,
        max_length=MAX_REGIONS,
        description="regions to work in; empty means the function's own region, ['all'] every enabled one",
    )
    accounts: Accounts = Field(
        default_factory=list,
        description="other accounts (at most 1,000, each at most once), or {'organization': {...}} for the "
        "organization's accounts; empty means the current account only",
    )
    report_bucket: BucketName | None = Field(default=None, description="where the run report goes; null: not written")
    report_prefix: str = Field(default="reports", max_length=512)
    notify_topic_arn: TopicArn | None = Field(default=None, description="where summaries go; null: none sent")
    notify_on: Literal["failure", "always", "never"] = "failure"
    time_margin_seconds: float = Field(default=30.0, ge=0, le=900, description="at most Lambda's longest timeout")
    max_seconds: float | None = Field(
        default=None, gt=0, le=7 * 86_400, description="cap on run time outside Lambda (at most a week)"
    )
    max_workers: int = Field(default=8, ge=1, le=64)
    schedule: ScheduledBy | None = Field(default=None, description="set by the schedule that started the run")
    approval: ApprovedBy | None = Field(
        default=None, description="set by ChatOps: the approved plan this run carries out"
    )
    rate_limits: RateLimits = Field(
        default_factory=dict,
        max_length=100,
        description="client-side pacing by service:Operation, e.g. {'ec2:DeleteSnapshot': {'per_second': 2, "
        "'burst': 5}}, overriding shared.pacing.DEFAULT_RATES",
    )

    works_in_member_accounts: ClassVar[bool] = False
    """Whether the task works in an organization's member accounts (through the member role): only then may its
    ``accounts`` name the organization. A task that sets it declares ``MEMBER_PERMISSIONS``."""

    @field_validator("accounts")
    @classmethod
    def _organization_only_where_supported(cls, value: Any) -> Any:
        if isinstance(value, OrganizationAccounts) and not cls.works_in_member_accounts:
            raise ValueError(
                "this task does not work in an organization's member accounts: list the accounts "
                "(or leave accounts empty for this account)"
            )
        return value

    @field_validator("regions")
    @classmethod
    def _check_regions(cls, value: list[str]) -> list[str]:
        if "all" in value:
            if value != ["all"]:
                raise ValueError("'all' stands alone: ['all'] means every enabled region")
            return value
        partitions = {region: partition_of(region) for region in dict.fromkeys(value)}
        if len(set(partitions.values())) > 1:
            named = ", ".join(f"{region} ({partition})" for region, partition in partitions.items())
            raise ValueError(f"one run works in one partition (one set of credentials), got {named}")
        return list(partitions)

    @field_validator("accounts")
    @classmethod
    def _each_account_once(cls, value: list[AccountConfig] | OrganizationAccounts) -> Any:
        if isinstance(value, OrganizationAccounts):
            return value
        ids = [a.account_id for a in value]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"account(s) given more than once: {', '.join(twice)} (its units would run twice)")
        return value

    @model_validator(mode="after")
    def _accounts_in_the_regions_partition(self) -> TaskSettings:
        if not self.regions or self.regions == ["all"]:
            return self
        partition = partition_of(self.regions[0])
        for acct in self.accounts if isinstance(self.accounts, list) else []:
            if acct.role.startswith("arn:") and arn_partition(acct.role) != partition:
                raise ValueError(
                    f"accounts: role {acct.role} is in partition {arn_partition(acct.role)}, the regions "
                    f"({', '.join(self.regions)}) in {partition}"
                )
        return self

    @field_validator("report_prefix")
    @classmethod
    def _strip_prefix(cls, value: str) -> str:
        return value.strip("/")


M = TypeVar("M", bound=BaseModel)

CLI_ONLY: dict[str, Any] = {"cli_only": True}
"""``json_schema_extra`` of a field only the CLI sets (``DEVOPS_TASKS_<FIELD>`` in its own process, e.g. a local
folder for ``devops-tasks invoke --open``): an event that carries it is refused, since a caller of the function
has no business choosing paths on the machine that runs it."""


def cli_only_fields(model: type[BaseModel]) -> set[str]:
    """The fields of ``model`` that an event may not set (see :data:`CLI_ONLY`)."""
    return {
        name
        for name, info in model.model_fields.items()
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("cli_only") is True
    }


def payload_of(event: Any) -> dict[str, Any]:
    """The task payload carried by any of the accepted event shapes."""
    if event is None:
        return {}
    if not isinstance(event, Mapping):
        raise InputError(f"event must be a JSON object, got {type(event).__name__}")
    if "detail-type" in event and "source" in event:
        try:
            parsed = parse(event=dict(event), model=EventBridgeModel)
        except ValidationError as exc:
            raise InputError(f"invalid EventBridge event: {exc}") from exc
        detail = parsed.detail
        return dict(detail) if isinstance(detail, Mapping) else {}
    return dict(event)


def _is_text(annotation: Any) -> bool:
    """A ``str`` field (or ``str | None``, or a Literal of strings): its env value is the plain string."""
    if annotation is str:
        return True
    if get_origin(annotation) is Annotated:
        return _is_text(get_args(annotation)[0])
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is Literal:
        return all(isinstance(a, str) for a in args)
    return get_origin(annotation) in (Union, UnionType) and len(args) == 1 and _is_text(args[0])


def _env_value(raw: str, annotation: Any) -> Any:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        if get_origin(annotation) is list or list in get_args(annotation):
            return [part.strip() for part in raw.split(",") if part.strip()]
        return raw
    if _is_text(annotation) and not isinstance(value, str):
        return raw  # e.g. a bucket named 20240101, or a prefix "true"
    return value


def env_defaults(model: type[BaseModel], env: Mapping[str, str]) -> dict[str, Any]:
    """Defaults for the model's top-level fields from ``DEVOPS_TASKS_<FIELD>`` variables."""
    found: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            found[name] = _env_value(raw, info.annotation)
    return found


def parse_input(
    event: Any,
    model: type[M],
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> M:
    """Validate an event into the task's input model: env defaults < event payload < explicit overrides."""
    merged = env_defaults(model, os.environ if env is None else env)
    payload = payload_of(event)
    if refused := sorted(cli_only_fields(model) & set(payload)):
        problems = [f"{name}: a CLI option (set by devops-tasks invoke), not accepted in an event" for name in refused]
        raise InputError("invalid input: " + "; ".join(problems), problems=problems)
    merged.update(payload)
    merged.update(overrides or {})
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        raise InputError.from_validation("input", exc) from exc
