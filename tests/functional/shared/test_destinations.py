"""The report bucket and the notification topic are checked before any mutation: a run that could not report what
it did does nothing, and says so where it still can."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from functions.snapshot_rotation.handler import handler as snapshot_handler
from shared.aws import Clients
from shared.errors import InputError, RunFailed
from shared.inputs import TaskSettings, parse_input
from shared.report import Action, UnitResult
from shared.runner import RunContext, Task, execute
from shared.units import Unit
from tests.faults import CallLog
from tests.functional.log_etl import conftest as log_etl_fixtures
from tests.helpers import REGION, FakeContext

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
BUCKET = "reports"
etl_lake = log_etl_fixtures.lake  # the log ETL's ``lake`` fixture (a source and a lake bucket)


def mutate(params: TaskSettings, unit: Unit, result: UnitResult, ctx: RunContext) -> None:
    boto3.client("sqs", region_name=unit.region).create_queue(QueueName="mutated")
    result.add(Action(action="mutate", resource=unit.label, reason="test", status="done"))


MUTATE = Task(name="mutate", params_model=TaskSettings, work=mutate)


def inbox() -> tuple[str, str]:
    """A topic that delivers to a queue: (topic arn, queue url)."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return topic, queue


def mutated() -> bool:
    return any(url.endswith("/mutated") for url in boto3.client("sqs").list_queues().get("QueueUrls", []))


def bucket() -> Any:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return s3


@pytest.mark.usefixtures("aws")
def test_a_report_bucket_that_cannot_be_written_stops_the_run_before_any_mutation_and_the_topic_says_why() -> None:
    topic, queue = inbox()
    event = {"regions": [REGION], "report_bucket": "no-such-bucket-here", "notify_topic_arn": topic}
    with pytest.raises(RunFailed) as failed:
        execute(MUTATE, event, clock=lambda: NOW)
    assert not mutated()
    failures = failed.value.report["units"][0]["failures"]
    assert [(f["operation"], f["error_code"]) for f in failures] == [("check-report-bucket", "NoSuchBucket")]
    assert failed.value.report["complete"] is False
    message = json.loads(boto3.client("sqs").receive_message(QueueUrl=queue)["Messages"][0]["Body"])["Message"]
    assert "check-report-bucket" in message
    assert "no-such-bucket-here" in message


@pytest.mark.usefixtures("aws")
def test_a_notify_topic_that_does_not_exist_stops_the_run_before_any_mutation_and_the_report_says_why() -> None:
    s3 = bucket()
    missing = f"arn:aws:sns:{REGION}:123456789012:no-such-topic"
    with pytest.raises(RunFailed) as failed:
        execute(MUTATE, {"regions": [REGION], "report_bucket": BUCKET, "notify_topic_arn": missing}, clock=lambda: NOW)
    assert not mutated()
    report = failed.value.report
    assert [f["operation"] for u in report["units"] for f in u["failures"]] == ["check-notify-topic"]
    stored = json.loads(s3.get_object(Bucket=BUCKET, Key=report["location"].split(f"{BUCKET}/", 1)[1])["Body"].read())
    assert stored["status"] == "failed"
    assert stored["units"][0]["failures"][0]["resource"] == missing


@pytest.mark.usefixtures("aws")
def test_the_topic_is_not_checked_when_the_run_never_notifies() -> None:
    missing = f"arn:aws:sns:{REGION}:123456789012:no-such-topic"
    report = execute(
        MUTATE, {"regions": [REGION], "notify_topic_arn": missing, "notify_on": "never"}, clock=lambda: NOW
    )
    assert report["status"] == "succeeded"
    assert mutated()


@pytest.mark.usefixtures("aws")
def test_the_report_is_written_at_its_key_before_the_work_and_replaced_by_the_final_one() -> None:
    s3 = bucket()
    seen: list[dict[str, Any]] = []

    def look(params: TaskSettings, unit: Unit, result: UnitResult, ctx: RunContext) -> None:
        key = ctx.report.dated_key(params.report_prefix)
        seen.append(json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()))

    report = execute(
        Task(name="look", params_model=TaskSettings, work=look),
        {"regions": [REGION], "report_bucket": BUCKET},
        clock=lambda: NOW,
    )
    assert seen[0]["status"] == "incomplete"  # a run killed now (timeout, out of memory) leaves this behind
    assert seen[0]["finished_at"] is None
    key = report["location"].split(f"{BUCKET}/", 1)[1]
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())["status"] == "succeeded"


@pytest.mark.usefixtures("aws")
def test_snapshot_rotation_with_a_bad_report_bucket_creates_no_snapshot() -> None:
    ec2 = boto3.client("ec2")
    ec2.create_volume(
        AvailabilityZone=f"{REGION}a",
        Size=1,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Backup", "Value": "true"}]}],
    )
    session = boto3.Session()
    log = CallLog().attach(session)
    with pytest.raises(RunFailed, match="check-report-bucket"):
        execute_snapshot({"regions": [REGION], "report_bucket": "no-such-bucket-here"}, Clients(session))
    assert log.mutating(None) == ["PutObject"]
    assert ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []


def execute_snapshot(event: dict[str, Any], clients: Clients) -> dict[str, Any]:
    from functions.snapshot_rotation.task import TASK

    return execute(TASK, event, FakeContext(), clients=clients, env={})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("report_bucket", ""),
        ("report_bucket", "Not_A_Bucket"),
        ("report_bucket", "ab"),
        ("report_bucket", "192.168.5.4"),
        ("notify_topic_arn", ""),
        ("notify_topic_arn", "alerts"),
        ("notify_topic_arn", "arn:aws:sqs:eu-west-1:123456789012:alerts"),
        ("notify_topic_arn", "arn:aws:sns:eu-west-1:123456789012:alerts\n"),
    ],
)
def test_an_empty_or_malformed_destination_is_refused_never_skipped(field: str, value: str) -> None:
    with pytest.raises(InputError, match=field):
        parse_input({field: value}, TaskSettings, env={})


def test_an_empty_report_bucket_in_an_event_reaches_the_handler_as_an_input_error(aws: None) -> None:
    with pytest.raises(InputError, match="report_bucket"):
        snapshot_handler({"report_bucket": ""}, FakeContext())


def test_the_log_etl_loads_nothing_from_an_sqs_batch_when_its_report_bucket_cannot_be_written(
    etl_lake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.log_etl.handler import handler as log_etl_handler
    from tests.functional.log_etl.conftest import KEYS, sqs_event

    lake = etl_lake
    obj = lake.put(KEYS["s3_access"], b"not even a log line\n")
    monkeypatch.setenv("DEVOPS_TASKS_REPORT_BUCKET", "no-such-bucket-here")
    with pytest.raises(RunFailed, match="check-report-bucket"):  # the whole batch is delivered again
        log_etl_handler(sqs_event([obj]), FakeContext())
    assert lake.keys() == []
