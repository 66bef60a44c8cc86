"""Helpers for tests: event fixtures and a fake Lambda context."""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS = Path(__file__).parent / "events"
REGION = "eu-west-1"


def load_event(name: str) -> dict[str, Any]:
    """A JSON event fixture from tests/events/ (e.g. ``load_event("eventbridge_scheduled.json")``)."""
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


@dataclass
class FakeContext:
    """The parts of a Lambda context that the handlers and Powertools read."""

    remaining_ms: int = 900_000
    function_name: str = "devops-tasks-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:devops-tasks-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def serverless(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: int = 300) -> str:
    """Run the project's pinned Serverless Framework (osls); return its stdout, failing the test if it fails."""
    npx = shutil.which("npx")
    assert npx, "npx (Node.js) is required"
    # osls stages every package in <service>/.serverless/, whatever --package says: two commands at once in one
    # checkout (pytest -n) would overwrite each other's zips, so they take turns.
    lock = Path(tempfile.gettempdir()) / f"devops-tasks-sls-{hashlib.sha256(str(cwd).encode()).hexdigest()[:12]}.lock"
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = subprocess.run(
            [npx, "--no-install", "serverless", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    assert proc.returncode == 0, f"serverless {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout
