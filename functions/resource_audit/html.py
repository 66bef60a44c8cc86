"""The self-contained HTML report: no external scripts, fonts or styles; works from a file, an email or S3.

Top to bottom: the counts by severity and what changed (the first screen), a table per check (failing, new,
resolved, estimated savings; critical and high first, grouped by service) with each check's findings collapsed
under it (by account), the new/resolved lists, the summary (with an inline SVG chart) and how to fix each check.
``#severity=high&status=FAIL&account=...&service=ec2&change=new&q=vol-&check=<id>`` (or the same as a query)
filters the table and scrolls to it. Findings are in the page as compact JSON that its script renders when a
check is opened, and PASS findings are counted, not listed (the JSON and CSV reports have them), so the page stays
small and renders at once whatever the number of findings.
"""

from __future__ import annotations

import json
from collections import Counter
from html import escape
from typing import Any
from urllib.parse import quote

from functions.resource_audit.findings import AuditReport, CheckInfo, Finding, sort_key, worst
from functions.resource_audit.html_assets import SCRIPT, STYLE
from functions.resource_audit.models import CATEGORIES, SEVERITIES
from functions.resource_audit.plan import NEVER_CUT, by_severity
from functions.resource_audit.render import ordered

COLORS = {"critical": "#7b1fa2", "high": "#c62828", "medium": "#ef6c00", "low": "#f9a825", "info": "#607d8b"}
CAT_COLORS = {"cost": "#2e7d32", "security": "#c62828", "reliability": "#1565c0"}


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def bar_chart(title: str, items: list[tuple[str, int, str]], width: int = 320) -> str:
    """A horizontal bar chart as inline SVG."""
    top = max([v for _, v, _ in items] + [1])
    bar_h, gap, label_w = 18, 6, 90
    height = len(items) * (bar_h + gap) + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_e(title)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">',
        f'<text x="0" y="14" font-size="13" font-weight="600">{_e(title)}</text>',
    ]
    for i, (label, value, color) in enumerate(items):
        y = 24 + i * (bar_h + gap)
        w = 0 if not value else max(2, int((width - label_w - 40) * value / top))
        parts.append(f'<text x="0" y="{y + 13}" font-size="12">{_e(label)}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="{color}"><title>{_e(label)}: '
            f"{value}</title></rect>"
        )
        parts.append(f'<text x="{label_w + w + 4}" y="{y + 13}" font-size="12">{value}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _count_table(caption: str, counts: dict[str, int]) -> str:
    rows = "".join(f"<tr><td>{_e(k)}</td><td class=num>{v}</td></tr>" for k, v in counts.items())
    head = f'<thead><tr><th>{_e(caption)}</th><th class="num">failing</th></tr></thead>'
    return f"<table>{head}<tbody>{rows}</tbody></table>"


def _sev(severity: str) -> str:
    return f'<span class="sev" style="background:{COLORS[severity]}">{_e(severity)}</span>'


def _short_list(title: str, findings: list[Finding], limit: int = 50) -> str:
    """Most severe first; every critical and high finding, then at most ``limit`` of the others."""
    if not findings:
        return ""
    ordered = sorted(findings, key=sort_key)
    top = [f for f in ordered if f.severity in NEVER_CUT]
    others = [f for f in ordered if f.severity not in NEVER_CUT]
    items = "".join(
        f"<tr><td>{_sev(f.severity)}</td><td><code>{_e(f.check_id)}</code></td><td>{_e(f.account)}</td>"
        f"<td>{_e(f.region)}</td><td>{_e(f.resource)}</td><td>{_e(f.evidence)}</td></tr>"
        for f in top + others[:limit]
    )
    cut = others[limit:]
    more = f'<p class="muted">... and {len(cut)} more ({_e(by_severity(cut))})</p>' if cut else ""
    return f"<h3>{_e(title)}</h3><table><tbody>{items}</tbody></table>{more}"


CHANGES = ("new", "open", "unknown", "resolved")
UNKNOWN_TITLE = "Unknown: failing in one report, in a check or resource in ERROR (or not audited) in the other"


def _summary(report: AuditReport) -> str:
    s = report.summary
    status = " &middot; ".join(f"{_e(k)} {v}" for k, v in s.by_status.items())
    charts = bar_chart("Failing by severity", [(k, s.by_severity.get(k, 0), COLORS[k]) for k in SEVERITIES])
    charts += bar_chart("Failing by category", [(k, s.by_category.get(k, 0), CAT_COLORS[k]) for k in CATEGORIES])
    return (
        f'<section id="summary"><h2>Summary</h2><p class="meta">All findings: {status}; {s.checks_run} checks run.</p>'
        f'<div class="grid"><div id="chart">{charts}</div>{_count_table("category", s.by_category)}'
        f"{_count_table('region', s.by_region)}{_count_table('account', s.by_account)}</div></section>"
    )


def _options(values: list[str], all_label: str) -> str:
    return f'<option value="">{_e(all_label)}</option>' + "".join(
        f'<option value="{_e(v)}">{_e(v)}</option>' for v in values
    )


def service_of(check_id: str) -> str:
    """The AWS service a check is about, from its id (``ec2-sg-...`` ec2, ``tags-required-s3`` s3)."""
    head, _, rest = check_id.partition("-")
    return rest.rsplit("-", 1)[-1] if head == "tags" else head


ROW_STATUSES = ("FAIL", "ERROR", "SUPPRESSED", "RESOLVED", "UNKNOWN")
ROW_CHANGES = ("", "new", "open", "unknown", "resolved")


class _Strings:
    """A table of the page's strings: each value once, rows refer to it by index (a report repeats accounts,
    regions and evidence thousands of times)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def __call__(self, value: str) -> int:
        return self.index.setdefault(value, len(self.index))

    @property
    def values(self) -> list[str]:
        return list(self.index)


def page_data(report: AuditReport) -> dict[str, Any]:
    """The findings the page lists (every one but PASS, and the previous report's resolved or unknown ones), as
    compact rows: [check, status, change, account, region, resource, evidence, saving, suppressed_by]."""
    strings = _Strings()
    checks: dict[str, int] = {}
    rows = []
    for change, f, previous in ordered(report):
        status = ("RESOLVED" if change == "resolved" else "UNKNOWN") if previous else f.status
        if status == "PASS":
            continue
        rows.append(
            [
                checks.setdefault(f.check_id, len(checks)),
                ROW_STATUSES.index(status),
                ROW_CHANGES.index(change),
                strings(f.account),
                strings(f.region),
                strings(f.resource),
                strings(f"was: {f.evidence}" if previous else f.evidence),
                f.monthly_saving_usd,
                strings(f.suppressed_by) if f.suppressed_by else -1,
            ]
        )
    return {"status": ROW_STATUSES, "change": ROW_CHANGES, "c": list(checks), "s": strings.values, "f": rows}


def _json_in_html(value: object) -> str:
    """JSON that no ``</script>`` or ``<!--`` inside a value can end early."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _is_docs_link(link: str) -> bool:
    """Only an absolute https address becomes a link: a report read back from S3 could carry any string."""
    return link.startswith("https://")


def _check_infos(report: AuditReport) -> list[CheckInfo]:
    """The report's checks, and those only its findings name (a check of the previous report), most severe first,
    then most failing."""
    infos = {c.id: c for c in report.checks}
    for f in [*report.findings, *report.diff.resolved, *report.diff.unknown]:
        if f.check_id not in infos:
            infos[f.check_id] = CheckInfo(id=f.check_id, title=f.title, category=f.category, severity=f.severity,
                                          scope="", remediation="")  # fmt: skip
    failing = Counter(f.check_id for f in report.findings if f.status == "FAIL")
    return sorted(infos.values(), key=lambda c: (SEVERITIES.index(c.severity), -failing[c.id], c.id))


def _checks_table(report: AuditReport) -> str:
    failing = [f for f in report.findings if f.status == "FAIL"]
    fail = Counter(f.check_id for f in failing)
    new = Counter(f.check_id for f in report.diff.new)
    resolved = Counter(f.check_id for f in report.diff.resolved)
    errors = Counter(f.check_id for f in report.findings if f.status == "ERROR")
    passing = Counter(f.check_id for f in report.findings if f.status == "PASS")
    listed = Counter(f.check_id for f in report.findings if f.status != "PASS")
    listed.update(f.check_id for f in [*report.diff.resolved, *report.diff.unknown])
    savings: dict[str, float] = {}
    for f in failing:
        savings[f.check_id] = savings.get(f.check_id, 0.0) + (f.monthly_saving_usd or 0.0)
    infos = _check_infos(report)

    def rank(service: str) -> tuple[int, str]:
        """Services with a critical failing check first, then high...; then by name."""
        failing_severities = [SEVERITIES.index(c.severity) for c in infos if service_of(c.id) == service and fail[c.id]]
        return (min(failing_severities, default=len(SEVERITIES)), service)

    services = sorted({service_of(c.id) for c in infos}, key=rank)
    body = []
    for service in services:
        mine = [c for c in infos if service_of(c.id) == service]
        body.append(f'<tr class="svc"><th colspan="8" scope="rowgroup">{_e(service)}</th></tr>')
        for c in mine:
            saving = f"${savings[c.id]:,.2f}" if savings.get(c.id) else ""
            fix = f'<a href="#fix-{_e(c.id)}">how to fix</a>' if c.remediation else ""
            if _is_docs_link(c.link):
                fix += f' <a href="{_e(c.link)}" rel="noopener noreferrer" target="_blank">AWS docs</a>'
            body.append(
                f'<tr class="check" data-check="{_e(c.id)}" data-severity="{c.severity}" data-service="{_e(service)}">'
                f'<td data-label="severity">{_sev(c.severity)}</td>'
                f"<td><code>{_e(c.id)}</code><br><span class=muted>{_e(c.title)}</span></td>"
                f'<td class="num" data-label="failing">{fail[c.id]}</td><td class="num" data-label="new">{new[c.id]}'
                f'</td><td class="num" data-label="resolved">{resolved[c.id]}</td>'
                f'<td class="num" data-label="error / pass">{errors[c.id]} / {passing[c.id]}</td>'
                f'<td class="num" data-label="est. $/month">{saving}</td><td>{fix}</td></tr>'
            )
            if listed[c.id]:
                body.append(
                    f'<tr class="more" id="more-{_e(c.id)}"><td colspan="8"><details data-check="{_e(c.id)}">'
                    f'<summary><span class="n">{listed[c.id]}</span> findings by account (PASS not listed)</summary>'
                    '<div class="list"></div></details></td></tr>'
                )
    accounts = sorted({f.account for f in report.findings})
    heads = ["severity", "check", "failing", "new", "resolved", "error / pass", "est. $/month", "remediation"]
    thead = "".join(f'<th scope="col">{_e(h)}</th>' for h in heads)
    controls = (
        '<div class="controls"><input id="q" type="search" placeholder="search resources, evidence..." '
        'aria-label="search">'
        f'<select id="f-severity" aria-label="severity">{_options(list(SEVERITIES), "every severity")}</select>'
        f'<select id="f-status" aria-label="status">{_options(list(ROW_STATUSES), "any listed status")}</select>'
        f'<select id="f-account" aria-label="account">{_options(accounts, "every account")}</select>'
        f'<select id="f-service" aria-label="service">{_options(services, "every service")}</select>'
        f'<select id="f-change" aria-label="change">{_options(list(CHANGES), "any change")}</select>'
        f'<span id="shown" class="muted">{len(infos)} checks</span></div>'
    )
    return (
        f'<section id="checks"><h2>Checks</h2>{controls}<table id="checks-table" class="reflow"><thead><tr>{thead}'
        f"</tr></thead><tbody>{''.join(body)}</tbody></table></section>"
    )


def _glance(report: AuditReport) -> str:
    s, d = report.summary, report.diff
    sev_cards = "".join(
        f'<div class="card"><span>{_e(k)}</span><b style="color:{COLORS[k]}" data-severity="{k}">{v}</b></div>'
        for k, v in s.by_severity.items()
    )
    change_cards = (
        f'<div class="card new"><span>new</span><b id="diff-new">{len(d.new)}</b></div>'
        f'<div class="card resolved"><span>resolved</span><b id="diff-resolved">{len(d.resolved)}</b></div>'
        f'<div class="card"><span>still open</span><b id="diff-open">{d.still_open}</b></div>'
        f'<div class="card"><span>unknown</span><b id="diff-unknown">{len(d.unknown)}</b></div>'
        f'<div class="card"><span>est. savings / month</span><b id="savings">${s.monthly_saving_usd:,.2f}</b></div>'
    )
    if d.previous_generated_at:
        since = f"since the report of {d.previous_generated_at:%Y-%m-%d %H:%M} UTC (run {_e(d.previous_run_id)})"
    elif d.previous_problem:
        since = f'<b id="diff-problem">No diff: {_e(d.previous_problem)}.</b> Every failing finding counts as new.'
    else:
        since = "first report: no previous one to compare with"
    errors = (
        f'<p class="meta">Checks in ERROR (could not run; not a pass): {_e(", ".join(s.checks_in_error))}</p>'
        if s.checks_in_error
        else ""
    )
    return (
        f'<section id="glance"><div class="cards" id="severity-counts">{sev_cards}</div>'
        f'<div class="cards">{change_cards}</div><p class="meta">Failing by severity; changes {since}</p>{errors}'
        "</section>"
    )


def _accounts(report: AuditReport) -> str:
    """The per-account summary as a table (worst first: most critical, then high, ... failures)."""
    if not report.per_account:
        return ""
    ranked = worst(report.per_account, n=len(report.per_account))
    rows = ranked + [r for r in report.per_account if r not in ranked]
    head = "".join(
        f"<th>{_e(h)}</th>" for h in ("account", "regions", "FAIL", *SEVERITIES, "ERROR", "new", "not audited")
    )
    body = "".join(
        f'<tr data-account="{_e(r.account)}"><td>{_e(r.account)}</td><td>{_e(" ".join(r.regions))}</td>'
        f"<td>{r.by_status.get('FAIL', 0)}</td>"
        + "".join(f"<td>{r.by_severity.get(s, 0)}</td>" for s in SEVERITIES)
        + f'<td title="{_e(", ".join(r.checks_in_error))}">{r.by_status.get("ERROR", 0)}</td>'
        f"<td>{r.new}</td><td>{r.unaudited}</td></tr>"
        for r in rows
    )
    return (
        f'<section id="accounts"><h2>By account</h2><table id="accounts-table" class="reflow"><thead><tr>{head}'
        f"</tr></thead><tbody>{body}</tbody></table></section>"
    )


def _diff(report: AuditReport) -> str:
    d = report.diff
    lists = (
        f"{_short_list('New failing findings', d.new)}{_short_list('Resolved', d.resolved)}"
        f"{_short_list(UNKNOWN_TITLE, d.unknown)}"
    )
    return f'<section id="diff"><h2>Since the last report</h2>{lists or "<p class=meta>No change.</p>"}</section>'


def _fixes(report: AuditReport) -> str:
    rows = "".join(
        f'<tr id="fix-{_e(c.id)}"><td><code>{_e(c.id)}</code></td><td>{_sev(c.severity)}</td><td>{_e(c.category)}'
        f"</td><td>{_e(c.title)}</td><td>{_e(c.remediation)}"
        + (f' <a href="{_e(c.link)}" rel="noopener noreferrer">AWS docs</a>' if _is_docs_link(c.link) else "")
        + "</td></tr>"
        for c in _check_infos(report)
        if c.remediation
    )
    return (
        '<section id="fix"><h2>How to fix</h2><table class="reflow"><thead><tr><th>id</th><th>severity</th>'
        f"<th>category</th><th>finds</th><th>how to fix</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def to_html(report: AuditReport) -> str:
    expired = "".join(
        f"<li><code>{_e(x.check)}</code> {_e(x.resource)}: expired {x.expires.isoformat()} ({_e(x.reason)}), "
        f"{x.matched} finding(s) no longer suppressed</li>"
        for x in report.expired_suppressions
    )
    expired_html = f'<section id="expired"><h2>Expired suppressions</h2><ul>{expired}</ul></section>' if expired else ""
    incomplete = "" if report.complete else '<p class="meta"><b>Incomplete run:</b> some scopes were not audited.</p>'
    title = f"Resource audit {report.generated_at:%Y-%m-%d %H:%M} UTC"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
        f'<header><h1>{_e(title)}</h1><p class="meta">run {_e(report.run_id)} &middot; accounts '
        f"{_e(', '.join(report.accounts))} &middot; regions {_e(', '.join(report.regions))} &middot; schema "
        f"{_e(report.schema_name)} v{report.schema_version}</p>{incomplete}</header>"
        f"{_glance(report)}{_accounts(report)}{_checks_table(report)}{_diff(report)}{_summary(report)}{expired_html}{_fixes(report)}"
        f'<footer><p class="meta">Savings are estimates: {_e(report.prices.note)} Prices: '
        f"{_e(report.prices.source)}, as of {_e(report.prices.as_of)}.</p></footer>"
        f'<script type="application/json" id="audit-data">{_json_in_html(page_data(report))}</script>'
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def link(url: str, **filters: str) -> str:
    """A link to the report that opens with the checks table filtered (e.g. ``severity="critical"``)."""
    return url + "#" + "&".join(f"{k}={quote(v)}" for k, v in filters.items())
