"""The read-only commands' answers: `list`, `status`, `report audit` (Block Kit, from schedules and reports)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from functions.chatops.plans import _context, _section, text_of

if TYPE_CHECKING:
    from functions.chatops.tasks import Tasks


def message(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """``respond``/``chat.postMessage`` arguments: the blocks, and their text as the notification fallback."""
    return {"blocks": blocks, "text": text_of(blocks)[:3000]}


def _when(report: dict[str, Any]) -> str:
    return str(report.get("started_at", "?"))[:16].replace("T", " ")


def list_blocks(tasks: Tasks, now: datetime) -> list[dict[str, Any]]:
    """Each task with its policies (schedule, time zone, state) and its last run and status."""
    schedules = tasks.schedules()
    lines = []
    for task in sorted(tasks.names):
        own = [s for s in schedules if s["name"].startswith(f"{task}-")]
        policies = (
            ", ".join(
                f"`{s['name'].removeprefix(task + '-')}` {s['expression']} {s['timezone']}"
                + ("" if s["state"] == "ENABLED" else f" ({s['state'].lower()})")
                for s in own
            )
            or "no schedule"
        )
        last = tasks.recent_reports(task, now, limit=1)
        run = f"last run {_when(last[0])} UTC: *{last[0].get('status')}*" if last else "no run in 7 days"
        lines.append(f"*{task}* · {policies} · {run}")
    return [{"type": "header", "text": {"type": "plain_text", "text": "devops-tasks"}}, _section("\n".join(lines))]


def status_blocks(tasks: Tasks, now: datetime, region: str) -> list[dict[str, Any]]:
    """Runs in progress (a report still marked incomplete with no finish time) and the last failures."""
    running: list[str] = []
    failed: list[str] = []
    for task in sorted(tasks.names):
        for report in tasks.recent_reports(task, now, days=2, limit=10):
            if report.get("finished_at") is None:
                running.append(f"• *{task}* started {_when(report)} UTC (run {report.get('run_id')})")
            elif report.get("status") == "failed" and len(failed) < 10:
                first = next((f for u in report.get("units", []) for f in u.get("failures", [])), None)
                why = f": {first['operation']} {first.get('resource') or ''} {first['error_code']}" if first else ""
                failed.append(f"• *{task}* {_when(report)} UTC{why}")
    return [
        _section("*Running*\n" + ("\n".join(running) or "nothing")),
        _section("*Last failures (2 days)*\n" + ("\n".join(failed) or "none")),
    ]


def audit_blocks(tasks: Tasks, now: datetime, region: str) -> list[dict[str, Any]]:
    """The latest resource audit: its findings by status, its headlines (new and resolved, the top findings), its
    link."""
    from functions.chatops.app import link_of

    if "resource-audit" not in tasks.names:
        return [_section("the resource audit is not deployed here")]
    found = [r for r in tasks.recent_reports("resource-audit", now, limit=10) if not r.get("dry_run")]
    if not found:
        return [_section("no resource audit in the last 7 days")]
    report = found[0]
    totals: dict[str, int] = {}
    for unit in report.get("units", []):
        for key, n in unit.get("counts", {}).items():
            totals[key] = totals.get(key, 0) + n
    counts = ", ".join(f"{k.removeprefix('findings_')} {v}" for k, v in sorted(totals.items())) or "no findings"
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Resource audit"}},
        _section(f"{_when(report)} UTC: *{report.get('status')}* · {counts}"),
    ]
    notes = report.get("notes") or []
    if notes:
        blocks.append(_section("\n".join(notes[:15])))
    # not report["links"]: with report_link: presigned they carry the audit function's session token
    link = link_of(report.get("location"), region)
    blocks.append(_context(f"<{link}|full report>" if link else f"run {report.get('run_id')}"))
    return blocks
