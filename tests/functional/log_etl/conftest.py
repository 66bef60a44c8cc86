"""A source bucket, a lake bucket and AWS-shaped S3-through-SQS events for the log ETL handler under moto."""

from __future__ import annotations

import copy
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers import REGION, load_event

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "real-logs"
SOURCE = "amzn-s3-demo-logs"
LAKE = "amzn-s3-demo-lake"
ACCOUNT = "123456789012"

KEYS = {
    "alb": f"AWSLogs/{ACCOUNT}/elasticloadbalancing/eu-west-1/2026/11/27/{ACCOUNT}_elasticloadbalancing_eu-west-1_"
    "app.my-loadbalancer.50dc6c495c0c9188_20261127T1305Z_10.0.0.1_2n3g4h5i.log.gz",
    "vpc_flow": f"AWSLogs/{ACCOUNT}/vpcflowlogs/eu-west-1/2026/11/27/{ACCOUNT}_vpcflowlogs_eu-west-1_fl-1234abcd_"
    "20261127T1305Z_0a1b2c3d.log.gz",
    "cloudtrail": f"AWSLogs/{ACCOUNT}/CloudTrail/eu-west-1/2026/11/27/{ACCOUNT}_CloudTrail_eu-west-1_20261127T1305Z_"
    "abcdEFGH1234.json.gz",
    "cloudfront": "cloudfront/E2K2LNL5N3WR51.2026-11-27-13.a1b2c3d4.gz",
    "s3_access": "s3-access/2026-11-27-13-05-01-5A2B3C4D5E6F7A8B",
    "nlb": f"AWSLogs/{ACCOUNT}/elasticloadbalancing/eu-west-1/2026/11/27/{ACCOUNT}_elasticloadbalancing_eu-west-1_"
    "net.my-nlb.1234567890abcdef_20261127T1305Z_7f3c1a2b.log.gz",
    "classic_elb": f"AWSLogs/{ACCOUNT}/elasticloadbalancing/eu-west-1/2026/11/27/{ACCOUNT}_elasticloadbalancing_"
    "eu-west-1_my-loadbalancer_20261127T1305Z_10.0.0.1_20sg8hgm.log",
    "waf": f"AWSLogs/{ACCOUNT}/WAFLogs/eu-west-1/shop-acl/2026/11/27/13/05/{ACCOUNT}_waflogs_eu-west-1_shop-acl_"
    "20261127T1305Z_0a1b2c3d.log.gz",
    # Firehose's key layout: <prefix>YYYY/MM/dd/HH/<stream>-<version>-YYYY-MM-dd-HH-MM-SS-<uuid>
    "cloudwatch_logs": "firehose/app-logs/2026/11/27/13/app-logs-1-2026-11-27-13-05-01-"
    "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
}


def fixture(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


@dataclass
class Lake:
    s3: Any
    glue: Any

    def put(self, key: str, data: bytes, *, gz: bool = False) -> dict[str, Any]:
        """Upload a source object; returns the S3 event record fields (key, size, eTag) as S3 sends them."""
        body = gzip.compress(data, mtime=0) if gz else data
        resp = self.s3.put_object(Bucket=SOURCE, Key=key, Body=body)
        return {"key": key, "size": len(body), "eTag": resp["ETag"].strip('"')}

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=LAKE, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        return {k: self.s3.get_object(Bucket=LAKE, Key=k)["Body"].read() for k in self.keys(prefix)}

    def table(self, log_format: str) -> pa.Table:
        files = [pq.read_table(io.BytesIO(b)) for b in self.objects(f"lake/format={log_format}/").values()]
        return pa.concat_tables(files) if files else pa.table({})

    def quarantine(self) -> list[dict[str, Any]]:
        rows = []
        for body in self.objects("quarantine/").values():
            rows += [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]
        return rows

    def partitions(self, table: str) -> list[list[str]]:
        resp = self.glue.get_partitions(DatabaseName="devops_tasks_logs", TableName=table)
        return sorted(p["Values"] for p in resp["Partitions"])


@pytest.fixture
def lake(aws: None, monkeypatch: pytest.MonkeyPatch) -> Lake:
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in (SOURCE, LAKE):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    monkeypatch.setenv("DEVOPS_TASKS_LAKE_BUCKET", LAKE)
    monkeypatch.setenv("DEVOPS_TASKS_SOURCE_BUCKET", SOURCE)
    return Lake(s3, boto3.client("glue", region_name=REGION))


def sqs_event(*messages: list[dict[str, Any]], url_encode: bool = True) -> dict[str, Any]:
    """An SQS batch, one message per list of objects, shaped like tests/events/log_etl/sqs_s3_object_created.json.

    Keys are URL-encoded as S3 sends them (``quote_plus``).
    """
    template = load_event("log_etl/sqs_s3_object_created.json")["Records"][0]
    records = []
    for index, objects in enumerate(messages):
        record = copy.deepcopy(template)
        body = json.loads(record["body"])
        s3_record = body["Records"][0]
        body["Records"] = []
        for obj in objects:
            item = copy.deepcopy(s3_record)
            item["s3"]["bucket"]["name"] = SOURCE
            item["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{SOURCE}"
            item["s3"]["object"] = {
                **item["s3"]["object"],
                **obj,
                "key": quote_plus(obj["key"]) if url_encode else obj["key"],
            }
            body["Records"].append(item)
        record["body"] = json.dumps(body)
        record["messageId"] = f"msg-{index}"
        records.append(record)
    return {"Records": records}
