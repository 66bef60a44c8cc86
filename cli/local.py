"""Running a real Lambda handler in this process, as Lambda would: an event, a context, the response."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cli.registry import FunctionInfo
from shared.errors import InputError, RunFailed


@contextmanager
def cli_option(name: str, value: str) -> Iterator[None]:
    """Give a CLI-only input field (``shared.inputs.CLI_ONLY``, refused in events) to the handlers run meanwhile:
    it reaches them as ``DEVOPS_TASKS_<NAME>`` of this process, as the field's default."""
    variable = "DEVOPS_TASKS_" + name.upper()
    before = os.environ.get(variable)
    os.environ[variable] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[variable]
        else:
            os.environ[variable] = before


@dataclass
class LocalContext:
    """A Lambda context for local runs. ``timeout_s`` plays the function's timeout."""

    function_name: str
    timeout_s: float = 900.0
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _start: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return int(max(0.0, self.timeout_s - (time.monotonic() - self._start)) * 1000)


@dataclass
class Outcome:
    """What an invocation returned or raised."""

    ok: bool
    response: dict[str, Any] | None
    error: str | None = None
    kind: str | None = None


def quiet_logs(level: str = "WARNING") -> None:
    """Local runs: Powertools logs on stderr at ``level``, no EMF metric lines, no tracing."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", level)
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "DevopsTasks")
    # a run refused before its first metric has nothing to publish: the refusal is the message, not this warning
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
    from shared.observability import logger

    logger.setLevel(os.environ["POWERTOOLS_LOG_LEVEL"])
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)


DEFAULT_ENDPOINT_REGION = "us-east-1"
"""The region used against an endpoint when none is configured (emulators accept any)."""


def use_endpoint(endpoint_url: str | None) -> list[str]:
    """Against an endpoint (``endpoint_url`` or ``AWS_ENDPOINT_URL``), fill in what an emulator does not check.

    Without credentials (environment, profiles, SSO: the standard chain, not the instance metadata service) dummy
    ones are set, and without a region ``us-east-1``; each is returned as a line that says so. Against real AWS (no
    endpoint) nothing is changed: a missing credential there is the error to show.
    """
    env = os.environ
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    endpoint = env.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return []
    import botocore.session

    session = botocore.session.Session()
    resolver = session.get_component("credential_provider")
    for remote in ("container-role", "iam-role"):  # no metadata service to wait for on a laptop
        resolver.remove(remote)
    notes = []
    if resolver.load_credentials() is None:
        env["AWS_ACCESS_KEY_ID"] = "testing"
        env["AWS_SECRET_ACCESS_KEY"] = "testing"  # a placeholder the endpoint accepts, not a secret
        notes.append(f"no AWS credentials configured: using dummy ones (testing/testing) for {endpoint}")
    if not session.get_config_variable("region") and not env.get("AWS_REGION"):
        env["AWS_DEFAULT_REGION"] = env["AWS_REGION"] = DEFAULT_ENDPOINT_REGION
        notes.append(f"no AWS region configured: using {DEFAULT_ENDPOINT_REGION} for {endpoint}")
    return notes


def is_manual_payload(event: dict[str, Any]) -> bool:
    return not ({"Records", "detail-type"} & set(event))


def invoke(info: FunctionInfo, event: dict[str, Any], *, timeout_s: float = 900.0) -> Outcome:
    """Call the function's real handler; a failed run still carries its report."""
    handler = info.handler_function()
    context = LocalContext(function_name=f"devops-tasks-local-{info.key}", timeout_s=timeout_s)
    try:
        response = handler(json.loads(json.dumps(event)), context)
    except RunFailed as exc:
        return Outcome(False, exc.report, str(exc), "RunFailed")
    except InputError as exc:
        return Outcome(False, None, str(exc), "InputError")
    return Outcome(True, response if isinstance(response, dict) else {"response": response})
