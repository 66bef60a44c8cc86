"""Pure audit logic: which checks run, checks over inventories, suppressions, and the diff with the last report.

Never AWS, never the clock: inventories, settings and ``now`` come in; findings go out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from fnmatch import fnmatchcase

from functions.resource_audit.checks import CHECKS, Check
from functions.resource_audit.checks.base import CheckEnv, Inventory, Outcome, Scope
from functions.resource_audit.findings import AuditReport, Diff, Finding, sort_key, worst
from functions.resource_audit.models import SEVERITIES, ResourceAuditInput, Suppression

GLOBAL = "global"
"""The region label of account-wide findings (IAM, account settings, CloudTrail)."""


def enabled_checks(params: ResourceAuditInput) -> list[Check]:
    """The checks this run performs: ``checks`` (or all) less ``skip_checks``; tag checks need required tags."""
    chosen = [c for c in CHECKS if (not params.checks or c.id in params.checks) and c.id not in params.skip_checks]
    if not params.required_tags:
        chosen = [c for c in chosen if not c.id.startswith("tags-required-")]
    return chosen


def sources_needed(checks: Iterable[Check], params: ResourceAuditInput, scope: Scope) -> set[str]:
    return {name for c in checks if c.scope == scope for name in c.sources(params)}


def scope_key(check: Check | Finding, account: str, region: str) -> str:
    """What one check covers in one run of one unit: per region, or per account for account-wide checks."""
    if isinstance(check, Check):
        is_account = check.scope == "account"
        check_id = check.id
    else:
        is_account = check.check_id in {c.id for c in CHECKS if c.scope == "account"}
        check_id = check.check_id
    return f"{check_id}|{account}|{'*' if is_account else region}"


@dataclass
class Evaluation:
    """The findings of one scope, which check scopes ran cleanly, how often each expired suppression matched,
    and the exception of each check that raised (for the logs: the findings already say what happened)."""

    findings: list[Finding] = field(default_factory=list)
    audited: set[str] = field(default_factory=set)
    expired_hits: Counter[int] = field(default_factory=Counter)
    raised: dict[str, Exception] = field(default_factory=dict)


EVIDENCE_MAX = 500


def evaluate(checks: Sequence[Check], inv: Inventory, env: CheckEnv, scope: Scope) -> Evaluation:
    """Run every check of ``scope`` over one inventory, each isolated from the others.

    A check whose listing failed gives one ERROR finding for the scope (never PASS). A check that raises (a bug,
    or data in a shape it does not expect) keeps the outcomes it gave before and adds one ERROR finding for the
    scope naming the exception; its scope counts as not audited. The other checks go on either way.
    """
    out = Evaluation()
    for chk in checks:
        if chk.scope != scope:
            continue
        failed = {name: inv.errors[name] for name in chk.sources(env.params) if name in inv.errors}
        if failed:
            evidence = "; ".join(f"{name}: {err}" for name, err in sorted(failed.items()))
            out.findings.append(_finding(chk, inv, Outcome("*", "scope", "ERROR", f"could not list {evidence}")))
            continue
        try:
            for outcome in chk.run(inv, env):
                if outcome.status == "PASS" and not env.params.include_passes:
                    continue
                out.findings.append(_suppressed(chk, inv, outcome, env, out.expired_hits))
        except Exception as exc:  # noqa: BLE001 - becomes this check's ERROR finding; the other checks go on
            out.raised[chk.id] = exc
            why = f"the check raised {type(exc).__name__}: {exc}"[:EVIDENCE_MAX]
            out.findings.append(_finding(chk, inv, Outcome("*", "scope", "ERROR", why)))
            continue
        out.audited.add(scope_key(chk, inv.account, inv.region))
    return out


def _finding(chk: Check, inv: Inventory, o: Outcome, **extra: object) -> Finding:
    fields: dict[str, object] = {
        "check_id": chk.id,
        "title": chk.title,
        "category": chk.category,
        "severity": chk.severity,
        "status": o.status,
        "account": inv.account,
        "region": o.region or inv.region,
        "resource_type": o.resource_type,
        "resource": o.resource,
        "arn": o.arn,
        "evidence": o.evidence,
        "monthly_saving_usd": o.saving,
    }
    return Finding.model_validate(fields | extra)


def tag_ignores(value: str | None, check_id: str) -> bool:
    """Whether an ignore tag's value (``id[,id...]``, ``*`` or ``all``) names this check."""
    ids = {part.strip() for part in (value or "").split(",") if part.strip()}
    return bool(ids & {check_id, "*", "all"})


def matches(s: Suppression, check_id: str, resource: str, arn: str | None) -> bool:
    if s.check not in (check_id, "*"):
        return False
    return fnmatchcase(resource, s.resource) or (arn is not None and fnmatchcase(arn, s.resource))


def active(s: Suppression, today: date) -> bool:
    """A suppression applies up to and including its expiry date (UTC)."""
    return today <= s.expires


def _suppressed(chk: Check, inv: Inventory, o: Outcome, env: CheckEnv, expired_hits: Counter[int]) -> Finding:
    if o.status != "FAIL":
        return _finding(chk, inv, o)
    params = env.params
    if tag_ignores(o.tags.get(params.ignore_tag), chk.id):
        return _finding(chk, inv, o, status="SUPPRESSED", suppressed_by=f"tag {params.ignore_tag}")
    today = env.now.date()
    notes = []
    for index, s in enumerate(params.suppressions):
        if not matches(s, chk.id, o.resource, o.arn):
            continue
        if active(s, today):
            return _finding(
                chk, inv, o, status="SUPPRESSED", suppressed_by=f"config until {s.expires.isoformat()}: {s.reason}"
            )
        expired_hits[index] += 1
        notes.append(f"suppression expired {s.expires.isoformat()} ({s.reason})")
    if notes:
        return _finding(chk, inv, o, evidence=f"{o.evidence}; {'; '.join(notes)}")
    return _finding(chk, inv, o)


def unaudited(checks: Sequence[Check], units: Iterable[tuple[str, str]], audited: set[str]) -> set[str]:
    """The check scopes of a run's (account, region) units that were not audited cleanly; region ``*`` is an
    account that could not be reached (``*|account|*``: every check of it)."""
    expected: set[str] = set()
    accounts: set[str] = set()
    for account, region in units:
        if account == "*":
            continue
        if region == "*":
            expected.add(f"*|{account}|*")
            continue
        accounts.add(account)
        expected |= {scope_key(c, account, region) for c in checks if c.scope == "region"}
    expected |= {scope_key(c, account, "*") for c in checks if c.scope == "account" for account in accounts}
    return expected - audited


def _resource(f: Finding) -> tuple[str, str, str]:
    # by resource, not region: a bucket whose region could not be read is reported in its account's region label
    return (f.check_id, f.account, f.resource)


def _unseen(errors: Iterable[Finding], scopes: Iterable[str]) -> Callable[[Finding], bool]:
    """Whether a report could not see a finding: its resource or its check scope was in ERROR or not audited."""
    resources = {_resource(f) for f in errors if f.status == "ERROR"}
    blind = set(scopes) | {
        scope_key(f, f.account, f.region) for f in errors if f.status == "ERROR" and f.resource == "*"
    }

    def unseen(f: Finding) -> bool:
        return _resource(f) in resources or scope_key(f, f.account, f.region) in blind or f"*|{f.account}|*" in blind

    return unseen


def diff(
    previous: AuditReport | None,
    findings: Sequence[Finding],
    audited: set[str],
    problem: str | None = None,
    *,
    unaudited: Iterable[str] = (),
) -> Diff:
    """New, resolved, unknown and still-open failing findings against the previous report.

    Resolved means: failing last time, and this run audited that check's scope cleanly and the resource no
    longer fails (it passes, is suppressed, or is gone). New means: failing now, and the previous report saw that
    resource fail not. Where either report could not see (the check's scope or the resource in ERROR there, or
    in ``unaudited``: the unit failed or ran out of time, the account could not be reached) the finding is
    unknown, never new or resolved. Failures last time in scopes this run did not cover at all (checks or
    regions no longer chosen) are left out. Without a previous report every failure is new; ``problem`` says
    why when one could not be read.
    """
    failing_now = {f.key: f for f in findings if f.status == "FAIL"}
    if previous is None:
        return Diff(new=sorted(failing_now.values(), key=sort_key), previous_problem=problem)
    failing_before = {f.key: f for f in previous.findings if f.status == "FAIL"}
    unseen_before = _unseen(previous.findings, previous.unaudited or ())
    unseen_now = _unseen(findings, unaudited)
    new: list[Finding] = []
    resolved: list[Finding] = []
    unknown: list[Finding] = []
    for k, f in failing_now.items():
        if k not in failing_before:
            (unknown if unseen_before(f) else new).append(f)
    for k, f in failing_before.items():
        if k in failing_now:
            continue
        if unseen_now(f):
            unknown.append(f)
        elif scope_key(f, f.account, f.region) in audited:
            resolved.append(f)
    return Diff(
        previous_run_id=previous.run_id,
        previous_generated_at=previous.generated_at,
        new=sorted(new, key=sort_key),
        resolved=sorted(resolved, key=sort_key),
        unknown=sorted(unknown, key=sort_key),
        still_open=len(set(failing_now) & set(failing_before)),
    )


NEVER_CUT = ("critical", "high")
"""Severities whose new findings every listing shows in full (HTML, notification)."""
OTHERS_LISTED = 10
"""New findings of lower severities the notification lists before it says how many more there are."""
LISTING_BYTES = 60_000
"""What the notification's listing may take: SNS carries 256 KB and the message repeats the headline in its JSON
summary. Past it the listing says how many critical/high findings it leaves out (the counts stay above it)."""


def by_severity(findings: Sequence[Finding]) -> str:
    """``critical 1, low 60``: the counts of each severity present, most severe first."""
    counts = Counter(f.severity for f in findings)
    return ", ".join(f"{s} {counts[s]}" for s in SEVERITIES if counts[s])


def _line(f: Finding) -> str:
    return f"- {f.severity} {f.check_id} {f.account} {f.region} {f.resource}: {f.evidence[:100]}"


def listing(new: Sequence[Finding]) -> list[str]:
    """The new failing findings for people, most severe first: every critical and high one (within what a
    notification carries), then a few of the others, then how many were left out and of which severity."""
    ordered = sorted(new, key=sort_key)
    top = [f for f in ordered if f.severity in NEVER_CUT]
    others = [f for f in ordered if f.severity not in NEVER_CUT]
    lines, size = [], 0
    for index, f in enumerate(top):
        line = _line(f)
        if size + len(line.encode()) + 1 > LISTING_BYTES:
            lines.append(
                f"... and {len(top) - index} more new critical/high ({by_severity(top[index:])}): see the report"
            )
            break
        lines.append(line)
        size += len(line.encode()) + 1
    lines += [_line(f) for f in others[:OTHERS_LISTED]]
    if len(others) > OTHERS_LISTED:
        lines.append(f"... and {len(others) - OTHERS_LISTED} more new ({by_severity(others[OTHERS_LISTED:])})")
    return lines


def headline(report: AuditReport) -> list[str]:
    """Short lines for people: what fails by severity, what changed (new findings listed, most severe first),
    what it costs."""
    s, d = report.summary, report.diff
    fails = ", ".join(f"{k} {v}" for k, v in s.by_severity.items() if v) or "none"
    if d.previous_generated_at:
        since = f"since {d.previous_generated_at:%Y-%m-%d %H:%M}Z"
    else:
        since = f"no diff: {d.previous_problem}" if d.previous_problem else "(first report)"
    counts = f" ({by_severity(d.new)})" if d.new else ""
    lines = [
        f"failing: {fails}; errors: {s.by_status.get('ERROR', 0)}; suppressed: {s.by_status.get('SUPPRESSED', 0)}",
        f"{since}: {len(d.new)} new{counts}, {len(d.resolved)} resolved, {d.still_open} still open"
        + (f", {len(d.unknown)} unknown (a check in ERROR then or now)" if d.unknown else ""),
        f"estimated savings: ${s.monthly_saving_usd:,.2f}/month",
    ]
    if s.checks_in_error:
        lines.append("checks in error: " + ", ".join(s.checks_in_error))
    if len(report.per_account) > 1 and (worst_rows := worst(report.per_account)):
        lines.append(
            "worst accounts: "
            + "; ".join(
                f"{r.account} ({', '.join(f'{k} {v}' for k, v in r.by_severity.items() if v)}"
                + (f", {r.new} new" if r.new else "")
                + ")"
                for r in worst_rows
            )
        )
    if d.new:
        lines.append("new failing findings, most severe first:")
        lines += listing(d.new)
    return lines


def when(now: datetime) -> str:
    return now.strftime("%Y-%m-%d %H:%M UTC")
