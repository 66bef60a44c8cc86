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


def _check_row(html: str, check_id: str) -> str:
    found = re.search(rf'<tr class="check" data-check="{re.escape(check_id)}".*?</tr>', html, re.S)
    assert found, check_id
    return found.group(0)


def test_each_check_row_links_its_aws_remediation_page_escaped_and_keeps_the_remediation_text() -> None:
    report = sample()
    link = "https://docs.aws.amazon.com/ebs/latest/userguide/ebs-deleting-volume.html?a=1&b=<2>"
    report.checks[0] = report.checks[0].model_copy(update={"link": link})
    html = to_html(report)
    row = _check_row(html, "ebs-volume-unattached")
    assert 'href="https://docs.aws.amazon.com/ebs/latest/userguide/ebs-deleting-volume.html?a=1&amp;b=&lt;2&gt;"' in row
    assert link not in html  # never unescaped
    assert 'href="#fix-ebs-volume-unattached"' in row  # the in-page remediation text stays
    assert re.search(r'<tr id="fix-ebs-volume-unattached">.*?delete it.*?</tr>', html, re.S)


def test_a_check_without_an_https_link_gets_no_link_rather_than_a_script_or_relative_one() -> None:
    report = sample()
    report.checks[0] = report.checks[0].model_copy(update={"link": "javascript:alert(1)"})
    row = _check_row(to_html(report), "ebs-volume-unattached")
    assert "javascript:" not in row
    assert 'href="#fix-ebs-volume-unattached"' in row
