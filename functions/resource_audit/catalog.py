"""The checks' mapping to CIS AWS Foundations Benchmark v3.0.0 controls and Prowler check ids, as the Markdown table
of docs/tasks/resource-audit.md, generated from the check metadata (``python -m functions.resource_audit.catalog
docs/tasks/resource-audit.md`` rewrites the table in place)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from functions.resource_audit.checks import CHECKS, Check

START = "<!-- check-mapping: generated from the check metadata by functions/resource_audit/catalog.py -->"
END = "<!-- check-mapping: end -->"


def _codes(items: Iterable[str]) -> str:
    return ", ".join(f"`{x}`" for x in items) or "none"


def mapping_table(checks: Iterable[Check] = CHECKS) -> str:
    """One row per check: its CIS v3.0 controls, nearest Prowler checks and the AWS page on fixing it."""
    rows = [
        "| check | CIS AWS Foundations v3.0 | nearest Prowler check | how to fix (AWS docs) |",
        "|---|---|---|---|",
    ]
    for c in checks:
        rows.append(f"| `{c.id}` | {', '.join(c.cis) or 'none'} | {_codes(c.prowler)} | [{c.title}]({c.link}) |")
    return "\n".join(rows)


def with_table(doc: str, checks: Iterable[Check] = CHECKS) -> str:
    """``doc`` with the text between the markers replaced by the current table."""
    head, found, rest = doc.partition(START)
    _, end, tail = rest.partition(END)
    if not found or not end:
        raise ValueError("the document has no check-mapping markers")
    return f"{head}{START}\n{mapping_table(checks)}\n{END}{tail}"


def main(argv: list[str]) -> int:
    for name in argv:
        path = Path(name)
        path.write_text(with_table(path.read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
