"""ChatOps under in-process moto: the reports bucket, its SecureString parameters, a schedule of the snapshot
rotation, a fake Slack on 127.0.0.1, Lambda emulated at the SDK edge, and every AWS call recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from functions.chatops import handler as chatops_handler
from functions.chatops.app import ChatOps
from functions.chatops.models import ChatopsConfig, ChatopsSettings
from functions.chatops.secrets import Secrets
from functions.snapshot_rotation.handler import handler as snapshot_handler
from shared.aws import Clients
from tests.chatops_support import SECRET, TOKEN, FakeLambda, FakeSlack
from tests.helpers import REGION

BUCKET = "devops-tasks-reports"
SNAPSHOT_FN = "devops-tasks-test-snapshotRotation"
GROUP = "devops-tasks-test"
PLANNER, APPROVER, OTHER = "U0PLANNER", "U0APPROVER", "U0OTHER"


@dataclass
class Rig:
    slack: FakeSlack
    lam: FakeLambda
    calls: list[tuple[str, str]]
    session: boto3.Session
    now: list[datetime] = field(default_factory=lambda: [datetime.now(UTC)])
    config: ChatopsConfig = field(default_factory=ChatopsConfig)
    _parts: list[tuple[Clients, Secrets]] = field(default_factory=list)

    def settings(self) -> ChatopsSettings:
        return ChatopsSettings(
            config=self.config,
            functions={"snapshot-rotation": SNAPSHOT_FN},
            schedule_group=GROUP,
            report_bucket=BUCKET,
            signing_secret_parameter="/devops-tasks/test/chatops/signing-secret",
            bot_token_parameter="/devops-tasks/test/chatops/bot-token",
            slack_api_url=self.slack.api,
        )

    def app(self) -> ChatOps:
        """The app as one invocation builds it; clients and secrets live as long as the execution environment."""
        settings = self.settings()
        if not self._parts:
            clients = Clients(session=self.session)
            secrets = Secrets(
                clients.client("ssm"),
                signing_secret=settings.signing_secret_parameter,
                bot_token=settings.bot_token_parameter,
            )
            self.lam.attach(clients.client("lambda"))
            self._parts.append((clients, secrets))
        clients, secrets = self._parts[0]
        return chatops_handler.build(settings, clients, secrets, clock=lambda: self.now[0])

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        from tests.chatops_support import CHATOPS_ARN
        from tests.helpers import FakeContext

        context = FakeContext(function_name="devops-tasks-test-chatops", invoked_function_arn=CHATOPS_ARN)
        return self.app().handle(event, context)

    def deliver(self) -> int:
        """Lambda delivers the queued lazy-listener invocations (each a new request to the app)."""
        return self.lam.deliver(lambda event, context: self.app().handle(event, context))

    def aws_calls(self) -> list[tuple[str, str]]:
        return list(self.calls)


@pytest.fixture
def rig(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    parameters.clear_caches()
    monkeypatch.setenv("DEVOPS_TASKS_REPORT_BUCKET", BUCKET)
    setup = boto3.Session(region_name=REGION)
    setup.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    ssm = setup.client("ssm")
    ssm.put_parameter(Name="/devops-tasks/test/chatops/signing-secret", Value=SECRET, Type="SecureString")
    ssm.put_parameter(Name="/devops-tasks/test/chatops/bot-token", Value=TOKEN, Type="SecureString")
    scheduler = setup.client("scheduler")
    scheduler.create_schedule_group(Name=GROUP)
    daily = {
        "regions": [REGION],
        "policy": {
            "name": "default",
            "volume_tag_key": "Backup",
            "volume_tag_values": ["true"],
            "retention": {"keep_last": 1},
        },
    }
    scheduler.create_schedule(
        Name="snapshot-rotation-daily",
        GroupName=GROUP,
        ScheduleExpression="cron(15 3 * * ? *)",
        ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": f"arn:aws:lambda:{REGION}:123456789012:function:{SNAPSHOT_FN}",
            "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
            "Input": json.dumps(daily | {"schedule": {"policy": "daily"}}),
        },
    )
    calls: list[tuple[str, str]] = []
    session = boto3.Session(region_name=REGION)
    session.events.register(
        "before-call", lambda model, **_: calls.append((model.service_model.service_name, model.name))
    )
    slack = FakeSlack(groups={"S0APPROVERS": [APPROVER]})
    lam = FakeLambda({SNAPSHOT_FN: snapshot_handler})
    yield Rig(slack=slack, lam=lam, calls=calls, session=session)
    slack.close()
    parameters.clear_caches()
