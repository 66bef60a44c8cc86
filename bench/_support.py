"""What the in-memory benchmarks share (fanout, lambda_housekeeping, snapshot_rotation).

- :func:`environment`: the process they run in: fake credentials in eu-west-1, no endpoint or profile (nothing
  leaves the process), Powertools quiet, the project importable. Call it before importing the project.
- :func:`keep_params`, :func:`params_of` and :func:`answered`: botocore ``before-call`` handlers that answer from
  memory see the serialised request only; ``keep_params`` (on ``before-parameter-build``) keeps the caller's own
  parameters for them, and ``answered`` makes the (HTTP response, parsed body) pair botocore expects back.
- :func:`load`: the load average, printed next to every figure (the machine is shared).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse

ROOT = Path(__file__).resolve().parent.parent
PARAMS = "bench.params"


def environment(log_level: str = "WARNING", *, metrics: bool = True) -> None:
    """Set the benchmark's environment; ``metrics=False`` also turns Powertools metrics off."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", log_level)
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "DevopsTasks")
    if not metrics:
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    for var, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        os.environ[var] = value
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_PROFILE", None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """``before-parameter-build``: keep the call's parameters for the ``before-call`` handler."""
    context[PARAMS] = dict(params)


def params_of(context: dict[str, Any]) -> dict[str, Any]:
    """The parameters :func:`keep_params` kept for this call."""
    found: dict[str, Any] = context.get(PARAMS, {})
    return found


def answered(
    body: dict[str, Any], status: int = 200, url: str = "https://bench.invalid/"
) -> tuple[AWSResponse, dict[str, Any]]:
    """What a ``before-call`` handler returns to answer a call without sending it."""
    http = AWSResponse(url, status, {}, None)  # type: ignore[arg-type]
    return http, body | {"ResponseMetadata": {"HTTPStatusCode": status}}


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min), {os.cpu_count()} cores"
