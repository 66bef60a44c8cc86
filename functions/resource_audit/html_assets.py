"""The HTML report's own style and script (inline in the page: no external script, font or style)."""

from __future__ import annotations

STYLE = """
:root{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#fff}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1400px;padding:12px 20px}
h1{margin:0 0 2px;font-size:22px}h2{font-size:18px;margin:22px 0 8px;border-bottom:1px solid #d0d7de}
h3{font-size:15px;margin:14px 0 6px}h4{font-size:13px;margin:10px 0 4px}
.meta{color:#57606a;font-size:13px;margin:4px 0}
.cards{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}
.card{border:1px solid #d0d7de;border-radius:6px;padding:6px 12px;min-width:96px;flex:0 1 auto}
.card b{display:block;font-size:24px}.card span{font-size:12px;color:#57606a;text-transform:uppercase}
.new b{color:#c62828}.resolved b{color:#2e7d32}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:16px;align-items:start}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #eaeef2;padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f6f8fa}
.sev{color:#fff;border-radius:3px;padding:0 5px;font-size:12px;white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#57606a}code{font-size:12px;overflow-wrap:anywhere}
.controls{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0;align-items:center}
.controls input,.controls select{font:inherit;padding:3px 6px;max-width:100%}
tr.svc th{background:#eef2f6;font-size:13px}
tr.more td{padding:0 6px 6px;border-bottom:1px solid #d0d7de}
details summary{cursor:pointer;color:#0b57d0;font-size:12px}
.rows td{font-size:12px}.chg{font-size:11px;border-radius:3px;padding:0 4px;background:#fff3cd}
[hidden]{display:none !important}
svg{max-width:100%;height:auto}
@media (max-width:640px){
body{padding:8px 10px}
.card{min-width:0;flex:1 1 28%;padding:4px 8px}.card b{font-size:20px}
table.reflow thead{display:none}
table.reflow,table.reflow tbody,table.reflow tr,table.reflow td,table.reflow th{display:block;width:100%}
table.reflow tr{border-bottom:1px solid #d0d7de;padding:4px 0}
table.reflow td{border:0;padding:1px 4px}
table.reflow td[data-label]::before{content:attr(data-label) ": ";color:#57606a}
}
"""

SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById("audit-data").textContent);
  var S = data.s, STATUS = data.status, CHANGE = data.change;
  var ids = ["q", "f-severity", "f-status", "f-account", "f-service", "f-change"];
  var el = {};
  ids.forEach(function (id) { el[id] = document.getElementById(id); });
  var byCheck = {};
  data.f.forEach(function (r) { (byCheck[data.c[r[0]]] = byCheck[data.c[r[0]]] || []).push(r); });
  function matches(r) {
    var st = el["f-status"].value, text = el.q.value.trim().toLowerCase();
    if (st && STATUS[r[1]] !== st) { return false; }
    if (el["f-account"].value && S[r[3]] !== el["f-account"].value) { return false; }
    if (el["f-change"].value && CHANGE[r[2]] !== el["f-change"].value) { return false; }
    if (text) {
      var hay = [data.c[r[0]], S[r[3]], S[r[4]], S[r[5]], S[r[6]]].join(" ").toLowerCase();
      if (hay.indexOf(text) < 0) { return false; }
    }
    return true;
  }
  function cell(tr, text, cls, label) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) { td.className = cls; }
    if (label) { td.setAttribute("data-label", label); }
    tr.appendChild(td);
  }
  function render(box, rows) {
    box.textContent = "";
    var accounts = {};
    rows.forEach(function (r) { (accounts[S[r[3]]] = accounts[S[r[3]]] || []).push(r); });
    Object.keys(accounts).sort().forEach(function (account) {
      var h = document.createElement("h4");
      h.textContent = "account " + account + " (" + accounts[account].length + ")";
      box.appendChild(h);
      var table = document.createElement("table");
      table.className = "rows reflow";
      var body = document.createElement("tbody");
      accounts[account].forEach(function (r) {
        var tr = document.createElement("tr");
        tr.setAttribute("data-status", STATUS[r[1]]);
        cell(tr, STATUS[r[1]] + (CHANGE[r[2]] ? " (" + CHANGE[r[2]] + ")" : ""), "st", "status");
        cell(tr, S[r[4]], "", "region");
        cell(tr, S[r[5]], "", "resource");
        cell(tr, S[r[6]] + (r[8] >= 0 ? " [" + S[r[8]] + "]" : ""), "", "evidence");
        cell(tr, r[7] === null ? "" : "$" + r[7].toFixed(2), "num", "$/month");
        body.appendChild(tr);
      });
      table.appendChild(body);
      box.appendChild(table);
    });
  }
  function apply() {
    var sev = el["f-severity"].value, svc = el["f-service"].value, shown = 0;
    Array.prototype.forEach.call(document.querySelectorAll("tr.check"), function (tr) {
      var check = tr.getAttribute("data-check");
      var rows = (byCheck[check] || []).filter(matches);
      var filtered = ids.some(function (id) { return id !== "f-severity" && id !== "f-service" && el[id].value; });
      var ok = (!sev || tr.getAttribute("data-severity") === sev) &&
        (!svc || tr.getAttribute("data-service") === svc) && (!filtered || rows.length > 0);
      tr.hidden = !ok;
      var more = document.getElementById("more-" + check);
      if (more) {
        more.hidden = !ok || !(byCheck[check] || []).length;
        var details = more.querySelector("details");
        details.querySelector(".n").textContent = rows.length;
        if (details.open) { render(details.querySelector(".list"), rows); }
      }
      if (ok) { shown++; }
    });
    document.getElementById("shown").textContent = shown + " checks shown";
  }
  Array.prototype.forEach.call(document.querySelectorAll("tr.more details"), function (details) {
    details.addEventListener("toggle", function () {
      if (!details.open) { return; }
      var rows = (byCheck[details.getAttribute("data-check")] || []).filter(matches);
      render(details.querySelector(".list"), rows);
    });
  });
  ids.forEach(function (id) {
    el[id].addEventListener("input", apply);
    el[id].addEventListener("change", apply);
  });
  var names = {severity: "f-severity", status: "f-status", account: "f-account", service: "f-service",
    change: "f-change", q: "q"};
  var params = (location.hash.replace(/^#/, "") + "&" + location.search.replace(/^\\?/, "")).split("&");
  var given = false, open = null;
  params.forEach(function (pair) {
    var kv = pair.split("="), value;
    try { value = decodeURIComponent(kv[1] || ""); } catch (e) { return; /* a malformed value: ignored */ }
    if (kv[0] === "check") { open = value; given = true; return; }
    if (!names[kv[0]]) { return; }
    el[names[kv[0]]].value = value;
    given = true;
  });
  apply();
  if (open) {
    var more = document.getElementById("more-" + open);
    if (more) { more.querySelector("details").open = true; }
  }
  if (given) { document.getElementById("checks").scrollIntoView(); }
})();
"""
