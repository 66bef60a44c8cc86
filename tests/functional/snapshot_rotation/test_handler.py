"""The snapshot rotation handler under in-process moto: create, rotate, report, dry run, retries, event shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.client import BaseClient
from freezegun import freeze_time

from functions.snapshot_rotation.handler import handler
from functions.snapshot_rotation.models import POLICY_TAG
from functions.snapshot_rotation.task import TASK
from shared.aws import Clients
from shared.errors import InputError
from shared.runner import execute
from tests.faults import is_mutating
from tests.functional.snapshot_rotation import estate
from tests.helpers import FakeContext, load_event

D0 = datetime(2024, 3, 1, 3, 15, tzinfo=UTC)
SHORT = {"keep_last": 3, "daily": 0, "weekly": 0, "monthly": 0}


def event(**extra: Any) -> dict[str, Any]:
    return {"report_bucket": estate.BUCKET, "policy": {"retention": SHORT}} | extra


@pytest.fixture
def seeded(aws: None) -> dict[str, str]:
    """Two tagged volumes and one untagged; db has aged owned snapshots, an AMI-used one, and foreign ones."""
    estate.reports_bucket()
    ec2 = estate.ec2()
    db = estate.volume(ec2, "db")
    web = estate.volume(ec2, "web")
    scratch = estate.volume(ec2, "scratch", backup=None)
    return {
        "db": db,
        "web": web,
        "scratch": scratch,
        "db-40": estate.snapshot(ec2, db, D0 - timedelta(days=40)),
        "db-20": estate.snapshot(ec2, db, D0 - timedelta(days=20)),
        "ami": estate.ami_snapshot(ec2, D0 - timedelta(days=100), db),
        "hand": estate.snapshot(ec2, db, D0 - timedelta(days=200), policy=None),
        "other": estate.snapshot(ec2, db, D0 - timedelta(days=300), policy="someone-else"),
    }


def owned_days(ec2: Any, volume_id: str, policy: str = "default") -> list[int]:
    """Days after D0 of the volume's snapshots owned by ``policy`` (negative: before D0)."""
    return sorted(
        (s["StartTime"] - D0).days
        for s in estate.snapshots(ec2).values()
        if s["Tags"].get("devops-tasks:volume-id") == volume_id and s["Tags"].get(POLICY_TAG) == policy
    )


def test_daily_runs_create_one_snapshot_per_volume_and_rotate_old_ones(
    seeded: dict[str, str], warm_clients: Clients
) -> None:
    ec2 = estate.ec2()
    with freeze_time(D0) as frozen:
        for day in range(10):
            frozen.move_to(D0 + timedelta(days=day))
            report = handler(event(), FakeContext())
            assert report["units"][0]["counts"]["created"] == 2
    # Retention counts completed snapshots that existed before the run: the newest 3, plus the day's new one.
    assert owned_days(ec2, seeded["db"]) == [-100, 6, 7, 8, 9]  # -100: the AMI's snapshot
    assert owned_days(ec2, seeded["web"]) == [6, 7, 8, 9]
    assert owned_days(ec2, seeded["scratch"]) == []
    left = estate.snapshots(ec2)
    assert {seeded["ami"], seeded["hand"], seeded["other"]} <= set(left)
    assert seeded["db-40"] not in left
    assert seeded["db-20"] not in left


def test_new_snapshots_are_tagged_atomically_as_owned_with_volume_tags_and_a_name(seeded: dict[str, str]) -> None:
    with freeze_time(D0):
        handler(event(), FakeContext())
    new = [s for s in estate.snapshots(estate.ec2()).values() if s["StartTime"] == D0.replace(tzinfo=UTC)]
    assert sorted(s["Tags"]["Name"] for s in new) == ["db 2024-03-01", "web 2024-03-01"]
    for s in new:
        assert s["Tags"]["devops-tasks:managed"] == "true"
        assert s["Tags"]["devops-tasks:policy"] == "default"
        assert s["Tags"]["Backup"] == "true"
        assert s["Tags"]["devops-tasks:volume-id"] == s["VolumeId"]


def test_the_report_is_written_to_s3_and_returned(seeded: dict[str, str]) -> None:
    with freeze_time(D0):
        returned = handler(event(), FakeContext())
    assert returned["location"].startswith(f"s3://{estate.BUCKET}/reports/snapshot-rotation/2024/03/01/")
    stored = estate.report_from_s3(returned["location"])
    assert stored | {"location": returned["location"]} == returned
    actions = {(a["action"], a["resource"], a["status"]) for a in returned["units"][0]["actions"]}
    assert ("delete", seeded["db-40"], "done") not in actions  # newest 3 of db before the run: -20, -40 only
    assert ("keep", seeded["ami"], "done") in actions
    assert ("create", seeded["db"], "done") in actions
    assert returned["complete"] is True


def test_dry_run_makes_no_mutating_call_and_returns_the_exact_plan(
    seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clients, log = estate.counted_clients()
    monkeypatch.setattr("shared.runner.Clients", lambda: clients)
    one_keep = {"keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0}
    before = estate.shape(estate.ec2())
    with freeze_time(D0):
        planned = handler(event(dry_run=True, policy={"retention": one_keep}), FakeContext())
    assert log.mutating("ec2") == []
    # the report only: written before any work (proving the bucket) and at the end
    assert [op for _, op, _ in log.calls if is_mutating(op)] == ["PutObject", "PutObject"]
    assert estate.shape(estate.ec2()) == before
    assert planned["dry_run"] is True

    with freeze_time(D0):
        done = handler(event(policy={"retention": one_keep}), FakeContext())

    def mutations(report: dict[str, Any], status: str) -> list[tuple[str, str, str]]:
        acts = report["units"][0]["actions"]
        return sorted((a["action"], a["resource"], a["reason"]) for a in acts if a["status"] == status)

    done_mutations = [m for m in mutations(done, "done") if m[0] in ("create", "delete")]
    assert mutations(planned, "planned") == done_mutations
    assert {m[1] for m in mutations(planned, "planned")} == {seeded["db"], seeded["web"], seeded["db-40"]}


def test_a_retried_invocation_in_the_same_period_creates_nothing(seeded: dict[str, str], warm_clients: Clients) -> None:
    with freeze_time(D0) as frozen:
        first = handler(event(), FakeContext())
        frozen.move_to(D0 + timedelta(hours=2))
        retry = handler(event(), FakeContext())
    assert first["units"][0]["counts"]["created"] == 2
    assert retry["units"][0]["counts"].get("created", 0) == 0
    reasons = {a["resource"]: a["reason"] for a in retry["units"][0]["actions"] if a["action"] == "skip"}
    assert reasons[seeded["db"]].endswith("already covers day 2024-03-01")
    days = owned_days(estate.ec2(), seeded["db"])
    assert days.count(0) == 1


def test_a_raw_eventbridge_scheduled_event_runs_with_the_configuration_from_the_environment(
    seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVOPS_TASKS_REPORT_BUCKET", estate.BUCKET)
    monkeypatch.setenv("DEVOPS_TASKS_POLICY", json.dumps({"retention": SHORT}))
    with freeze_time(D0):
        report = handler(load_event("eventbridge_scheduled.json"), FakeContext())
    assert report["units"][0]["counts"]["created"] == 2
    assert report["units"][0]["counts"].get("deleted", 0) == 0  # keep_last 3 from the environment keeps both
    assert report["location"].startswith(f"s3://{estate.BUCKET}/reports/snapshot-rotation/2024/03/01/")
    assert estate.report_from_s3(report["location"])["run_id"] == report["run_id"]


def test_the_schedule_constant_input_runs(seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVOPS_TASKS_REPORT_BUCKET", estate.BUCKET)
    with freeze_time(D0):
        report = handler(load_event("snapshot_rotation/schedule_input.json"), FakeContext())
    counts = report["units"][0]["counts"]
    assert counts["created"] == 2
    assert "deleted" not in counts  # keep_last 7 keeps both aged snapshots
    assert report["units"][0]["region"] == "eu-west-1"


class CountAllCalls:
    """Counts every botocore API call in the process, whichever client makes it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        original = BaseClient._make_api_call

        def counting(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            self.calls.append(operation)
            return original(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", counting)


@pytest.mark.parametrize(
    ("payload", "env", "field"),
    [
        ({"policy": {"retention": {"daily": -1}}}, {}, "policy.retention.daily"),
        ({"policy": {"retention": {"timezone": "Mars/Base"}}}, {}, "policy.retention.timezone"),
        ({"regions": ["Ireland"]}, {}, "regions"),
        ({"dry_run": "perhaps"}, {}, "dry_run"),
        ({"policy": {"dr": {"region": "eu-west-1"}}, "regions": ["eu-west-1"]}, {}, "policy.dr.region"),
        ({}, {"DEVOPS_TASKS_POLICY": '{"period": "fortnight"}'}, "policy.period"),
        ({}, {"DEVOPS_TASKS_MAX_WORKERS": "0"}, "max_workers"),
        ("not an object", {}, "JSON object"),
        (
            load_event("eventbridge_scheduled.json") | {"detail": {"policy": {"name": "bad name"}}},
            {},
            "policy.name",
        ),
    ],
)
def test_bad_events_and_bad_config_raise_input_error_naming_the_field_before_any_aws_call(
    aws: None, monkeypatch: pytest.MonkeyPatch, payload: Any, env: dict[str, str], field: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    counter = CountAllCalls(monkeypatch)
    with pytest.raises(InputError, match=field.replace(".", r"\.")):
        handler(payload, FakeContext())
    assert counter.calls == []


def test_a_failed_item_is_recorded_the_rest_go_on_and_the_run_fails_at_the_end(seeded: dict[str, str]) -> None:
    from shared.errors import RunFailed
    from tests.faults import ErrorOn

    clients = Clients()
    broken = ErrorOn(lambda op, p: op == "CreateSnapshot" and p.get("VolumeId") == seeded["db"], "IncorrectState")
    broken.attach(clients.session)
    one_keep = {"keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0}
    with pytest.raises(RunFailed) as caught:
        execute(TASK, event(policy={"retention": one_keep}), FakeContext(), clients=clients, clock=lambda: D0)
    report = caught.value.report
    assert report["status"] == "failed"
    failures = [f for unit in report["units"] for f in unit["failures"]]
    assert [(f["operation"], f["error_code"]) for f in failures] == [("create", "IncorrectState")]
    counts = report["units"][0]["counts"]
    assert (counts["created"], counts["deleted"], counts["failed"]) == (1, 1, 1)
    assert owned_days(estate.ec2(), seeded["db"]) == [-100, -20]  # rotation went on after the failed create
    assert estate.report_from_s3(report["location"])["units"][0]["failures"][0]["resource"].endswith(seeded["db"])


def test_a_volume_at_its_snapshot_rate_limit_is_left_for_the_next_run_not_failed(seeded: dict[str, str]) -> None:
    from tests.faults import ErrorOn

    clients = Clients()
    limited = ErrorOn(
        lambda op, p: op == "CreateSnapshot" and p.get("VolumeId") == seeded["db"],
        "SnapshotCreationPerVolumeRateExceeded",
    ).attach(clients.session)
    report = execute(TASK, event(), FakeContext(), clients=clients, clock=lambda: D0)
    assert len(limited.hits) == 1
    assert report["status"] == "incomplete"
    unit = report["units"][0]
    assert unit["failures"] == []
    assert unit["counts"]["deferred"] == 1
    deferred = [a for a in unit["actions"] if a["status"] == "skipped" and a["action"] == "create"]
    assert [a["resource"] for a in deferred] == [seeded["db"]]
    assert "left for the next run" in deferred[0]["reason"]

    again = execute(TASK, event(), FakeContext(), clients=Clients(), clock=lambda: D0)
    assert again["status"] == "succeeded"
    created = [a["resource"] for a in again["units"][0]["actions"] if a["action"] == "create" and a["status"] == "done"]
    assert seeded["db"] in created


def test_not_found_on_delete_counts_as_done(seeded: dict[str, str]) -> None:
    from tests.faults import ErrorOn

    clients = Clients()
    gone = ErrorOn(lambda op, p: op == "DeleteSnapshot", "InvalidSnapshot.NotFound").attach(clients.session)
    one_keep = {"keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0}
    report = execute(TASK, event(policy={"retention": one_keep}), FakeContext(), clients=clients, clock=lambda: D0)
    assert len(gone.hits) == 1
    assert report["status"] == "succeeded"
    deleted = [a for a in report["units"][0]["actions"] if a["action"] == "delete"]
    assert [(a["resource"], a["status"], a["detail"]["note"]) for a in deleted] == [
        (seeded["db-40"], "done", "already gone")
    ]
    assert report["units"][0]["counts"]["deleted"] == 1
