"""What a run did or plans to do, for people: one row per action, grouped, truncated with counts, 80 columns wide."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

SHOWN_PER_GROUP = 10
"""Rows shown per group unless ``--all``."""

_SIZE_KEYS = ("size", "bytes", "size_bytes")


def human_size(n: int | float) -> str:
    """``1536`` -> ``1.5 KiB``: binary units, as S3 and EBS sizes are usually read."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class PlanRow:
    """One action of one unit."""

    group: str
    resource: str
    action: str
    region: str
    reason: str
    size: int | None


def rows_of(response: dict[str, Any]) -> list[PlanRow]:
    """Every action of every unit of a report, grouped by what it does (``copy planned``, ``delete done``...)."""
    rows = []
    for unit in response.get("units") or []:
        for action in unit.get("actions") or []:
            detail = action.get("detail") or {}
            size = next((detail[k] for k in _SIZE_KEYS if isinstance(detail.get(k), int | float)), None)
            rows.append(
                PlanRow(
                    group=f"{action.get('action')} {action.get('status', 'planned')}",
                    resource=str(action.get("resource")),
                    action=str(action.get("action")),
                    region=str(detail.get("region") or unit.get("region") or ""),
                    reason=str(action.get("reason") or ""),
                    size=int(size) if size is not None else None,
                )
            )
    return rows


def plan_json(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan as ``--json`` carries it: every row, grouped, with the group's count."""
    groups: dict[str, list[PlanRow]] = defaultdict(list)
    for row in rows_of(response):
        groups[row.group].append(row)
    return [
        {
            "group": name,
            "count": len(rows),
            "rows": [
                {"resource": r.resource, "action": r.action, "region": r.region, "reason": r.reason}
                | ({"size": r.size} if r.size is not None else {})
                for r in rows
            ],
        }
        for name, rows in sorted(groups.items())
    ]


def print_plan(console: Console, response: dict[str, Any], *, show_all: bool = False) -> None:
    """The plan table: a section per group with its count, at most SHOWN_PER_GROUP rows each unless ``show_all``."""
    groups = plan_json(response)
    if not groups:
        return
    with_size = any("size" in r for g in groups for r in g["rows"])
    title = "plan" if response.get("dry_run") else "actions"
    table = Table(title=f"{title}: {sum(g['count'] for g in groups)} action(s)", expand=False)
    table.add_column("resource", overflow="fold", ratio=3)
    table.add_column("action", no_wrap=True)
    table.add_column("region", no_wrap=True)
    if with_size:
        table.add_column("size", justify="right", no_wrap=True)
    table.add_column("reason", overflow="fold", ratio=4)
    hidden = 0
    for group in groups:
        table.add_section()
        table.add_row(f"[bold]{group['group']}[/bold] ({group['count']})", end_section=False)
        shown = group["rows"] if show_all else group["rows"][:SHOWN_PER_GROUP]
        for r in shown:
            size = [human_size(r["size"]) if "size" in r else ""] if with_size else []
            table.add_row(r["resource"], r["action"], r["region"], *size, r["reason"])
        more = group["count"] - len(shown)
        if more:
            hidden += more
            table.add_row(f"[dim]... {more} more {group['group']}[/dim]")
    console.print(table)
    if hidden:
        console.print(f"{hidden} more row(s) not shown: --all shows every row, --json gives the whole plan")


def _natural_width(console: Console, table: Table) -> int:
    """The width a table needs unwrapped (console.measure alone is capped at the console's width)."""
    return console.measure(table, options=console.options.update_width(10_000)).maximum


def print_counts(console: Console, title: str, units: list[dict[str, Any]]) -> None:
    """Counts per unit; transposed (one row per count) when a column per count would not fit the console."""
    keys = sorted({k for u in units for k in (u.get("counts") or {})})
    labels = [u.get("unit") or f"{u.get('account')}/{u.get('region')}" for u in units]
    wide = Table(title=title)
    wide.add_column("account/region", no_wrap=True)
    for key in keys:
        wide.add_column(key, justify="right")
    for label, unit in zip(labels, units, strict=True):
        wide.add_row(label, *[str((unit.get("counts") or {}).get(k, 0)) for k in keys])
    if _natural_width(console, wide) <= console.width:
        console.print(wide)
        return
    tall = Table(title=title)
    tall.add_column("count", no_wrap=True)
    for label in labels:
        tall.add_column(label, justify="right", overflow="fold")
    for key in keys:
        tall.add_row(key, *[str((u.get("counts") or {}).get(key, 0)) for u in units])
    if _natural_width(console, tall) <= console.width:
        console.print(tall)
        return
    long = Table(title=title)
    for col in ("account/region", "count", "n"):
        long.add_column(col, justify="right" if col == "n" else "left", overflow="fold")
    for label, unit in zip(labels, units, strict=True):
        for key, n in sorted((unit.get("counts") or {}).items()):
            long.add_row(label, key, str(n))
    console.print(long)


def print_accounts(console: Console, title: str, units: list[dict[str, Any]]) -> bool:
    """Units (of a full run report) added up per account, with a total row, when they span several accounts;
    the counts are left out when a column per count would not fit the console. False when nothing was printed."""
    from shared.report import UnitResult, by_account, total_of

    if len({u.get("account") for u in units}) < 2 or not all("account" in u for u in units):
        return False
    rows = by_account(UnitResult.model_validate(u) for u in units)
    rows.append(total_of(rows))
    keys = sorted({k for r in rows for k in r.counts})
    for counts in (keys, []):
        table = Table(title=f"{title}: per account")
        for col in ("account", "regions", "ok", "failed", "incomplete", "failures", *counts):
            table.add_column(col, justify="left" if col in ("account", "regions") else "right")
        for row in rows:
            total = row is rows[-1]
            regions = str(len(row.regions)) if total else ", ".join(row.regions)
            stats = [str(n) for n in (row.ok, row.failed, row.incomplete, row.failures)]
            table.add_row(
                row.account, regions, *stats, *[str(row.counts.get(k, 0)) for k in counts], end_section=row is rows[-2]
            )
        if not counts or _natural_width(console, table) <= console.width:
            break
    console.print(table)
    return True
