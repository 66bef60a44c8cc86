"""One run id per invocation, to follow a run: on every log line, in the report, the SNS summary and the metrics;
a scheduled run also names its policy (a metrics dimension, what its heartbeat alarm watches). A refused input
reads as English and comes without Powertools' empty-metrics warning."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from functions.snapshot_rotation.handler import handler
from shared.errors import InputError
from shared.observability import logger, metrics
from tests.helpers import FakeContext


@pytest.fixture
def output(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[io.StringIO]:
    """The log lines of the run (JSON); EMF metric documents go to stdout (capsys)."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.setattr(metrics.provider, "service", "snapshot-rotation")  # POWERTOOLS_SERVICE_NAME in Lambda
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")
    logger.setLevel("INFO")
    buffer = io.StringIO()
    for h in logger.handlers:
        if isinstance(h, logging.StreamHandler):
            h.setStream(buffer)
    return buffer


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


def emf(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]


def scheduled(policy: str = "berlin") -> dict[str, Any]:
    return {
        "regions": ["eu-west-1"],
        "policy": {"name": policy},
        "schedule": {"policy": policy, "scheduled_time": "2026-11-27T02:15:00Z", "execution_id": "d32c5kddcf5bb8c3"},
    }


@pytest.mark.usefixtures("aws")
def test_every_log_line_the_report_and_the_metrics_carry_the_run_id(
    output: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    context = FakeContext()
    report = handler(scheduled(), context)

    assert report["run_id"] == context.aws_request_id
    logged = lines(output)
    assert len(logged) >= 2
    assert {line.get("run_id") for line in logged} == {context.aws_request_id}
    assert {line.get("correlation_id") for line in logged} == {context.aws_request_id}
    assert {line.get("policy") for line in logged} == {"berlin"}
    assert {line.get("schedule_execution_id") for line in logged} == {"d32c5kddcf5bb8c3"}
    [metrics] = emf(capsys)
    assert metrics["run_id"] == context.aws_request_id  # metadata: searchable in the logs, not a dimension
    assert ["run_id"] not in metrics["_aws"]["CloudWatchMetrics"][0]["Dimensions"]


@pytest.mark.usefixtures("aws")
def test_a_scheduled_run_counts_itself_per_policy_for_the_heartbeat(
    output: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    handler(scheduled("new-york"), FakeContext())
    [metrics] = emf(capsys)
    directive = metrics["_aws"]["CloudWatchMetrics"][0]
    assert directive["Dimensions"] == [["service"], ["service", "policy"]]
    assert (metrics["service"], metrics["policy"]) == ("snapshot-rotation", "new-york")
    assert metrics["scheduled_runs"] == [1.0]
    assert {"Name": "scheduled_runs", "Unit": "Count"} in directive["Metrics"]


@pytest.mark.usefixtures("aws")
def test_a_manual_run_has_no_policy_and_no_heartbeat(output: io.StringIO, capsys: pytest.CaptureFixture[str]) -> None:
    handler(scheduled(), FakeContext())  # a scheduled run first: its policy must not stick to the next run
    capsys.readouterr()
    output.truncate(0)
    output.seek(0)
    context = FakeContext()
    handler({"regions": ["eu-west-1"]}, context)
    assert {line.get("policy") for line in lines(output)} == {None}
    assert {line.get("run_id") for line in lines(output)} == {context.aws_request_id}
    [metrics] = emf(capsys)
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert "scheduled_runs" not in metrics


@pytest.mark.usefixtures("aws")
def test_the_sns_summary_names_the_run(output: io.StringIO) -> None:
    sns = boto3.client("sns")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    context = FakeContext()
    handler(scheduled() | {"notify_topic_arn": topic, "notify_on": "always"}, context)
    message = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])["Message"]
    assert f"run {context.aws_request_id}" in message
    assert json.loads(message[message.index("\n\n{") :])["run_id"] == context.aws_request_id


@pytest.mark.usefixtures("aws")
def test_a_refused_input_reads_as_english_without_the_empty_metrics_warning(
    output: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    context = FakeContext()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(InputError) as refused:
            handler({"policy": {"volume_tag_key": None}}, context)
    assert [str(w.message) for w in caught if "metrics" in str(w.message)] == []
    assert str(refused.value) == (
        "invalid input: policy: set volume_tag_key or instance_tag_key: a policy must select volumes by tag"
    )
    [line] = [line for line in lines(output) if line["message"] == "input refused"]
    assert line["run_id"] == context.aws_request_id
    assert line["problems"] == refused.value.problems
    [metrics] = emf(capsys)
    assert metrics["invalid_input"] == [1.0]


def test_the_upload_logger_puts_its_run_id_on_every_line(output: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    from functions.s3_upload_logger.handler import handler as upload_handler
    from tests.helpers import load_event

    monkeypatch.setenv("DEVOPS_TASKS_BUCKETS", "amzn-s3-demo-bucket")
    context = FakeContext()
    upload_handler(load_event("s3_upload_logger/s3_object_created_put.json"), context)
    logged = lines(output)
    assert logged
    assert {line.get("run_id") for line in logged} == {context.aws_request_id}
