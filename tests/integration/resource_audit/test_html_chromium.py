"""The HTML report in a real headless Chromium (Debian's ``chromium``; ``make chromium`` installs it): it renders,
shows the summary and the chart, and filtering and sorting work. Nothing is fetched from the network."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from functions.resource_audit.findings import AuditReport
from functions.resource_audit.html import to_html
from tests.unit.resource_audit.reports import sample

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
ROW = re.compile(r"<tr ([^>]*data-status=[^>]*)>(.*?)</tr>", re.S)


def chromium(tmp_path: Path, *args: str) -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `make chromium` (the integration target does)")
    profile = tmp_path / "profile"
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def visible_rows(dom: str) -> list[tuple[str, str]]:
    """(status, row text) of the findings rows that are not hidden."""
    rows = []
    for attrs, body in ROW.findall(dom):
        if re.search(r"\bhidden\b", attrs):
            continue
        status = re.search(r'data-status="([^"]*)"', attrs)
        rows.append((status.group(1) if status else "", re.sub(r"<[^>]+>", " ", body)))
    return rows


def _previous_rows(report: AuditReport) -> int:
    """Rows of the previous report's failures: resolved, or unknown now (this run could not see them)."""
    return len(report.diff.resolved) + len(report.diff.unknown)


@pytest.fixture
def page(tmp_path: Path) -> Path:
    path = tmp_path / "report.html"
    path.write_text(to_html(sample()), encoding="utf-8")
    return path


def with_script(page: Path, script: str) -> Path:
    """The same page with a script run after the report's own (what a person would do with the controls)."""
    out = page.with_name("driven.html")
    out.write_text(page.read_text().replace("</body>", f"<script>{script}</script></body>"), encoding="utf-8")
    return out


def test_it_renders_the_summary_chart_and_by_default_hides_passes(tmp_path: Path, page: Path) -> None:
    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert 'id="summary"' in dom
    assert "<svg" in dom
    assert '<b id="savings">$8.00</b>' in dom
    assert '<b id="diff-new">1</b>' in dom
    assert '<b id="diff-unknown">1</b>' in dom
    rows = visible_rows(dom)
    report = sample()
    assert {s for s, _ in rows} == {"FAIL", "ERROR", "SUPPRESSED", "RESOLVED", "UNKNOWN"}
    assert len(rows) == sum(f.status != "PASS" for f in report.findings) + _previous_rows(report)
    shown = re.search(r'<span id="shown"[^>]*>([^<]*)</span>', dom)
    assert shown is not None
    assert shown.group(1) == f"{len(rows)} of {len(report.findings) + _previous_rows(report)} findings shown"
    assert "i-&lt;script&gt;" in dom  # resource text is escaped, not run


def test_filters_from_the_url_and_from_the_controls(tmp_path: Path, page: Path) -> None:
    dom = chromium(tmp_path, "--dump-dom", page.as_uri() + "#status=FAIL&severity=critical")
    checks = sorted(re.findall(r"\b(?:ec2|iam)-[a-z0-9-]+", " ".join(text for _, text in visible_rows(dom))))
    assert checks == ["ec2-sg-open-all-ports", "iam-root-mfa"]

    typed = with_script(
        page,
        "var q = document.getElementById('q'); q.value = 'imdsv1'; q.dispatchEvent(new Event('input'));",
    )
    rows = visible_rows(chromium(tmp_path, "--dump-dom", typed.as_uri()))
    assert len(rows) == 1
    assert "ec2-instance-imdsv1" in rows[0][1]


def test_a_malformed_url_fragment_leaves_the_other_filters_working(tmp_path: Path, page: Path) -> None:
    dom = chromium(tmp_path, "--dump-dom", page.as_uri() + "#q=%E0%A4%A&status=FAIL&severity=critical")
    checks = sorted(re.findall(r"\b(?:ec2|iam)-[a-z0-9-]+", " ".join(text for _, text in visible_rows(dom))))
    assert checks == ["ec2-sg-open-all-ports", "iam-root-mfa"]


def test_sorting_by_saving_puts_the_largest_first(tmp_path: Path, page: Path) -> None:
    clicked = with_script(
        page,
        "var th = document.querySelectorAll('#findings-table th')[8]; th.click(); th.click();"
        "document.getElementById('f-status').value = ''; document.getElementById('f-status')"
        ".dispatchEvent(new Event('change'));",
    )
    rows = visible_rows(chromium(tmp_path, "--dump-dom", clicked.as_uri()))
    assert "vol-1" in rows[0][1]
    assert "8.00" in rows[0][1]
    assert len(rows) == len(sample().findings) + _previous_rows(sample())


def test_a_screenshot_of_the_report(tmp_path: Path, page: Path) -> None:
    shot = tmp_path / "report.png"
    chromium(tmp_path, "--window-size=1280,900", f"--screenshot={shot}", page.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000
