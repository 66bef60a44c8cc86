"""Demo: every upload to a bucket logged as one structured line, through S3 -> SQS -> the real handler."""

from __future__ import annotations

import io
import json
import logging
import os
from typing import Any, cast

from rich.table import Table

from cli.demo import DemoEnv
from cli.sqs import lambda_sqs_event
from shared.observability import logger

TITLE = "S3 upload logger"
BUCKET = "demo-uploads"


def run(env: DemoEnv) -> None:
    s3, sqs = env.client("s3"), env.client("sqs")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": env.region})
    queue, arn = env.notify_queue(BUCKET, "demo-upload-logger")
    uploads = {"reports/2025/q1 summary.pdf": 48_000, "images/logo+dark.png": 7_300, "data/events.json": 1_200}
    for key, size in uploads.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=os.urandom(size))
    env.console.print(f"uploaded {len(uploads)} objects to s3://{BUCKET}/ (keys with spaces and '+')")
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    event = lambda_sqs_event(messages, arn, env.region)
    event["Records"] += [
        {
            "messageId": "demo-garbled-message",
            "receiptHandle": "x",
            "body": "not an S3 notification",
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": env.region,
        }
    ]
    stream = io.StringIO()
    previous_level = logger.log_level
    handler = cast(logging.StreamHandler[Any], logger.registered_handler)
    previous_stream = handler.setStream(stream)
    logger.setLevel("INFO")
    os.environ["DEVOPS_TASKS_BUCKETS"] = BUCKET
    try:
        outcome = env.invoke("s3-upload-logger", event)
    finally:
        os.environ.pop("DEVOPS_TASKS_BUCKETS", None)
        handler.setStream(previous_stream)
        logger.setLevel(previous_level)
    lines: list[dict[str, Any]] = [json.loads(x) for x in stream.getvalue().splitlines() if x.startswith("{")]
    table = Table(title="log lines 'object uploaded' (one per object)")
    for col in ("bucket", "key", "size", "etag", "event_time"):
        table.add_column(col, justify="right" if col == "size" else "left")
    for line in lines:
        if line.get("message") == "object uploaded":
            table.add_row(line["bucket"], line["key"], str(line.get("size")), line.get("etag", ""), line["event_time"])
    env.console.print(table)
    env.console.print(f"batch response (the garbled message is retried, then dead-lettered): {outcome.response}")
    env.write("s3-upload-logger/log-lines.json", lines)
