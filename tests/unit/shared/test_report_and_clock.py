"""Run report, notification text and the time budget."""

from __future__ import annotations

from datetime import UTC, datetime

from botocore.exceptions import ClientError

from shared.clock import TimeBudget
from shared.notify import should_notify, summary_text
from shared.report import Action, RunReport, UnitResult, response_of


def report(**counts: int) -> RunReport:
    unit = UnitResult(account="123456789012", region="eu-west-1")
    for key, n in counts.items():
        unit.count(key, n)
    return RunReport(
        task="t", run_id="r1", dry_run=False, started_at=datetime(2026, 11, 27, 13, 5, 9, tzinfo=UTC), units=[unit]
    )


def test_dated_key_sorts_by_time_and_names_the_run() -> None:
    assert report().dated_key("reports") == "reports/t/2026/11/27/130509Z-r1.json"
    assert report().dated_key("") == "t/2026/11/27/130509Z-r1.json"


def test_status_follows_failures_then_completeness() -> None:
    ok = report(created=2)
    assert ok.status == "succeeded"
    ok.complete = False
    assert ok.status == "incomplete"
    ok.units[0].fail(
        "delete", ClientError({"Error": {"Code": "Throttling", "Message": "slow"}}, "DeleteSnapshot"), resource="snap-1"
    )
    assert ok.status == "failed"
    assert ok.failures[0].error_code == "Throttling"
    assert ok.totals == {"created": 2, "failed": 1}


def test_the_status_is_part_of_the_serialised_report() -> None:
    assert report().model_dump(mode="json")["status"] == "succeeded"


def test_a_report_too_large_for_a_lambda_response_is_returned_as_its_summary() -> None:
    big = report()
    for i in range(50):
        big.units[0].add(Action(action="keep", resource=f"snap-{i}", reason="x" * 200))
    assert len(response_of(big)["units"][0]["actions"]) == 50
    small = response_of(big, max_bytes=2_000)
    assert small["actions_omitted"] is True
    assert "actions" not in small["units"][0]


def test_notification_on_failure_or_incomplete_unless_always_or_never() -> None:
    ok, incomplete = report(), report()
    incomplete.complete = False
    assert not should_notify(ok, "failure")
    assert should_notify(incomplete, "failure")
    assert should_notify(ok, "always")
    assert not should_notify(incomplete, "never")
    assert "INCOMPLETE" in summary_text(incomplete)


def test_time_budget_stops_under_the_margin_and_stays_stopped() -> None:
    left = [100.0]
    budget = TimeBudget(lambda: left[0], margin_s=30)
    assert not budget.exhausted()
    left[0] = 29.0
    assert budget.exhausted()
    left[0] = 500.0
    assert budget.exhausted()


class Ctx:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def get_remaining_time_in_millis(self) -> int:
        return self.ms


def test_time_budget_reads_the_lambda_context_and_is_unlimited_without_one() -> None:
    assert TimeBudget.from_context(Ctx(10_000), margin_s=30).exhausted()
    assert not TimeBudget.from_context(Ctx(60_000), margin_s=30).exhausted()
    assert not TimeBudget.from_context(None, margin_s=30).exhausted()
    assert TimeBudget.from_context(None, margin_s=30, max_seconds=1).exhausted()


def test_progress_reaches_the_listener_with_totals_that_add_up_across_units() -> None:
    from shared import progress

    seen: list[tuple[str, int, int | None]] = []
    progress.listen(lambda what, n, total: seen.append((what, n, total)))
    try:
        progress.expect("snapshots to delete", 3)
        progress.expect("snapshots to delete", 2)
        progress.advance("snapshots to delete")
    finally:
        progress.listen(None)
    progress.advance("nobody listens")
    assert seen == [("snapshots to delete", 0, -3), ("snapshots to delete", 0, -2), ("snapshots to delete", 1, None)]
