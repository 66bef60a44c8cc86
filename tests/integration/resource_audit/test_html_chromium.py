"""The HTML report in a real headless Chromium (Debian's ``chromium``; ``make chromium`` installs it): the first
screen shows the counts by severity, the checks table filters from the URL and the controls, a check's findings
open under it, and a 390 px wide phone needs no horizontal scrolling. Nothing is fetched from the network.

Screenshots at desktop and phone width are in docs/images; ``UPDATE_SCREENSHOTS=1`` writes them again."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

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
CHECK_ROW = re.compile(r'<tr class="check" ([^>]*)>(.*?)</tr>', re.S)
IMAGES = Path(__file__).resolve().parents[3] / "docs" / "images"
DESKTOP, PHONE = (1280, 900), (390, 844)


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


def visible_checks(dom: str) -> list[str]:
    """The check ids of the checks table's rows that are not hidden."""
    out = []
    for attrs, _ in CHECK_ROW.findall(dom):
        if re.search(r"\bhidden\b", attrs):
            continue
        found = re.search(r'data-check="([^"]*)"', attrs)
        if found:
            out.append(found.group(1))
    return out


def finding_rows(dom: str) -> list[tuple[str, str]]:
    """(status, row text) of the findings rows the page's script rendered under opened checks."""
    return [
        (re.search(r'data-status="([^"]*)"', a).group(1), re.sub(r"<[^>]+>", " ", b))  # type: ignore[union-attr]
        for a, b in ROW.findall(dom)
    ]


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


MEASURE = (
    "var cards = document.getElementById('severity-counts').getBoundingClientRect();"
    "document.body.setAttribute('data-scroll-width', document.documentElement.scrollWidth);"
    "document.body.setAttribute('data-view-width', window.innerWidth);"
    "document.body.setAttribute('data-counts-bottom', Math.ceil(cards.bottom));"
    "document.body.setAttribute('data-view-height', window.innerHeight);"
)


def _measured(dom: str, name: str) -> int:
    found = re.search(rf'data-{name}="(\d+)"', dom)
    assert found, name
    return int(found.group(1))


def test_the_first_screen_shows_the_counts_by_severity_and_the_checks_most_severe_first(
    tmp_path: Path, page: Path
) -> None:
    dom = chromium(
        tmp_path, f"--window-size={DESKTOP[0]},{DESKTOP[1]}", "--dump-dom", with_script(page, MEASURE).as_uri()
    )
    report = sample()
    for severity, count in report.summary.by_severity.items():
        assert f'data-severity="{severity}">{count}</b>' in dom
    assert '<b id="savings">$8.00</b>' in dom
    assert '<b id="diff-new">1</b>' in dom
    assert _measured(dom, "counts-bottom") <= _measured(dom, "view-height")
    shown = visible_checks(dom)
    # services with a critical failing check first, the most severe check first within each
    assert shown[:3] == ["ec2-sg-open-all-ports", "ec2-instance-imdsv1", "iam-root-mfa"]
    assert set(shown) == {f.check_id for f in [*report.findings, *report.diff.resolved, *report.diff.unknown]}
    assert finding_rows(dom) == []  # collapsed until opened
    assert "vol-2" not in dom  # the PASS finding is counted, not listed
    assert "i-&lt;script&gt;" in dom or "i-\\u003cscript\\u003e" in dom  # escaped, never run


def test_filters_in_the_url_apply_and_a_named_check_opens(tmp_path: Path, page: Path) -> None:
    dom = chromium(tmp_path, "--dump-dom", page.as_uri() + "#severity=critical")
    assert sorted(visible_checks(dom)) == ["ebs-snapshot-public", "ec2-sg-open-all-ports", "iam-root-mfa"]

    dom = chromium(tmp_path, "--dump-dom", page.as_uri() + "#check=ec2-instance-imdsv1")
    [(status, text)] = finding_rows(dom)
    assert status == "FAIL"
    assert "i-<script>" not in dom
    assert "i-&lt;script&gt;" in text

    dom = chromium(tmp_path, "--dump-dom", page.as_uri() + "?status=RESOLVED&check=ebs-snapshot-public")
    assert visible_checks(dom) == ["ebs-snapshot-public"]
    assert [s for s, _ in finding_rows(dom)] == ["RESOLVED"]


def test_a_malformed_url_value_leaves_the_other_filters_working(tmp_path: Path, page: Path) -> None:
    dom = chromium(tmp_path, "--dump-dom", page.as_uri() + "#q=%E0%A4%A&severity=critical")
    assert sorted(visible_checks(dom)) == ["ebs-snapshot-public", "ec2-sg-open-all-ports", "iam-root-mfa"]


def test_the_search_box_filters_checks_by_their_findings(tmp_path: Path, page: Path) -> None:
    typed = with_script(
        page,
        "var q = document.getElementById('q'); q.value = 'imdsv1'; q.dispatchEvent(new Event('input'));",
    )
    assert visible_checks(chromium(tmp_path, "--dump-dom", typed.as_uri())) == ["ec2-instance-imdsv1"]


@pytest.mark.parametrize(("name", "size"), [("resource-audit-report.png", DESKTOP),
                                             ("resource-audit-report-phone.png", PHONE)])  # fmt: skip
def test_screenshots_at_desktop_and_phone_width_and_no_sideways_scrolling(
    tmp_path: Path, page: Path, name: str, size: tuple[int, int]
) -> None:
    width, height = size
    dom = chromium(tmp_path, f"--window-size={width},{height}", "--dump-dom", with_script(page, MEASURE).as_uri())
    assert _measured(dom, "scroll-width") <= _measured(dom, "view-width")
    assert _measured(dom, "counts-bottom") <= _measured(dom, "view-height")
    shot = tmp_path / name
    chromium(tmp_path, f"--window-size={width},{height}", "--hide-scrollbars", f"--screenshot={shot}", page.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == width
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        (IMAGES / name).write_bytes(data)
    kept = (IMAGES / name).read_bytes()
    assert int.from_bytes(kept[16:20], "big") == width, f"docs/images/{name}: run with UPDATE_SCREENSHOTS=1"
