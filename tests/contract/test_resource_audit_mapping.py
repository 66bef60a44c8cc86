"""The resource audit's check metadata against Prowler's catalogue and CIS v3.0 mapping, and the docs' table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from functions.resource_audit import catalog
from functions.resource_audit.checks import CHECKS

ROOT = Path(__file__).resolve().parents[2]
PROWLER = ROOT / "tests" / "fixtures" / "prowler"
PROWLER_IDS = set((PROWLER / "aws-check-ids.txt").read_text().split())
CIS = json.loads((PROWLER / "cis_3.0_aws.requirements.json").read_text())["Requirements"]
CIS_IDS = {r["Id"] for r in CIS}


def test_the_docs_table_is_the_one_the_metadata_generates() -> None:
    doc = (ROOT / "docs" / "tasks" / "resource-audit.md").read_text()
    assert catalog.with_table(doc) == doc, (
        "run: python -m functions.resource_audit.catalog docs/tasks/resource-audit.md"
    )
    for c in CHECKS:
        assert f"| `{c.id}` | {', '.join(c.cis) or 'none'} |" in doc


def test_the_generated_table_has_a_row_per_check_in_report_order() -> None:
    rows = catalog.mapping_table().splitlines()[2:]
    assert [r.split("`")[1] for r in rows] == [c.id for c in CHECKS]


def test_a_document_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="markers"):
        catalog.with_table("# no table here\n")


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_every_prowler_id_is_one_of_prowlers_and_every_cis_control_is_in_v3(check: object) -> None:
    from functions.resource_audit.checks import Check

    assert isinstance(check, Check)
    assert set(check.prowler) <= PROWLER_IDS
    assert set(check.cis) <= CIS_IDS
    assert len(set(check.prowler)) == len(check.prowler)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_a_check_names_every_cis_control_prowler_maps_its_prowler_checks_to(check: object) -> None:
    from functions.resource_audit.checks import Check

    assert isinstance(check, Check)
    expected = {r["Id"] for r in CIS if set(r["Checks"]) & set(check.prowler)}
    assert expected <= set(check.cis)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_every_check_links_to_an_aws_documentation_page(check: object) -> None:
    from functions.resource_audit.checks import Check

    assert isinstance(check, Check)
    assert check.link.startswith("https://docs.aws.amazon.com/")
    assert " " not in check.link


def test_the_readme_and_the_task_doc_give_the_number_of_checks() -> None:
    readme = (ROOT / "README.md").read_text()
    doc = (ROOT / "docs" / "tasks" / "resource-audit.md").read_text()
    assert f"| {len(CHECKS)} cost, security and reliability checks" in readme
    assert f"hygiene across regions and accounts: {len(CHECKS)} checks" in doc
