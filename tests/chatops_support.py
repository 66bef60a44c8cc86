"""Test doubles for ChatOps: signed Slack requests in the Function URL event shape, a fake Slack Web API and
response_url on 127.0.0.1 that record what they receive, and Lambda's side of invoking functions.

Lambda is emulated at the SDK's edge (a ``before-call`` handler of the Invoke operation), as moto cannot run a
function: a synchronous invocation of a task function runs that task's real handler; an asynchronous invocation
of ChatOps itself (Bolt's lazy listener) is queued as Lambda's event queue would hold it, and ``deliver`` runs it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from botocore.awsrequest import AWSResponse

from functions.chatops import handler as chatops_handler
from functions.chatops.app import ChatOps
from functions.chatops.models import Audience, ChatopsConfig, ChatopsSettings, TaskAccess
from functions.chatops.secrets import Secrets
from functions.snapshot_rotation.handler import handler as snapshot_handler
from shared.aws import Clients
from tests.faults import _api_params, _events
from tests.helpers import REGION, FakeContext

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test-token"
CHATOPS_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:devops-tasks-test-chatops"

BUCKET = "devops-tasks-reports"
SNAPSHOT_FN = "devops-tasks-test-snapshotRotation"
GROUP = "devops-tasks-test"
PLANNER, APPROVER, OTHER = "U0PLANNER", "U0APPROVER", "U0OTHER"


def sign(secret: str, body: str, timestamp: int) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def url_event(
    body: str, *, secret: str = SECRET, timestamp: int | None = None, signature: str | None = None
) -> dict[str, Any]:
    """A Lambda Function URL (payload format 2.0) POST of ``body``, signed as Slack signs it."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "host": "abcdefghij.lambda-url.eu-west-1.on.aws",
            "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "x-slack-request-timestamp": str(ts),
            "x-slack-signature": signature if signature is not None else sign(secret, body, ts),
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghij",
            "domainName": "abcdefghij.lambda-url.eu-west-1.on.aws",
            "domainPrefix": "abcdefghij",
            "http": {
                "method": "POST",
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "3.4.5.6",
                "userAgent": "Slackbot 1.0",
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Dec/2026:12:00:00 +0000",
            "timeEpoch": ts * 1000,
        },
        "body": base64.b64encode(body.encode()).decode(),
        "isBase64Encoded": True,
    }


def command_body(text: str, *, user: str, channel: str = "C0OPS", response_url: str, command: str = "/devops") -> str:
    return urllib.parse.urlencode(
        {
            "token": "legacy-unused",
            "team_id": "T0TEAM",
            "team_domain": "example",
            "channel_id": channel,
            "channel_name": "ops",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0APP",
            "response_url": response_url,
            "trigger_id": "13345224609.738474920.8088930838d88f",
        }
    )


def action_body(action_id: str, value: str, *, user: str, channel: str = "C0OPS", response_url: str) -> str:
    payload = {
        "type": "block_actions",
        "team": {"id": "T0TEAM", "domain": "example"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "token": "legacy-unused",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": channel},
        "trigger_id": "13345224609.738474920.8088930838d88f",
        "channel": {"id": channel, "name": "ops"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "decision",
                "type": "button",
                "value": value,
                "action_ts": "1700000001.000200",
                "text": {"type": "plain_text", "text": action_id},
            }
        ],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


class FakeSlack:
    """Slack's Web API (``/api/<method>``) and response URLs (``/response/<n>``) on 127.0.0.1, recording posts."""

    def __init__(self, groups: dict[str, list[str]] | None = None) -> None:
        self.groups = groups or {}
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.auth: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                if "json" in (self.headers.get("content-type") or ""):
                    data = json.loads(raw or "{}")
                else:
                    data = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
                with fake._lock:
                    fake.posts.append((self.path, data))
                    fake.auth.append((self.path, self.headers.get("authorization")))
                if self.path == "/api/usergroups.users.list":
                    answer: Any = {"ok": True, "users": fake.groups.get(data.get("usergroup", ""), [])}
                elif self.path.startswith("/api/"):
                    answer = {"ok": True, "channel": data.get("channel"), "ts": "1700000000.000100"}
                else:
                    answer = None
                out = json.dumps(answer).encode() if answer is not None else b"ok"
                self.send_response(200)
                self.send_header("content-type", "application/json" if answer is not None else "text/plain")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.api = self.base + "/api/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        self._n = 0

    def response_url(self) -> str:
        self._n += 1
        return f"{self.base}/response/{self._n}"

    def to(self, prefix: str) -> list[dict[str, Any]]:
        with self._lock:
            return [data for path, data in self.posts if path.startswith(prefix)]

    def responses(self) -> list[dict[str, Any]]:
        return self.to("/response/")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeLambda:
    """Lambda's Invoke, answered at the SDK edge: task functions run their handlers, ChatOps's own asynchronous
    invocations are queued for :meth:`deliver`."""

    def __init__(self, handlers: dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]]) -> None:
        self.handlers = handlers
        self.queued: list[dict[str, Any]] = []
        self.invoked: list[tuple[str, str, dict[str, Any]]] = []

    def attach(self, client: Any) -> FakeLambda:
        _events(client).register_first("before-call.lambda.Invoke", self._invoke)
        return self

    def _invoke(self, context: dict[str, Any] | None = None, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        params = _api_params(context)
        name = params["FunctionName"]
        kind = params.get("InvocationType", "RequestResponse")
        payload = json.loads(params.get("Payload") or b"{}")
        self.invoked.append((name, kind, payload))
        http = AWSResponse("https://lambda.invalid/", 202 if kind == "Event" else 200, {}, None)  # type: ignore[arg-type]
        if kind == "Event":
            self.queued.append(payload)
            return http, {"StatusCode": 202, "Payload": io.BytesIO(b""), "ResponseMetadata": {"HTTPStatusCode": 202}}
        try:
            body: Any = self.handlers[name](payload, FakeContext(function_name=name))
            error = None
        except Exception as exc:  # noqa: BLE001 - Lambda turns a raised error into a FunctionError answer
            body, error = {"errorMessage": str(exc), "errorType": type(exc).__name__}, "Unhandled"
        parsed = {
            "StatusCode": 200,
            "Payload": io.BytesIO(json.dumps(body, default=str).encode()),
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }
        if error:
            parsed["FunctionError"] = error
        return http, parsed

    def deliver(self, handler: Callable[[dict[str, Any], Any], Any]) -> int:
        """Run the queued asynchronous invocations (Bolt's lazy listeners), as Lambda would; how many ran."""
        ran = 0
        while self.queued:
            event = self.queued.pop(0)
            handler(event, FakeContext(function_name="devops-tasks-test-chatops", invoked_function_arn=CHATOPS_ARN))
            ran += 1
        return ran

    def task_invocations(self) -> list[tuple[str, dict[str, Any]]]:
        return [(name, payload) for name, kind, payload in self.invoked if kind == "RequestResponse"]


@dataclass
class Rig:
    slack: FakeSlack
    lam: FakeLambda
    calls: list[tuple[str, str]]
    session: boto3.Session
    now: list[datetime] = field(default_factory=lambda: [datetime.now(UTC)])
    config: ChatopsConfig = field(default_factory=ChatopsConfig)
    functions: dict[str, str] = field(default_factory=lambda: {"snapshot-rotation": SNAPSHOT_FN})
    _parts: list[tuple[Clients, Secrets]] = field(default_factory=list)

    def settings(self) -> ChatopsSettings:
        return ChatopsSettings(
            config=self.config,
            functions=self.functions,
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
        context = FakeContext(function_name="devops-tasks-test-chatops", invoked_function_arn=CHATOPS_ARN)
        return self.app().handle(event, context)

    def deliver(self) -> int:
        """Lambda delivers the queued lazy-listener invocations (each a new request to the app)."""
        return self.lam.deliver(lambda event, context: self.app().handle(event, context))

    def aws_calls(self) -> list[tuple[str, str]]:
        return list(self.calls)


def rig_for(monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    """The estate ChatOps works in (against whatever endpoint boto3 is pointed at), and the doubles around it."""
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


# ---- a conversation ------------------------------------------------------------------------------------


def volume(name: str) -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    tags = [{"Key": "Backup", "Value": "true"}, {"Key": "Name", "Value": name}]
    created = ec2.create_volume(
        AvailabilityZone=f"{REGION}a", Size=1, TagSpecifications=[{"ResourceType": "volume", "Tags": tags}]
    )
    return str(created["VolumeId"])


def snapshots() -> int:
    return len(boto3.client("ec2", region_name=REGION).describe_snapshots(OwnerIds=["self"])["Snapshots"])


def configure(rig: Rig) -> None:
    rig.config = ChatopsConfig(access={"snapshot-rotation": TaskAccess(approve=Audience(groups=["S0APPROVERS"]))})


def plan_message(rig: Rig, text: str = "plan snapshot-rotation daily") -> dict[str, Any]:
    """The plan message posted to the command's response_url, after Lambda ran the lazy listener."""
    url = rig.slack.response_url()
    ack = rig.handle(url_event(command_body(text, user=PLANNER, response_url=url)))
    assert ack["statusCode"] == 200
    assert rig.deliver() == 1
    (posted,) = rig.slack.responses()
    return posted


def button(message: dict[str, Any], action: str) -> str:
    (actions,) = [b for b in message["blocks"] if b["type"] == "actions"]
    (button,) = [e for e in actions["elements"] if e["action_id"] == action]
    return str(button["value"])


def click(rig: Rig, action: str, value: str, user: str = APPROVER) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    before = len(rig.slack.responses())
    body = action_body(action, value, user=user, response_url=rig.slack.response_url())
    ack = rig.handle(url_event(body))
    rig.deliver()
    return ack, rig.slack.responses()[before:]
