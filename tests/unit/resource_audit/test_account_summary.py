"""The per-account summary: its rows add up to the run's summary, whatever the findings; the worst accounts are
the ones with the most severe failures."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from functions.resource_audit.findings import Finding, summarize, summarize_accounts, worst
from functions.resource_audit.models import SEVERITIES, STATUSES
from functions.resource_audit.plan import headline
from tests.unit.resource_audit.reports import sample

ACCOUNTS = ["111111111111", "222222222222", "333333333333"]
REGIONS = ["eu-west-1", "us-east-1", "global"]

findings_st = st.lists(
    st.builds(
        lambda n, account, region, status, severity: Finding(
            check_id=f"check-{n % 4}",
            title="t",
            category="cost",
            severity=severity,
            status=status,
            account=account,
            region=region,
            resource_type="volume",
            resource=f"vol-{n}",
            evidence="e",
        ),
        st.integers(0, 50),
        st.sampled_from(ACCOUNTS),
        st.sampled_from(REGIONS),
        st.sampled_from(STATUSES),
        st.sampled_from(SEVERITIES),
    ),
    max_size=40,
)


@given(
    findings=findings_st,
    accounts=st.sets(st.sampled_from(ACCOUNTS)),
    new_mask=st.lists(st.booleans(), min_size=40, max_size=40),
    unaudited=st.lists(st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(REGIONS)), max_size=5),
)
def test_per_account_counts_add_up_to_the_runs(
    findings: list[Finding], accounts: set[str], new_mask: list[bool], unaudited: list[tuple[str, str]]
) -> None:
    new = [f for f, is_new in zip(findings, new_mask, strict=False) if is_new and f.status == "FAIL"]
    audited = {f"{f.check_id}|{f.account}|{f.region}" for f in findings if f.status != "ERROR"}
    missing = [f"check-9|{a}|{r}" for a, r in unaudited]
    rows = summarize_accounts(accounts, findings, new, audited, missing)
    run = summarize(findings, 4)

    assert [r.account for r in rows] == sorted(accounts | {f.account for f in findings} | {a for a, _ in unaudited})
    for status in STATUSES:
        assert sum(r.by_status[status] for r in rows) == run.by_status[status]
    for severity in SEVERITIES:
        assert sum(r.by_severity[severity] for r in rows) == run.by_severity[severity]
    assert sum(r.new for r in rows) == len(new)
    assert sum(r.unaudited for r in rows) == len(missing)
    assert {r.account: sum(r.by_severity.values()) for r in rows if sum(r.by_severity.values())} == run.by_account
    assert set().union(*(set(r.checks_in_error) for r in rows)) == set(run.checks_in_error)
    for row in rows:
        assert set(row.regions) == {f.region for f in findings if f.account == row.account and f.status != "ERROR"}


@given(findings=findings_st)
def test_the_worst_accounts_fail_most_severely_first(findings: list[Finding]) -> None:
    rows = summarize_accounts([], findings, [], set(), [])
    ranked = worst(rows, n=len(rows))
    assert all(any(r.by_severity.values()) for r in ranked)
    assert len(ranked) == sum(1 for r in rows if any(r.by_severity.values()))
    keys = [[r.by_severity[s] for s in SEVERITIES] for r in ranked]
    assert keys == sorted(keys, reverse=True)
    if ranked:
        top = Counter(f.account for f in findings if f.status == "FAIL" and f.severity == "critical")
        assert ranked[0].by_severity["critical"] == max(top.values(), default=0)


def test_the_headline_names_the_worst_accounts_of_a_run_of_several() -> None:
    report = sample()
    assert not any(line.startswith("worst accounts") for line in headline(report))  # one account: no ranking
    other = report.per_account[0].model_copy(
        update={"account": "999999999999", "by_severity": dict.fromkeys(SEVERITIES, 0)}
    )
    report.per_account.append(other)
    [line] = [line for line in headline(report) if line.startswith("worst accounts")]
    assert line == "worst accounts: 123456789012 (critical 2, high 1, medium 1, 1 new)"
