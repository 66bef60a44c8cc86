"""The HTML report stays small at any size: PASS findings are counted, not listed, and the findings it lists are
compact JSON rows with each repeated string once; a value can never end the page's script early."""

from __future__ import annotations

import json
import re

from functions.resource_audit.findings import summarize
from functions.resource_audit.html import ROW_STATUSES, page_data, service_of, to_html
from tests.unit.resource_audit.reports import finding, sample


def _data(html: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" id="audit-data">(.*?)</script>', html, re.S)
    assert found
    data: dict[str, object] = json.loads(found.group(1))
    return data


def test_pass_findings_are_counted_not_listed() -> None:
    html = to_html(sample())
    assert "vol-2" not in html
    rows = page_data(sample())["f"]
    report = sample()
    assert len(rows) == sum(f.status != "PASS" for f in report.findings) + 2  # and the resolved and unseen ones
    assert {ROW_STATUSES[r[1]] for r in rows} == {"FAIL", "ERROR", "SUPPRESSED", "RESOLVED", "UNKNOWN"}


def test_no_value_can_close_the_data_script_or_the_page() -> None:
    report = sample()
    evil = finding("ec2-instance-imdsv1", "FAIL", "i-1", evidence="</script><script>alert(1)</script><!--")
    report.findings.append(evil)
    html = to_html(report)
    assert "<script>alert(1)" not in html
    assert evil.evidence in _data(html)["s"]  # type: ignore[operator]


def test_ten_thousand_failing_findings_make_a_page_of_well_under_two_megabytes() -> None:
    findings = [
        finding("ebs-volume-unattached", "FAIL", f"vol-{i:017x}", evidence=f"unattached gp2 volume of {i % 500} GiB",
                monthly_saving_usd=round(i % 500 * 0.1, 2))
        for i in range(10_000)
    ] + [finding("ebs-volume-gp2", "PASS", f"vol-{i:017x}") for i in range(10_000)]  # fmt: skip
    report = sample().model_copy(update={"findings": findings, "summary": summarize(findings, 2)})
    size = len(to_html(report).encode())
    assert size < 1_200_000  # 17,508 rows of the old table took 8.8 MB
    assert "vol-00000000000000001" in to_html(report)


def test_each_check_is_filed_under_its_service() -> None:
    assert service_of("ec2-sg-open-all-ports") == "ec2"
    assert service_of("tags-required-s3") == "s3"
    assert service_of("iam-root-mfa") == "iam"
