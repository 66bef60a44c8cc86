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
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from botocore.awsrequest import AWSResponse

from tests.faults import _api_params, _events
from tests.helpers import FakeContext

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test-token"
CHATOPS_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:devops-tasks-test-chatops"


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
