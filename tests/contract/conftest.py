"""The packaged CloudFormation template, built once per test session with ``serverless package``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import serverless


@pytest.fixture(scope="session")
def package_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sls-package")
    serverless("package", "--stage", "contract", "--region", "eu-west-1", "--package", str(out))
    return out


@pytest.fixture(scope="session")
def template(package_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((package_dir / "cloudformation-template-update-stack.json").read_text())
    return data
