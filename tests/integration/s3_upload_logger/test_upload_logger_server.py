"""The upload logger's handler with notifications S3 delivered to SQS, all over HTTP (moto server)."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest

from cli.sqs import lambda_sqs_event
from functions.s3_upload_logger.handler import run
from shared.observability import logger
from tests.helpers import REGION, FakeContext

pytestmark = pytest.mark.integration


def test_uploads_notified_through_sqs_over_http_are_counted(moto_server: str) -> None:
    s3, sqs = boto3.client("s3", region_name=REGION), boto3.client("sqs", region_name=REGION)
    s3.create_bucket(Bucket="uploads", CreateBucketConfiguration={"LocationConstraint": REGION})
    queue = sqs.create_queue(QueueName="uploads")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket="uploads",
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    for i in range(5):
        s3.put_object(Bucket="uploads", Key=f"in/file {i}.csv", Body=b"x" * (i + 1))
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    event = lambda_sqs_event(messages, arn, REGION)

    stream = io.StringIO()
    handler: Any = logger.registered_handler
    previous = handler.stream  # swapped without setStream, which flushes a stream other tests may have closed
    handler.stream = stream
    level = logger.log_level
    logger.setLevel("INFO")  # other tests (local CLI runs) quieten the shared logger
    try:
        result = run(event, FakeContext(), env={"DEVOPS_TASKS_BUCKETS": "uploads"})
    finally:
        handler.stream = previous
        logger.setLevel(level)

    assert result == {"batchItemFailures": []}
    lines = [json.loads(x) for x in stream.getvalue().splitlines() if x.startswith("{")]
    uploads = sorted((x["key"], x["size"]) for x in lines if x["message"] == "object uploaded")
    assert uploads == [(f"in/file {i}.csv", i + 1) for i in range(5)]
