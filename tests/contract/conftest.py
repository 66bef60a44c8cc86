"""The packaged CloudFormation template, built once per test session with ``serverless package``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def serverless(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: int = 300) -> str:
    """Run the project's pinned Serverless Framework (osls) and return its output; fail the test if it fails."""
    npx = shutil.which("npx")
    assert npx, "npx (Node.js) is required"
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
    return proc.stdout + proc.stderr


@pytest.fixture(scope="session")
def package_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sls-package")
    serverless("package", "--stage", "contract", "--region", "eu-west-1", "--package", str(out))
    return out


@pytest.fixture(scope="session")
def template(package_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((package_dir / "cloudformation-template-update-stack.json").read_text())
    return data
