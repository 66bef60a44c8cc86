"""A new critical finding is never hidden behind lower ones: severity first, critical and high never cut, in the
JSON, the CSV, the HTML and the notification's headline."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from functions.resource_audit.findings import AuditReport, Finding, summarize
from functions.resource_audit.html import to_html
from functions.resource_audit.plan import diff, headline, scope_key
from functions.resource_audit.render import to_csv, to_json
from tests.unit.resource_audit.reports import finding, sample

NOW = datetime(2025, 6, 30, tzinfo=UTC)


def _estate(criticals: int, lows: int) -> AuditReport:
    """``lows`` new low findings of a check that sorts first, and ``criticals`` new critical ones after them."""
    new: list[Finding] = [
        finding("ebs-volume-gp2", "FAIL", f"vol-{i:03d}", severity="low", category="cost") for i in range(lows)
    ]
    new += [
        finding("s3-bucket-public", "FAIL", f"bucket-{i:03d}", severity="critical", resource_type="bucket",
                evidence="public through its ACL")
        for i in range(criticals)
    ]  # fmt: skip
    previous = sample().model_copy(update={"findings": [], "run_id": "prev"})
    audited = {scope_key(f, f.account, f.region) for f in new}
    report = sample().model_copy(
        update={"findings": new, "summary": summarize(new, 2), "diff": diff(previous, new, audited)}
    )
    return report


def test_one_new_critical_behind_sixty_new_lows_comes_first_everywhere() -> None:
    report = _estate(criticals=1, lows=60)
    assert json.loads(to_json(report))["diff"]["new"][0]["resource"] == "bucket-000"
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert (rows[0]["change"], rows[0]["resource"]) == ("new", "bucket-000")
    html = to_html(report)
    new_section = html[html.index("New failing findings") : html.index('id="summary"')]
    assert "bucket-000" in new_section
    assert new_section.index("bucket-000") < new_section.index("vol-000")
    assert "and 10 more (low 10)" in new_section
    lines = headline(report)
    assert any("61 new (critical 1, low 60)" in line for line in lines)
    listed = [line for line in lines if line.startswith("- ")]
    assert listed[0].startswith("- critical s3-bucket-public 123456789012 eu-west-1 bucket-000")


def test_critical_and_high_are_never_cut() -> None:
    report = _estate(criticals=120, lows=60)
    html = to_html(report)
    new_section = html[html.index("New failing findings") : html.index('id="summary"')]
    assert all(f"bucket-{i:03d}" in new_section for i in range(120))
    assert "and 10 more (low 10)" in new_section
    listed = [line for line in headline(report) if line.startswith("- ")]
    assert sum(line.startswith("- critical") for line in listed) == 120
    assert sum(line.startswith("- low") for line in listed) < 60
    assert any("more new" in line and "low" in line for line in headline(report))


def test_the_headline_stays_within_what_a_notification_can_carry() -> None:
    """Past SNS's limit a listing cannot go on; the counts by severity still say how many criticals are new."""
    report = _estate(criticals=3000, lows=0)
    lines = headline(report)
    assert sum(len(line.encode()) + 1 for line in lines) < 100_000
    assert any("3000 new (critical 3000)" in line for line in lines)
    assert any("more new critical/high" in line for line in lines)
