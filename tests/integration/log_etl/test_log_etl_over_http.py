"""The log ETL against moto server over HTTP: a real S3 -> SQS notification, the handler, the lake read back."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest

from cli.sqs import lambda_sqs_event
from functions.log_etl.handler import handler
from tests.helpers import REGION, FakeContext

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "real-logs"
SOURCE, LAKE = "it-source-logs", "it-lake"
KEY = (
    "AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2026/11/27/123456789012_elasticloadbalancing_eu-west-1_"
    "app.my lb+1.50dc6c495c0c9188_20261127T1305Z_10.0.0.1_2n3g4h5i.log.gz"
)


def test_s3_notification_through_sqs_loads_the_object_into_the_lake(
    moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    for bucket in (SOURCE, LAKE):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    queue_url = sqs.create_queue(QueueName="log-etl")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=SOURCE,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    monkeypatch.setenv("DEVOPS_TASKS_LAKE_BUCKET", LAKE)
    data = (FIXTURES / "alb/awsdocs-elb-alb-guide_2023-06_examples.joined.log").read_bytes() + b"broken line\n"
    s3.put_object(Bucket=SOURCE, Key=KEY, Body=gzip.compress(data))

    messages = []
    for _ in range(3):
        messages += sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
    assert messages, "moto delivered no S3 notification"
    resp = handler(lambda_sqs_event(messages, queue_arn, REGION), FakeContext())

    assert resp == {"batchItemFailures": []}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=LAKE)["Contents"]]
    parquet = [k for k in keys if k.endswith(".parquet")]
    assert {k.split("/")[2] for k in parquet} == {"dt=2018-07-02", "dt=2018-11-30"}
    rows = sum(pq.read_table(io.BytesIO(s3.get_object(Bucket=LAKE, Key=k)["Body"].read())).num_rows for k in parquet)
    assert rows == 7
    assert next(k for k in keys if k.startswith("manifests/")).startswith(f"manifests/{SOURCE}/{KEY}.")
    (quarantine,) = [k for k in keys if k.startswith("quarantine/")]
    assert b'"reason": "too few fields: 2 < 18"' in gzip.decompress(
        s3.get_object(Bucket=LAKE, Key=quarantine)["Body"].read()
    )
    partitions = boto3.client("glue").get_partitions(DatabaseName="devops_tasks_logs", TableName="alb")["Partitions"]
    assert sorted(p["Values"] for p in partitions) == [["2018-07-02", "22"], ["2018-11-30", "22"]]
