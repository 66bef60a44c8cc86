"""Resource audit HTML report: bytes and first-render time in headless Chromium at 1,000 and 10,000 findings.

The report is built in memory (no AWS): as many FAIL findings as asked over 20 checks, 3 accounts and 4 regions,
plus as many PASS findings (which the page counts but does not list). Chromium (Debian's ``chromium``, ``make
chromium``) loads the page from a file; the time is the page's own ``performance.now()`` after its first frame
(since navigation start, once the page is parsed and its own script has run), median of 3 loads, next to
the same figure for an empty page (Chromium's own cost on this machine). Figures are per 1,000 findings. Target: a first
render under 2 s at 10,000 findings; the run fails if it is missed.
Run: ``.venv/bin/python bench/audit_report.py [--sizes 1000,10000]``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_MS = 2000
CHECKS = [f"bench-check-{i:02d}" for i in range(20)]
SEVERITIES = ("critical", "high", "medium", "low")
PROBE = "<script>document.body.setAttribute('data-rendered-ms', Math.round(performance.now()));</script>"
"""Run right after the page's own script: the page is parsed, its data read and its filters applied."""
EMPTY = "<!doctype html><html><body><p>empty</p></body></html>"


def report(n: int) -> object:
    from functions.resource_audit.findings import AuditReport, CheckInfo, Diff, Finding, summarize
    from functions.resource_audit.prices import SOURCE

    def one(i: int, status: str) -> Finding:
        check = CHECKS[i % len(CHECKS)]
        return Finding(
            check_id=check,
            title=f"title of {check}",
            category="security",
            severity=SEVERITIES[i % len(SEVERITIES)],
            status=status,  # type: ignore[arg-type]
            account=f"1111222233{i % 3:02d}",
            region=("eu-west-1", "us-east-1", "eu-central-1", "ap-southeast-2")[i % 4],
            resource_type="volume",
            resource=f"vol-{i:017x}",
            arn=f"arn:aws:ec2:eu-west-1:111122223333:volume/vol-{i:017x}",
            evidence=f"unattached gp2 volume of {i % 500} GiB",
            monthly_saving_usd=round(i % 500 * 0.1, 2),
        )

    failing = [one(i, "FAIL") for i in range(n)]
    findings = failing + [one(n + i, "PASS") for i in range(n)]
    checks = [
        CheckInfo(id=c, title=f"title of {c}", category="security", severity=SEVERITIES[i % 4], scope="region",
                  remediation="what to do about it")
        for i, c in enumerate(CHECKS)
    ]  # fmt: skip
    return AuditReport(
        run_id="bench",
        generated_at=datetime(2026, 12, 1, tzinfo=UTC),
        accounts=sorted({f.account for f in findings}),
        regions=sorted({f.region for f in findings}),
        summary=summarize(findings, len(CHECKS)),
        diff=Diff(new=failing[: n // 10]),
        prices=SOURCE,
        checks=checks,
        findings=findings,
    )


def first_render_ms(chromium: str, page: Path, profile: Path) -> int:
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
         "--disable-background-networking", "--disable-component-update", f"--user-data-dir={profile}",
         "--window-size=1280,900", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    found = re.search(r'data-rendered-ms="(\d+)"', done.stdout)
    if not found:
        raise RuntimeError("the page did not report its first frame")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        print("chromium is not installed: run `make chromium`")
        return 1
    from functions.resource_audit.html import to_html

    ok = True
    print("| FAIL findings (+ as many PASS) | page bytes | bytes per 1,000 | first render | ms per 1,000 |")
    print("|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.html"
        empty.write_text(EMPTY.replace("</body>", PROBE + "</body>"), encoding="utf-8")
        base = statistics.median(first_render_ms(chromium, empty, Path(tmp) / f"profile-e{i}") for i in range(3))
        print(f"| empty page | {len(EMPTY)} | | {base:,.0f} ms | |")
        for n in (int(x) for x in args.sizes.split(",")):
            html = to_html(report(n))  # type: ignore[arg-type]
            page = Path(tmp) / f"report-{n}.html"
            page.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
            size = len(html.encode())
            ms = statistics.median(first_render_ms(chromium, page, Path(tmp) / f"profile-{i}") for i in range(3))
            ok &= n < 10_000 or ms < TARGET_MS
            print(f"| {n:,} | {size:,} | {size * 1000 // n:,} | {ms:,.0f} ms | {ms * 1000 / n:,.1f} |")
    print(f"\ntarget: first render under {TARGET_MS} ms at 10,000 findings: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
