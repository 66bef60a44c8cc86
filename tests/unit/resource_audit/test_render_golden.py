"""The JSON and CSV renderings keep their shape (golden files); regenerate with UPDATE_GOLDEN=1 after a
deliberate change, and bump SCHEMA_VERSION when a reader would notice."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from functions.resource_audit.findings import SCHEMA_VERSION, AuditReport
from functions.resource_audit.render import CSV_COLUMNS, accounts_csv, to_csv, to_json
from tests.unit.resource_audit.reports import sample

GOLDEN = Path(__file__).parent / "golden"


def _golden(name: str, text: str) -> str:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    return path.read_text()


def test_json_matches_the_golden_file() -> None:
    text = to_json(sample())
    assert text == _golden("report.json", text)


def test_csv_matches_the_golden_file() -> None:
    text = to_csv(sample())
    assert text == _golden("report.csv", text)


def test_the_per_account_csv_matches_the_golden_file() -> None:
    text = accounts_csv(sample())
    assert text == _golden("accounts.csv", text)


def test_json_reads_back_into_the_same_model_and_puts_summary_and_diff_first() -> None:
    report = sample()
    data = json.loads(to_json(report))
    assert list(data)[:9] == [
        "schema", "schema_version", "run_id", "generated_at", "complete", "accounts", "regions", "summary", "diff",
    ]  # fmt: skip
    assert data["schema_version"] == SCHEMA_VERSION
    assert AuditReport.from_json(to_json(report)) == report


def test_csv_has_one_row_per_finding_plus_resolved_and_unknown_ones_with_the_diff_first() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(sample()))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == len(sample().findings) + len(sample().diff.resolved) + len(sample().diff.unknown)
    assert [r["change"] for r in rows[:4]] == ["new", "open", "open", "open"]
    assert rows[0]["resource"] == "sg-1"
    resolved = [r for r in rows if r["change"] == "resolved"]
    assert [(r["resource"], r["status"]) for r in resolved] == [("snap-1", "")]
    assert resolved[0]["evidence"].startswith("was: ")
    assert {r["remediation"] for r in rows if r["check_id"] == "ebs-volume-unattached"} == {"delete it"}
    unknown = [r for r in rows if r["change"] == "unknown"]
    assert [(r["resource"], r["status"], r["evidence"]) for r in unknown] == [
        ("/app/old", "", "was: evidence for /app/old")
    ]
