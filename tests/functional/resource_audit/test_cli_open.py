"""``devops-tasks invoke resource-audit --open``: the summary, where the reports are, and the HTML written locally."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from cli.main import main
from tests.helpers import REGION


def test_invoke_open_writes_the_three_formats_locally_and_opens_the_html(
    aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("ec2", region_name=REGION).create_volume(AvailabilityZone=f"{REGION}a", Size=5)
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    code = main(["invoke", "resource-audit", "--open", "--out", str(tmp_path), "--region", REGION])
    assert code == 0
    folder = tmp_path / "resource-audit"
    assert {p.suffix for p in folder.glob("resource-audit-latest.*")} == {".json", ".csv", ".html"}
    assert len(opened) == 1
    assert opened[0].startswith("file://")
    assert opened[0].endswith(".html")
    out = capsys.readouterr().out
    assert "failing: critical" in out
    assert "findings_fail" in out
    assert "local html:" in out
