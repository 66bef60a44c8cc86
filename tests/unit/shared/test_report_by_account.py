"""A run report's units grouped by account: each unit in one row, the total row the sum of the rows."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.report import UnitResult, by_account, total_of, unit_status

ACCOUNTS = ["111111111111", "222222222222", "333333333333"]
REGIONS = ["eu-west-1", "us-east-1", "*"]
KEYS = ["created", "deleted", "kept", "copied"]


@st.composite
def units(draw: st.DrawFn) -> list[UnitResult]:
    found = []
    pairs = draw(st.lists(st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(REGIONS)), unique=True, max_size=9))
    for account, region in pairs:
        unit = UnitResult(account=account, region=region, complete=draw(st.booleans()))
        for key, n in draw(st.dictionaries(st.sampled_from(KEYS), st.integers(0, 50))).items():
            unit.count(key, n)
        for _ in range(draw(st.integers(0, 2))):
            unit.fail("delete", "InvalidSnapshot.InUse")
        found.append(unit)
    return found


def test_a_unit_with_a_failure_failed_one_not_complete_is_incomplete_else_ok() -> None:
    failed = UnitResult(account="1", region="r", complete=False)
    failed.fail("unit", "boom")
    assert unit_status(failed) == "failed"
    assert unit_status(UnitResult(account="1", region="r", complete=False)) == "incomplete"
    assert unit_status(UnitResult(account="1", region="r")) == "ok"


def test_rows_are_in_account_order_with_their_regions_and_a_count_of_zero_kept() -> None:
    a = UnitResult(account="222222222222", region="us-east-1", counts={"deleted": 0, "kept": 2})
    b = UnitResult(account="111111111111", region="eu-west-1", counts={"deleted": 3})
    c = UnitResult(account="222222222222", region="eu-west-1", complete=False, counts={"kept": 1})
    rows = by_account([a, b, c])
    assert [r.account for r in rows] == ["111111111111", "222222222222"]
    second = rows[1]
    assert second.regions == ["eu-west-1", "us-east-1"]
    assert (second.units, second.ok, second.incomplete, second.failed) == (2, 1, 1, 0)
    assert second.counts == {"deleted": 0, "kept": 3}


@settings(max_examples=150)
@given(units())
def test_every_unit_is_in_one_row_and_the_total_row_is_the_sum_of_the_rows(found: list[UnitResult]) -> None:
    rows = by_account(found)
    total = total_of(rows)
    assert sorted((r.account, region) for r in rows for region in r.regions) == sorted(
        (u.account, u.region) for u in found
    )
    assert total.units == len(found) == sum(r.units for r in rows)
    for row in rows:
        assert row.ok + row.failed + row.incomplete == row.units
    assert (
        Counter(unit_status(u) for u in found)
        == Counter({"ok": total.ok, "failed": total.failed, "incomplete": total.incomplete}) - Counter()
    )
    assert total.failures == sum(len(u.failures) for u in found)
    expected: Counter[str] = Counter()
    for unit in found:
        expected.update(unit.counts)
    assert total.counts == dict(expected)
