"""Plans as chat shows them: the digest of a dry run's actions, and Block Kit messages (pure)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime
from typing import Any

FIRST_ACTIONS = 10
"""Actions shown in a plan's summary; the report behind the link has every one."""


def planned(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """What a dry run would do: (unit, action, resource) of every planned action, sorted."""
    found: list[tuple[str, str, str]] = []
    for unit in report.get("units", []):
        label = f"{unit['account']}/{unit['region']}"
        found.extend((label, a["action"], a["resource"]) for a in unit.get("actions", []) if a["status"] == "planned")
    return sorted(found)


def attempted(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """What a real run did or tried: its done, failed and deferred actions."""
    found: list[tuple[str, str, str]] = []
    for unit in report.get("units", []):
        label = f"{unit['account']}/{unit['region']}"
        found.extend(
            (label, a["action"], a["resource"])
            for a in unit.get("actions", [])
            if a["status"] in ("done", "failed", "skipped")
        )
    return sorted(found)


def digest(report: dict[str, Any]) -> str:
    """SHA-256 of the planned actions (unit, action, resource): reasons are left out, since they name ages that
    move with the clock while the plan stays the same. A report without its actions has no digest."""
    if report.get("actions_omitted"):
        raise ValueError("the plan is too large for a Lambda response: plan a smaller scope (--region, a policy)")
    text = json.dumps(planned(report), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def counts(report: dict[str, Any]) -> dict[str, int]:
    """Planned actions by kind, e.g. {'delete': 12, 'create': 3}."""
    return dict(sorted(Counter(action for _, action, _ in planned(report)).items()))


def _reasons(report: dict[str, Any], limit: int) -> list[str]:
    lines: list[str] = []
    for unit in report.get("units", []):
        for a in unit.get("actions", []):
            if a["status"] == "planned" and len(lines) < limit:
                lines.append(f"• `{a['action']}` {a['resource']} ({unit['region']}): {a['reason']}")
    return lines


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def plan_blocks(
    *,
    task: str,
    policy: str | None,
    report: dict[str, Any],
    plan_id: str,
    plan_digest: str,
    requested_by: str,
    expires_at: datetime,
    link: str | None,
    button_value: str,
) -> list[dict[str, Any]]:
    """A plan's summary: counts, the first actions with their reasons, a link, Approve and Cancel buttons."""
    by_kind = counts(report)
    total = sum(by_kind.values())
    scope = f"{task}" + (f" policy `{policy}`" if policy else "")
    summary = ", ".join(f"{n} {kind}" for kind, n in by_kind.items()) or "nothing to do"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Plan: {task}"[:150]}},
        _section(f"*{scope}* planned by <@{requested_by}>: *{total} actions* ({summary})"),
    ]
    shown = _reasons(report, FIRST_ACTIONS)
    if shown:
        more = f"\n…and {total - len(shown)} more" if total > len(shown) else ""
        blocks.append(_section("\n".join(shown) + more))
    failures = [f for unit in report.get("units", []) for f in unit.get("failures", [])]
    if failures:
        blocks.append(
            _section(
                f":warning: the dry run had {len(failures)} failure(s): {failures[0]['operation']} "
                f"{failures[0].get('resource') or ''} {failures[0]['error_code']}"
            )
        )
    where = f"<{link}|full report>" if link else "report not written"
    blocks.append(
        _context(f"{where} · plan `{plan_id}` · digest `{plan_digest[:12]}` · approval expires {expires_at:%H:%M} UTC")
    )
    if total:
        blocks.append(
            {
                "type": "actions",
                "block_id": "decision",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "approve",
                        "style": "danger",
                        "text": {"type": "plain_text", "text": "Approve"},
                        "value": button_value,
                        "confirm": {
                            "title": {"type": "plain_text", "text": "Run this plan?"},
                            "text": {"type": "plain_text", "text": f"{task}: {total} actions, for real."},
                            "confirm": {"type": "plain_text", "text": "Run it"},
                            "deny": {"type": "plain_text", "text": "Back"},
                        },
                    },
                    {
                        "type": "button",
                        "action_id": "cancel",
                        "text": {"type": "plain_text", "text": "Cancel"},
                        "value": button_value,
                    },
                ],
            }
        )
    return blocks


def result_blocks(
    *,
    task: str,
    report: dict[str, Any] | None,
    error: str | None,
    approved_by: str,
    plan_id: str,
    link: str | None,
    outside_plan: int = 0,
) -> list[dict[str, Any]]:
    """The outcome of an approved run."""
    if report is None:
        return [_section(f":x: *{task}* run of plan `{plan_id}` (approved by <@{approved_by}>) failed: {error}")]
    status = report.get("status", "unknown")
    icon = {"succeeded": ":white_check_mark:", "incomplete": ":hourglass:"}.get(status, ":x:")
    totals = ", ".join(f"{k} {v}" for k, v in sorted(_totals(report).items())) or "nothing done"
    blocks = [_section(f"{icon} *{task}* run of plan `{plan_id}` approved by <@{approved_by}>: *{status}* ({totals})")]
    if outside_plan:
        blocks.append(_section(f":warning: {outside_plan} action(s) of the run were not in the approved plan"))
    blocks.append(_context(f"<{link}|full report>" if link else f"run {report.get('run_id')}"))
    return blocks


def _totals(report: dict[str, Any]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for unit in report.get("units", []):
        total.update(unit.get("counts", {}))
    return dict(total)


def text_of(blocks: list[dict[str, Any]]) -> str:
    """The blocks as plain text (the message's fallback text, and the demo's rendering)."""
    lines = []
    for block in blocks:
        kind = block["type"]
        if kind in ("header", "section"):
            lines.append(block["text"]["text"])
        elif kind == "context":
            lines.extend(e["text"] for e in block["elements"])
        elif kind == "actions":
            lines.append("  ".join(f"[{e['text']['text']}]" for e in block["elements"]))
    return "\n".join(lines)
