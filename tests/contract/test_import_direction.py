"""The library is below the tasks, and the CLI above them: shared/ never imports a task, no task imports the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.contract


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def offenders(folder: str, forbidden: str) -> dict[str, set[str]]:
    bad = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        hits = {m for m in imported_modules(path) if m == forbidden or m.startswith(f"{forbidden}.")}
        if hits:
            bad[str(path.relative_to(ROOT))] = hits
    return bad


def test_no_module_of_the_library_imports_a_task() -> None:
    assert offenders("shared", "functions") == {}


def test_no_task_imports_the_cli() -> None:
    assert offenders("functions", "cli") == {}


def test_the_library_does_not_import_the_cli() -> None:
    assert offenders("shared", "cli") == {}


def test_nothing_is_left_of_the_cli_under_shared() -> None:
    assert not (ROOT / "shared" / "cli").exists() or not list((ROOT / "shared" / "cli").rglob("*.py"))


def test_the_check_sees_function_level_imports(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    from functions.snapshot_rotation import task\n    import cli.main\n")
    assert imported_modules(sample) == {"functions.snapshot_rotation", "cli.main"}
