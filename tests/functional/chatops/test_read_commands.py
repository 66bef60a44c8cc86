"""`list`, `status` and `report audit`: answers read from the schedules and the run reports in the bucket."""

from __future__ import annotations

from datetime import timedelta

import boto3

from shared.report import RunReport, UnitResult
from tests.chatops_support import BUCKET, PLANNER, Rig, command_body, url_event


def _ask(rig: Rig, text: str) -> str:
    rig.handle(url_event(command_body(text, user=PLANNER, response_url=rig.slack.response_url())))
    rig.deliver()
    return str(rig.slack.responses()[-1]["text"])


def _report(
    rig: Rig,
    task: str,
    *,
    minutes_ago: int,
    finished: bool = True,
    failed: bool = False,
    notes: list[str] | None = None,
    counts: dict[str, int] | None = None,
) -> None:
    started = rig.now[0] - timedelta(minutes=minutes_ago)
    unit = UnitResult(account="123456789012", region="eu-west-1", counts=counts or {})
    if failed:
        unit.fail("delete", "in use", resource="eu-west-1/snap-0abc")
    report = RunReport(
        task=task,
        run_id=f"run-{minutes_ago}",
        dry_run=False,
        started_at=started,
        finished_at=started + timedelta(minutes=1) if finished else None,
        complete=finished,
        units=[unit],
        notes=notes or [],
    )
    boto3.client("s3").put_object(Bucket=BUCKET, Key=report.dated_key("reports"), Body=report.to_json().encode())


def test_list_shows_each_task_with_its_policies_and_its_last_run(rig: Rig) -> None:
    _report(rig, "snapshot-rotation", minutes_ago=90, failed=True)
    _report(rig, "snapshot-rotation", minutes_ago=30)
    text = _ask(rig, "list")
    assert "*snapshot-rotation* · `daily` cron(15 3 * * ? *) UTC" in text
    assert "*succeeded*" in text, "the latest run, not the earlier failure"
    assert (rig.now[0] - timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M") in text


def test_status_shows_runs_in_progress_and_the_last_failures(rig: Rig) -> None:
    _report(rig, "snapshot-rotation", minutes_ago=5, finished=False)
    _report(rig, "snapshot-rotation", minutes_ago=60, failed=True)
    text = _ask(rig, "status")
    assert "*Running*\n• *snapshot-rotation* started" in text
    assert "(run run-5)" in text
    assert "delete eu-west-1/snap-0abc Error" in text


def test_report_audit_says_when_the_audit_is_not_deployed(rig: Rig) -> None:
    assert _ask(rig, "report audit") == "the resource audit is not deployed here"


def test_report_audit_shows_the_latest_audit_counts_headlines_and_link(rig: Rig) -> None:
    rig.functions = {"resource-audit": "devops-tasks-test-resourceAudit"}
    _report(rig, "resource-audit", minutes_ago=120, counts={"findings_fail": 9})
    _report(
        rig,
        "resource-audit",
        minutes_ago=10,
        counts={"findings_fail": 3, "findings_pass": 40},
        notes=["2 new findings, 8 resolved since the last report", "critical: s3-bucket-public-read my-bucket"],
    )
    text = _ask(rig, "report audit")
    assert "*succeeded* · fail 3, pass 40" in text
    assert "2 new findings, 8 resolved since the last report" in text
    assert "critical: s3-bucket-public-read my-bucket" in text
    assert "console.aws.amazon.com/s3/object/devops-tasks-reports" in text
