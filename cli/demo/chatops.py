"""Demo: a short Slack conversation with ChatOps, rendered in the terminal. Each message is a request signed with
the demo's signing secret in the Function URL event shape, handed to the real chatops app; the bot's answers
arrive at a local stand-in for Slack (response_url and the Web API on 127.0.0.1) and are printed as text. Lambda's
side (invoking the task function, the asynchronous lazy listener) is played here, at the SDK's edge."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from cli import registry
from cli.demo import DemoEnv
from cli.local import LocalContext

TITLE = "ChatOps: plan, approve and run from Slack"
SECRET = "demo-signing-secret"
ALICE, BOB = "U0ALICE", "U0BOB"
GROUP = "devops-tasks-demo"
FUNCTION = "devops-tasks-demo-snapshotRotation"
SELF = "devops-tasks-demo-chatops"


class _Slack:
    """What Slack receives from the bot: posts to response URLs and Web API calls, in order."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        slack = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                data = json.loads(raw) if raw.startswith("{") else dict(urllib.parse.parse_qsl(raw))
                slack.posts.append(data)
                out = json.dumps({"ok": True, "users": [], "ts": "1"}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _event(body: str) -> dict[str, Any]:
    ts = int(time.time())
    signature = "v0=" + hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "version": "2.0",
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": str(ts),
            "x-slack-signature": signature,
        },
        "requestContext": {"http": {"method": "POST", "path": "/"}},
        "body": base64.b64encode(body.encode()).decode(),
        "isBase64Encoded": True,
    }


class _Lambda:
    """Invoke as Lambda answers it: the task function's handler runs; ChatOps's own async invocations queue."""

    def __init__(self) -> None:
        self.queued: list[dict[str, Any]] = []
        self.handler = registry.find("snapshot-rotation").handler_function()

    def __call__(self, params: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
        payload = json.loads(params.get("Payload") or b"{}")
        http = AWSResponse("https://lambda.invalid/", 200, {}, None)  # type: ignore[arg-type]
        if params.get("InvocationType") == "Event":
            self.queued.append(payload)
            return http, {"StatusCode": 202, "Payload": io.BytesIO(b"")}
        body = self.handler(payload, LocalContext(function_name=FUNCTION))
        return http, {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body, default=str).encode())}


def run(env: DemoEnv) -> None:
    from functions.chatops import handler as chatops
    from functions.chatops.app import ChatOps
    from functions.chatops.models import Audience, ChatopsConfig, ChatopsSettings, TaskAccess
    from functions.chatops.plans import text_of
    from functions.chatops.secrets import Secrets
    from shared.aws import Clients

    ssm = env.client("ssm")
    ssm.put_parameter(Name="/devops-tasks/demo/chatops/signing-secret", Value=SECRET, Type="SecureString")
    ssm.put_parameter(Name="/devops-tasks/demo/chatops/bot-token", Value="xoxb-demo", Type="SecureString")
    policy = registry.find("snapshot-rotation").schedule_input() or {}
    policy["regions"] = [env.region]
    scheduler = env.client("scheduler")
    scheduler.create_schedule_group(Name=GROUP)
    scheduler.create_schedule(
        Name="snapshot-rotation-daily",
        GroupName=GROUP,
        ScheduleExpression="cron(15 3 * * ? *)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": f"arn:aws:lambda:{env.region}:{env.account}:function:{FUNCTION}",
            "RoleArn": f"arn:aws:iam::{env.account}:role/scheduler",
            "Input": json.dumps(policy),
        },
    )
    ec2 = env.client("ec2")
    for name in ("chat-db", "chat-web"):
        ec2.create_volume(
            AvailabilityZone=f"{env.region}a",
            Size=8,
            TagSpecifications=[
                {"ResourceType": "volume", "Tags": [{"Key": "Backup", "Value": "true"}, {"Key": "Name", "Value": name}]}
            ],
        )

    slack = _Slack()
    lam = _Lambda()
    settings = ChatopsSettings(
        config=ChatopsConfig(access={"snapshot-rotation": TaskAccess(approve=Audience(users=[ALICE, BOB]))}),
        functions={"snapshot-rotation": FUNCTION},
        schedule_group=GROUP,
        report_bucket=env.report_bucket,
        signing_secret_parameter="/devops-tasks/demo/chatops/signing-secret",
        bot_token_parameter="/devops-tasks/demo/chatops/bot-token",
        slack_api_url=slack.base + "/api/",
    )
    clients = Clients(session=boto3.Session(region_name=env.region))
    events = clients.client("lambda").meta.events
    events.register("before-parameter-build.lambda.Invoke", _keep_params)
    events.register_first("before-call.lambda.Invoke", lambda context, **_: lam(context["demo_params"]))
    secrets = Secrets(
        clients.client("ssm"), signing_secret=settings.signing_secret_parameter, bot_token=settings.bot_token_parameter
    )

    def app() -> ChatOps:
        return chatops.build(settings, clients, secrets, clock=lambda: datetime.now(UTC))

    def send(who: str, body: str, said: str) -> None:
        env.console.print(f"[bold]{who}[/bold] {said}")
        event = _event(body)
        env.console.print(f"[dim]  POST, x-slack-signature {event['headers']['x-slack-signature'][:19]}…[/dim]")
        seen = len(slack.posts)
        answer = app().handle(event, LocalContext(function_name=SELF))
        raw = str(answer.get("body") or "")
        ack = json.loads(raw) if raw.startswith("{") else {}
        if ack.get("text"):
            env.console.print(f"  [cyan]bot (only to {who})[/cyan] {ack['text']}")
        while lam.queued:
            app().handle(lam.queued.pop(0), LocalContext(function_name=SELF))
        for post in slack.posts[seen:]:
            text = text_of(post["blocks"]) if post.get("blocks") else post.get("text", "")
            env.console.print("  [green]bot[/green] " + text.replace("\n", "\n      "))

    def command(user: str, text: str) -> str:
        return urllib.parse.urlencode(
            {
                "team_id": "T0DEMO",
                "channel_id": "C0OPS",
                "user_id": user,
                "command": "/devops",
                "text": text,
                "response_url": slack.base + "/response",
            }
        )

    def click(user: str, action: str, value: str) -> str:
        payload = {
            "type": "block_actions",
            "team": {"id": "T0DEMO"},
            "user": {"id": user},
            "channel": {"id": "C0OPS"},
            "response_url": slack.base + "/response",
            "actions": [{"action_id": action, "block_id": "decision", "type": "button", "value": value}],
        }
        return urllib.parse.urlencode({"payload": json.dumps(payload)})

    send("alice", command(ALICE, "plan snapshot-rotation daily"), "/devops plan snapshot-rotation daily")
    plan = next(p for p in reversed(slack.posts) if p.get("blocks"))
    value = next(e["value"] for b in plan["blocks"] if b["type"] == "actions" for e in b["elements"])
    send("alice", click(ALICE, "approve", value), "clicks [Approve] on her own plan")
    send("bob", click(BOB, "approve", value), "clicks [Approve]")
    send("bob", click(BOB, "approve", value), "clicks [Approve] again")
    forged = _event(command(ALICE, "plan snapshot-rotation"))
    forged["headers"]["x-slack-signature"] = "v0=" + "0" * 64
    status = app().handle(forged, LocalContext(function_name=SELF))["statusCode"]
    env.console.print(f"[bold]someone[/bold] posts a command with a wrong signature: [red]{status}[/red]")
    slack.server.shutdown()
    snapshots = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    env.console.print(f"EBS snapshots now: {len(snapshots)}")


def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["demo_params"] = dict(params)
