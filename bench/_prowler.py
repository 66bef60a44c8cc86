"""Prowler, the peer of the resource audit benchmark (bench/resource_audit.py).

Prowler is installed, pinned, into a virtual environment of its own under ``bench/.peers/`` (git-ignored; never the
project's ``.venv`` or requirements): :func:`prowler_bin` makes it the first time. :func:`prowler_ids` are the
Prowler check ids our checks name (``prowler=`` in ``functions/resource_audit/checks/``); :func:`prowler_run` runs
those of them that this Prowler has, over the given regions, against whatever ``AWS_ENDPOINT_URL`` names (boto3
honours it, and Prowler's session set-up passes no endpoint of its own), with its JSON-OCSF output in a temporary
directory; :func:`prowler_findings` counts that output by status, and its error log by service and API.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROWLER_VERSION = "5.46.0"
VENV = ROOT / "bench" / ".peers" / "prowler-venv"
# python3.11: Prowler 5 supports 3.9-3.12 (the project's own Python is 3.11 as well)
PYTHON = "python3.11"


def prowler_bin() -> Path:
    """The pinned Prowler's command, installed into its own virtual environment if it is not there yet."""
    exe = VENV / "bin" / "prowler"
    stamp = VENV / f".prowler-{PROWLER_VERSION}"
    if not stamp.exists():
        print(f"installing prowler=={PROWLER_VERSION} into {VENV.relative_to(ROOT)} (once)", flush=True)
        subprocess.run([PYTHON, "-m", "venv", str(VENV)], check=True)
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, f"prowler=={PROWLER_VERSION}"], check=True)
        stamp.touch()
    return exe


def prowler_ids() -> list[str]:
    """Every Prowler check id that one of our checks names, in our checks' order, once each."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from functions.resource_audit.checks import CHECKS

    return list(dict.fromkeys(pid for check in CHECKS for pid in check.prowler))


def available(env: dict[str, str]) -> set[str]:
    """The AWS check ids this Prowler has."""
    listed = subprocess.run(
        [str(prowler_bin()), "aws", "--list-checks-json"], env=env, capture_output=True, text=True, check=True
    ).stdout
    data = json.loads(listed[listed.index("{") :])
    return {c for checks in data.values() for c in checks} if isinstance(data, dict) else set(data)


def prowler_run(
    ids: list[str],
    regions: list[str],
    env: dict[str, str],
    work: Path,
    run_child: Callable[[list[str], dict[str, str], Path], dict[str, Any]],
) -> dict[str, Any]:
    """Run Prowler's checks ``ids`` (those it has) over ``regions``; ``run_child``'s figures, with what ran."""
    have = available(env)
    checks = [c for c in ids if c in have]
    argv = [str(prowler_bin()), "aws", "--checks", *checks, "--region", *regions, "--output-formats", "json-ocsf",
            "--output-directory", str(work / "prowler"), "--output-filename", "prowler", "--no-banner",
            "--log-level", "ERROR", "--log-file", str(work / "prowler-errors.log")]  # fmt: skip
    figures = run_child(argv, env, work / "prowler.log")
    return figures | {"checks": checks, "missing": [c for c in ids if c not in have]}


_RECORD = re.compile(
    r'"filename": "(\w+)\.py:\d+", "level": "ERROR", "module": "[^"]*", '
    r'"message": "(?:[\w-]+ -- )?(\w+)\[\d+\]: ([^\n]*)'
)
_CALL = re.compile(r"when calling the (\w+) operation")


def prowler_findings(work: Path, figures: dict[str, Any]) -> tuple[Counter[str], Counter[str]]:
    """Prowler's findings by status (FAIL, PASS, MANUAL), and its logged errors by module, error and API."""
    found: Counter[str] = Counter()
    for path in (work / "prowler").glob("*.ocsf.json"):
        for finding in json.loads(path.read_text() or "[]"):
            found[str(finding.get("status_code", "?")).upper()] += 1
    errors: Counter[str] = Counter()
    log = work / "prowler-errors.log"
    for module, kind, message in _RECORD.findall(log.read_text(errors="replace") if log.exists() else ""):
        call = _CALL.search(message)
        errors[f"{module}: {kind}{' ' + call.group(1) if call else ''}"] += 1
    return found, errors
