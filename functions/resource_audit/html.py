"""The self-contained HTML report: no external scripts, fonts or styles; works from a file, an email or S3.

Top to bottom: what changed since the last report, the summary (with an inline SVG chart), the findings table
(filter and sort in the page; ``#status=FAIL&severity=high&q=vol-`` in the URL pre-filters it), the checks.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from functions.resource_audit.findings import AuditReport, Finding, sort_key
from functions.resource_audit.models import CATEGORIES, SEVERITIES
from functions.resource_audit.plan import NEVER_CUT, by_severity
from functions.resource_audit.render import ordered

COLORS = {"critical": "#7b1fa2", "high": "#c62828", "medium": "#ef6c00", "low": "#f9a825", "info": "#607d8b"}
CAT_COLORS = {"cost": "#2e7d32", "security": "#c62828", "reliability": "#1565c0"}
STATUS_COLORS = {"FAIL": "#c62828", "ERROR": "#6a1b9a", "SUPPRESSED": "#757575", "PASS": "#2e7d32",
                 "UNKNOWN": "#6a1b9a"}  # fmt: skip

STYLE = """
:root{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#fff}
body{margin:0 auto;max-width:1400px;padding:16px 24px}
h1{margin:0 0 4px;font-size:24px}h2{font-size:18px;margin:24px 0 8px;border-bottom:1px solid #d0d7de}
.meta{color:#57606a;font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:8px}
.card{border:1px solid #d0d7de;border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:24px}.card span{font-size:12px;color:#57606a;text-transform:uppercase}
.new b{color:#c62828}.resolved b{color:#2e7d32}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:16px;align-items:start}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #eaeef2;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f8fa;position:sticky;top:0}
#findings-table th{cursor:pointer;user-select:none}
#findings-table th[aria-sort=ascending]::after{content:" \\25B2"}
#findings-table th[aria-sort=descending]::after{content:" \\25BC"}
.sev{color:#fff;border-radius:3px;padding:0 5px;font-size:12px}
.st{font-weight:600}.chg{font-size:11px;border-radius:3px;padding:0 4px;background:#fff3cd}
.controls{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0;align-items:center}
.controls input,.controls select{font:inherit;padding:3px 6px}
.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#57606a}code{font-size:12px}
tr[hidden]{display:none}
"""

SCRIPT = """
(function () {
  var table = document.getElementById("findings-table");
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var ids = ["q", "f-status", "f-severity", "f-category", "f-region", "f-change"];
  var el = {};
  ids.forEach(function (id) { el[id] = document.getElementById(id); });
  function apply() {
    var text = el.q.value.trim().toLowerCase(), st = el["f-status"].value, n = 0;
    rows.forEach(function (r) {
      var d = r.dataset;
      var ok = (st === "open" ? d.status !== "PASS" : (st === "" || d.status === st)) &&
        (!el["f-severity"].value || d.severity === el["f-severity"].value) &&
        (!el["f-category"].value || d.category === el["f-category"].value) &&
        (!el["f-region"].value || d.region === el["f-region"].value) &&
        (!el["f-change"].value || d.change === el["f-change"].value) &&
        (!text || r.textContent.toLowerCase().indexOf(text) >= 0);
      r.hidden = !ok;
      if (ok) { n++; }
    });
    document.getElementById("shown").textContent = n + " of " + rows.length + " findings shown";
  }
  ids.forEach(function (id) {
    el[id].addEventListener("input", apply);
    el[id].addEventListener("change", apply);
  });
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, col) {
    th.addEventListener("click", function () {
      var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      var numeric = th.dataset.type === "number";
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.sort || a.cells[col].textContent;
        var y = b.cells[col].dataset.sort || b.cells[col].textContent;
        if (numeric) { return dir * ((parseFloat(x) || 0) - (parseFloat(y) || 0)); }
        return dir * x.localeCompare(y);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  var names = {status: "f-status", severity: "f-severity", category: "f-category", region: "f-region",
    change: "f-change", q: "q"};
  location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
    var kv = pair.split("=");
    if (!names[kv[0]]) { return; }
    try { el[names[kv[0]]].value = decodeURIComponent(kv[1] || ""); } catch (e) { /* a malformed value: ignored */ }
  });
  apply();
})();
"""


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


def _diff(report: AuditReport) -> str:
    d = report.diff
    if d.previous_generated_at:
        since = f"since the report of {d.previous_generated_at:%Y-%m-%d %H:%M} UTC (run {_e(d.previous_run_id)})"
    elif d.previous_problem:
        since = f'<b id="diff-problem">No diff: {_e(d.previous_problem)}.</b> Every failing finding counts as new.'
    else:
        since = "first report: no previous one to compare with"
    cards = (
        f'<div class="card new"><span>new</span><b id="diff-new">{len(d.new)}</b></div>'
        f'<div class="card resolved"><span>resolved</span><b id="diff-resolved">{len(d.resolved)}</b></div>'
        f'<div class="card"><span>still open</span><b id="diff-open">{d.still_open}</b></div>'
        f'<div class="card"><span>unknown</span><b id="diff-unknown">{len(d.unknown)}</b></div>'
    )
    return (
        f'<section id="diff"><h2>Since the last report</h2><p class="meta">{since}</p><div class="cards">{cards}</div>'
        f"{_short_list('New failing findings', d.new)}{_short_list('Resolved', d.resolved)}"
        f"{_short_list(UNKNOWN_TITLE, d.unknown)}</section>"
    )


def _summary(report: AuditReport) -> str:
    s = report.summary
    sev_cards = "".join(
        f'<div class="card"><span>{_e(k)}</span><b style="color:{COLORS[k]}" data-severity="{k}">{v}</b></div>'
        for k, v in s.by_severity.items()
    )
    status = " &middot; ".join(f"{_e(k)} {v}" for k, v in s.by_status.items())
    saving = (
        f'<div class="card"><span>est. savings / month</span><b id="savings">${s.monthly_saving_usd:,.2f}</b></div>'
    )
    charts = bar_chart("Failing by severity", [(k, s.by_severity.get(k, 0), COLORS[k]) for k in SEVERITIES])
    charts += bar_chart("Failing by category", [(k, s.by_category.get(k, 0), CAT_COLORS[k]) for k in CATEGORIES])
    errors = (
        f'<p class="meta">Checks in ERROR (could not run; not a pass): {_e(", ".join(s.checks_in_error))}</p>'
        if s.checks_in_error
        else ""
    )
    return (
        f'<section id="summary"><h2>Summary</h2><div class="cards">{sev_cards}{saving}</div>'
        f'<p class="meta">All findings: {status}; {s.checks_run} checks run.</p>{errors}'
        f'<div class="grid"><div id="chart">{charts}</div>{_count_table("category", s.by_category)}'
        f"{_count_table('region', s.by_region)}{_count_table('account', s.by_account)}</div></section>"
    )


def _options(values: list[str], all_label: str) -> str:
    return f'<option value="">{_e(all_label)}</option>' + "".join(
        f'<option value="{_e(v)}">{_e(v)}</option>' for v in values
    )


def _findings(report: AuditReport) -> str:
    rows = []
    for change, f, previous in ordered(report):
        status = ("RESOLVED" if change == "resolved" else "UNKNOWN") if previous else f.status
        color = STATUS_COLORS.get(status, "#2e7d32")
        saving = "" if f.monthly_saving_usd is None else f"{f.monthly_saving_usd:,.2f}"
        chg = f'<span class="chg">{_e(change)}</span>' if change else ""
        rows.append(
            f'<tr data-status="{_e(status)}" data-severity="{f.severity}" data-category="{f.category}" '
            f'data-region="{_e(f.region)}" data-change="{_e(change)}">'
            f'<td data-sort="{SEVERITIES.index(f.severity)}">{_sev(f.severity)}</td>'
            f'<td class="st" style="color:{color}">{_e(status)} {chg}</td>'
            f"<td>{_e(f.category)}</td><td><code>{_e(f.check_id)}</code></td><td>{_e(f.account)}</td>"
            f'<td>{_e(f.region)}</td><td title="{_e(f.arn or "")}">{_e(f.resource)}</td><td>{_e(f.evidence)}'
            f"{'<br><span class=muted>' + _e(f.suppressed_by) + '</span>' if f.suppressed_by else ''}</td>"
            f'<td class="num" data-sort="{f.monthly_saving_usd or 0}">{saving}</td></tr>'
        )
    regions = sorted({f.region for f in report.findings})
    heads = ["severity", "status", "category", "check", "account", "region", "resource", "evidence", "$ / month"]
    thead = "".join(
        f'<th scope="col"{" data-type=number" if h in ("severity", "$ / month") else ""}>{_e(h)}</th>' for h in heads
    )
    controls = (
        '<div class="controls"><input id="q" type="search" placeholder="search any text" aria-label="search">'
        '<select id="f-status" aria-label="status"><option value="open">not passing</option>'
        '<option value="">every status</option>'
        + "".join(
            f'<option value="{s}">{s}</option>' for s in ("FAIL", "ERROR", "SUPPRESSED", "PASS", "RESOLVED", "UNKNOWN")
        )
        + "</select>"
        f'<select id="f-severity" aria-label="severity">{_options(list(SEVERITIES), "every severity")}</select>'
        f'<select id="f-category" aria-label="category">{_options(list(CATEGORIES), "every category")}</select>'
        f'<select id="f-region" aria-label="region">{_options(regions, "every region")}</select>'
        f'<select id="f-change" aria-label="change">{_options(list(CHANGES), "any change")}</select>'
        f'<span id="shown" class="muted">{len(rows)} findings</span></div>'
    )
    return (
        f'<section id="findings"><h2>Findings</h2>{controls}<table id="findings-table"><thead><tr>{thead}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _checks(report: AuditReport) -> str:
    rows = "".join(
        f'<tr id="check-{_e(c.id)}"><td><code>{_e(c.id)}</code></td><td>{_sev(c.severity)}</td><td>{_e(c.category)}'
        f"</td><td>{_e(c.title)}</td><td>{_e(c.remediation)}</td></tr>"
        for c in report.checks
    )
    return (
        '<section id="checks"><h2>Checks</h2><table><thead><tr><th>id</th><th>severity</th><th>category</th>'
        f"<th>finds</th><th>how to fix</th></tr></thead><tbody>{rows}</tbody></table></section>"
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
        f"{_diff(report)}{_summary(report)}{expired_html}{_findings(report)}{_checks(report)}"
        f'<footer><p class="meta">Savings are estimates: {_e(report.prices.note)} Prices: '
        f"{_e(report.prices.source)}, as of {_e(report.prices.as_of)}.</p></footer>"
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def link(url: str, **filters: str) -> str:
    """A link to the report that opens with the findings table filtered (e.g. ``status="FAIL"``)."""
    return url + "#" + "&".join(f"{k}={quote(v)}" for k, v in filters.items())
