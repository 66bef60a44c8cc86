"""The SNS summary: within SNS's size limit (bytes, not characters) and a subject SNS accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.notify import publish
from shared.report import RunReport, UnitResult

SNS_MAX_BYTES = 256 * 1024


class FakeSns:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append(kwargs)
        return {"MessageId": "1"}


def test_a_summary_of_multibyte_text_fits_sns_in_bytes() -> None:
    report = RunReport(task="t", run_id="r", dry_run=False, started_at=datetime(2026, 1, 1, tzinfo=UTC))
    report.notes = ["volume « données » ✓ " * 50 for _ in range(400)]  # ~1.1 MB of UTF-8 in ~420,000 characters
    unit = UnitResult(account="1", region="eu-west-1")
    unit.fail("delete", "refusé ✗ " * 2000, resource="snap-1")
    report.units = [unit]

    sns = FakeSns()
    publish(sns, "arn:aws:sns:eu-west-1:1:alerts", report)

    sent = sns.calls[0]
    assert len(sent["Message"].encode()) + len(sent["Subject"].encode()) <= SNS_MAX_BYTES
    assert sent["Message"].startswith("devops-tasks t: FAILED")
    assert len(sent["Subject"]) < 100
    # SNS: a subject is ASCII, begins with a letter, number or punctuation, and has no line breaks or controls
    assert sent["Subject"].isascii()
    assert sent["Subject"].isprintable()
    assert not sent["Subject"][0].isspace()
