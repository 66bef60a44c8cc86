"""The project as a package: its licence, its build requirements, and the versions the README asks for."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.contract


def test_the_licence_is_apache_2_0_in_the_file_and_as_an_spdx_string() -> None:
    licence = (ROOT / "LICENSE").read_text()
    assert "Apache License" in licence
    assert "Version 2.0, January 2004" in licence
    assert "END OF TERMS AND CONDITIONS" in licence
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    assert project["project"]["license-files"] == ["LICENSE"]


def test_the_build_backend_reads_spdx_licence_strings() -> None:
    # setuptools before 77 warns that a license table is deprecated, once per build step
    (requirement,) = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    minimum = re.fullmatch(r"setuptools>=(\d+)", requirement)
    assert minimum
    assert int(minimum.group(1)) >= 77


def test_the_readme_asks_for_the_node_version_osls_declares() -> None:
    engines = json.loads((ROOT / "node_modules" / "osls" / "package.json").read_text())["engines"]["node"]
    assert f"Node.js `{engines}`" in (ROOT / "README.md").read_text()


def test_requires_python_admits_the_lambda_runtime() -> None:
    runtime = re.search(r"runtime: python(\d+)\.(\d+)", (ROOT / "serverless.yml").read_text())
    assert runtime
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    low = re.fullmatch(r">=(\d+)\.(\d+)", requires)
    assert low
    assert (int(low.group(1)), int(low.group(2))) <= (int(runtime.group(1)), int(runtime.group(2)))
    assert f"Python {runtime.group(1)}.{runtime.group(2)} (the Lambda runtime" in (ROOT / "README.md").read_text()


PREPARE = """
const Plugin = require(process.argv[1]);
const hooks = new Plugin({}).hooks;
hooks['before:invoke:local:invoke']();
console.log(JSON.stringify({venv: process.env.VIRTUAL_ENV, trace: process.env.POWERTOOLS_TRACE_DISABLED}));
"""


def _invoke_local_environment(env: dict[str, str]) -> dict[str, str]:
    node = shutil.which("node")
    assert node, "node is required"
    proc = subprocess.run(
        [node, "-e", PREPARE, str(ROOT / "config" / "invoke-local.js")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, str] = json.loads(proc.stdout)
    return result


def test_invoke_local_from_a_plain_shell_uses_the_project_venv_with_tracing_off() -> None:
    plain = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "POWERTOOLS_TRACE_DISABLED"}}
    assert (ROOT / ".venv" / "bin" / "python3").exists()
    assert _invoke_local_environment(plain) == {"venv": str(ROOT / ".venv"), "trace": "true"}


def test_invoke_local_keeps_an_active_virtualenv_and_an_explicit_tracing_setting() -> None:
    chosen = dict(os.environ) | {"VIRTUAL_ENV": "/opt/other-venv", "POWERTOOLS_TRACE_DISABLED": "false"}
    assert _invoke_local_environment(chosen) == {"venv": "/opt/other-venv", "trace": "false"}


def test_serverless_yml_loads_the_invoke_local_plugin() -> None:
    assert "  - ./config/invoke-local.js" in (ROOT / "serverless.yml").read_text()
