"""DR copies to a second region, the time budget across runs, and other accounts through AssumeRole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from freezegun import freeze_time

from functions.snapshot_rotation.handler import handler
from functions.snapshot_rotation.task import TASK
from shared.aws import Clients
from shared.runner import execute
from tests.faults import CallLog
from tests.functional.snapshot_rotation import estate
from tests.helpers import REGION, FakeContext, load_event

D0 = datetime(2024, 3, 1, 3, 15, tzinfo=UTC)


def test_dr_copies_the_newest_snapshot_to_a_second_region_and_rotates_it_there(warm_clients: Clients) -> None:
    estate.reports_bucket()
    source = estate.ec2()
    dr = estate.ec2(estate.DR_REGION)
    db = estate.volume(source, "db")
    event = load_event("snapshot_rotation/dr_copy.json") | {"report_bucket": estate.BUCKET}
    event["policy"]["retention"] = {"keep_last": 2, "daily": 0, "weekly": 0, "monthly": 0}
    made: dict[int, str] = {}
    with freeze_time(D0) as frozen:
        for day in range(6):
            frozen.move_to(D0 + timedelta(days=day))
            report = handler(event, FakeContext())
            actions = report["units"][0]["actions"]
            made[day] = next(a for a in actions if a["action"] == "create")["detail"]["snapshot_id"]
            copies = [(a["resource"], a["status"]) for a in actions if a["action"] == "copy"]
            # Each run copies the newest snapshot that existed when it started: the previous day's.
            assert copies == ([(made[day - 1], "done")] if day else [])

    in_dr = estate.snapshots(dr)
    assert sorted(s["Tags"]["devops-tasks:source-snapshot"] for s in in_dr.values()) == sorted(
        [made[2], made[3], made[4]]
    )
    for s in in_dr.values():
        assert s["Tags"]["devops-tasks:managed"] == "true"
        assert s["Tags"]["devops-tasks:policy"] == "with-dr"
        assert s["Tags"]["devops-tasks:source-region"] == REGION
        assert s["Tags"]["devops-tasks:volume-id"] == db
    assert set(estate.snapshots(source)) == {made[3], made[4], made[5]}


def test_dr_copy_waits_while_max_in_flight_copies_are_pending(aws: None) -> None:
    source, dr = estate.ec2(), estate.ec2(estate.DR_REGION)
    volumes = [estate.volume(source, f"v{i}") for i in range(3)]
    for vid in volumes:
        estate.snapshot(source, vid, D0 - timedelta(days=1), policy="with-dr")
    pending = estate.snapshot(dr, estate.volume(dr, "elsewhere"), D0, policy="with-dr", state="pending")
    copy_tags = {"devops-tasks:source-region": REGION, "devops-tasks:source-snapshot": "snap-0123456789abcdef0"}
    dr.create_tags(Resources=[pending], Tags=[{"Key": k, "Value": v} for k, v in copy_tags.items()])
    event = load_event("snapshot_rotation/dr_copy.json")
    event["policy"]["dr"]["max_in_flight"] = 2
    report = execute(TASK, event | {"create": False}, FakeContext(), clock=lambda: D0)
    copies = [a for a in report["units"][0]["actions"] if a["action"] == "copy"]
    assert [a["status"] for a in copies] == ["done"]
    waiting = [a for a in report["units"][0]["actions"] if a["reason"] == "2 copies already in flight in eu-central-1"]
    assert len(waiting) == 2


class ShrinkingContext(FakeContext):
    """A Lambda context whose remaining time drops by ``step_ms`` with every DeleteSnapshot call made."""

    def __init__(self, log: CallLog, start_ms: int, step_ms: int) -> None:
        super().__init__(remaining_ms=start_ms)
        self.log, self.start_ms, self.step_ms = log, start_ms, step_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.start_ms - self.step_ms * self.log.operations("ec2")["DeleteSnapshot"]


def rotate_only(**extra: Any) -> dict[str, Any]:
    retention = {"keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0}
    return {"create": False, "max_workers": 1, "policy": {"retention": retention}} | extra


def test_a_run_out_of_time_stops_cleanly_and_a_later_run_finishes_the_job(aws: None) -> None:
    ec2 = estate.ec2()
    db = estate.volume(ec2, "db")
    ids = [estate.snapshot(ec2, db, D0 - timedelta(days=d)) for d in range(1, 11)]
    clients, log = estate.counted_clients()
    # 60 s left, 30 s margin, each delete "takes" 10 s: deletes stop being started after the fourth.
    first = execute(TASK, rotate_only(), ShrinkingContext(log, 60_000, 10_000), clients=clients, clock=lambda: D0)
    assert first["complete"] is False
    assert first["status"] == "incomplete"
    counts = first["units"][0]["counts"]
    assert (counts["deleted"], counts["deferred"]) == (4, 5)
    assert all(a["status"] != "failed" for a in first["units"][0]["actions"])
    assert len(estate.snapshots(ec2)) == 6

    later = execute(TASK, rotate_only(), FakeContext(), clock=lambda: D0 + timedelta(days=1))
    assert later["complete"] is True
    assert later["units"][0]["counts"]["deleted"] == 5
    assert set(estate.snapshots(ec2)) == {ids[0]}


def test_a_run_with_no_time_left_does_nothing_and_says_so(aws: None) -> None:
    ec2 = estate.ec2()
    estate.snapshot(ec2, estate.volume(ec2, "db"), D0 - timedelta(days=3))
    report = execute(TASK, {}, FakeContext(remaining_ms=5_000), clock=lambda: D0)
    assert report["complete"] is False
    assert report["units"][0]["complete"] is False
    assert report["units"][0]["actions"] == []
    assert len(estate.snapshots(ec2)) == 1


def test_other_accounts_are_reached_through_assume_role(aws: None) -> None:
    estate.reports_bucket()
    other = "111111111111"
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{other}:role/devops-tasks", RoleSessionName="seed"
    )["Credentials"]
    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )
    theirs = estate.ec2(session=session)
    vid = estate.volume(theirs, "their-db")
    old = estate.snapshot(theirs, vid, D0 - timedelta(days=30), account=other)
    estate.snapshot(theirs, vid, D0 - timedelta(days=29), account=other)
    mine = estate.volume(estate.ec2(), "my-db")

    event = {
        "report_bucket": estate.BUCKET,
        "accounts": [{"account_id": other, "role": "devops-tasks"}],
        "policy": {"retention": {"keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0}},
    }
    report = execute(TASK, event, FakeContext(), clients=Clients(), clock=lambda: D0)
    assert [u["account"] + "/" + u["region"] for u in report["units"]] == [f"{other}/{REGION}"]
    assert report["units"][0]["counts"] == {"created": 1, "deleted": 1, "kept": 1}
    assert old not in estate.snapshots(theirs)
    assert len(estate.snapshots(theirs)) == 2
    assert all(s["VolumeId"] != mine for s in estate.snapshots(estate.ec2()).values())
    assert estate.report_from_s3(report["location"])["units"][0]["account"] == other


@pytest.mark.parametrize("role", ["devops-tasks", "arn:aws:iam::111111111111:role/custom"])
def test_role_names_and_role_arns_are_both_accepted(aws: None, role: str) -> None:
    report = execute(
        TASK, {"accounts": [{"account_id": "111111111111", "role": role}]}, FakeContext(), clock=lambda: D0
    )
    assert report["units"][0]["account"] == "111111111111"
    assert report["units"][0]["failures"] == []


def test_the_dr_region_as_a_source_region_gets_no_copies_of_its_own_snapshots(aws: None) -> None:
    # regions [] means the function's own region, which the input model cannot compare with dr.region.
    ec2 = estate.ec2()
    db = estate.volume(ec2, "db")
    estate.snapshot(ec2, db, D0 - timedelta(days=1), policy="with-dr")
    event = load_event("snapshot_rotation/dr_copy.json") | {"regions": []}
    event["policy"]["dr"]["region"] = REGION
    for day in range(3):
        report = execute(TASK, event, FakeContext(), clock=lambda day=day: D0 + timedelta(days=day))
        assert report["status"] == "succeeded"
        assert all(a["action"] != "copy" for a in report["units"][0]["actions"])
    assert all("devops-tasks:source-snapshot" not in s["Tags"] for s in estate.snapshots(ec2).values())
    skipped = [a for a in report["units"][0]["actions"] if a["resource"] == REGION]
    assert [a["reason"] for a in skipped] == [f"no DR copies: {REGION} is this policy's DR region"]
