"""A lake as the log ETL leaves it (small Parquet files per event-time hour, partitions in Glue) under moto."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from functions.log_etl.catalog import Catalog
from functions.log_etl.lake import writer_options
from functions.log_etl.schemas import conform, lake_schema
from tests.helpers import REGION

LAKE = "amzn-s3-demo-lake"
DB = "devops_tasks_logs"


def alb_rows(start: datetime, n: int, seed: int) -> pa.Table:
    """``n`` ALB rows from ``start`` on, a few seconds apart, not in time order (as a node's file can be)."""
    times = [start + timedelta(seconds=(i * 7 + seed * 13) % 3000, microseconds=seed) for i in range(n)]
    table = pa.table(
        {
            "type": pa.array(["https"] * n),
            "time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "elb": pa.array([f"app/lb-{seed % 3}/50dc6c495c0c9188"] * n),
            "client_ip": pa.array([f"10.0.{seed}.{i % 250}" for i in range(n)]),
            "elb_status_code": pa.array([200 if i % 5 else 503 for i in range(n)], pa.int32()),
            "sent_bytes": pa.array([i * seed for i in range(n)], pa.int64()),
            "request": pa.array([f"GET https://shop.example.com:443/item/{seed}/{i} HTTP/1.1" for i in range(n)]),
            "event_time": pa.array(times, pa.timestamp("us", tz="UTC")),
        }
    )
    return conform(table, lake_schema("alb"))


def parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", **writer_options(table.schema))
    return sink.getvalue()


@dataclass
class Lake:
    s3: Any
    glue: Any

    def add_file(self, dt: str, hour: str, name: str, table: pa.Table) -> str:
        key = f"lake/format=alb/dt={dt}/hour={hour}/{name}.parquet"
        self.s3.put_object(Bucket=LAKE, Key=key, Body=parquet(table))
        return key

    def add_hour(self, dt: str, hour: str, files: int, rows: int = 200) -> pa.Table:
        """``files`` files of ``rows`` rows each in one partition, registered as the ETL registers them."""
        start = datetime.fromisoformat(f"{dt}T{hour}:00:00+00:00")
        tables = [alb_rows(start, rows, seed) for seed in range(1, files + 1)]
        for seed, table in enumerate(tables, start=1):
            self.add_file(dt, hour, f"obj{seed:03d}", table)
        catalog = Catalog(self.glue, database=DB, lake_bucket=LAKE, lake_prefix="lake")
        catalog.register("alb", [(dt, hour)])
        return pa.concat_tables(tables)

    def listing(self, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=LAKE, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def point(self, dt: str, hour: str, location: str) -> None:
        """Point the partition at ``location`` (its storage descriptor otherwise kept), as someone else might."""
        part = self.glue.get_partition(DatabaseName=DB, TableName="alb", PartitionValues=[dt, hour])
        descriptor = part["Partition"]["StorageDescriptor"] | {"Location": location}
        self.glue.update_partition(
            DatabaseName=DB,
            TableName="alb",
            PartitionValueList=[dt, hour],
            PartitionInput={"Values": [dt, hour], "StorageDescriptor": descriptor},
        )

    def location(self, dt: str, hour: str) -> str:
        part = self.glue.get_partition(DatabaseName=DB, TableName="alb", PartitionValues=[dt, hour])
        return str(part["Partition"]["StorageDescriptor"]["Location"])

    def read_partition(self, dt: str, hour: str) -> tuple[pa.Table, list[str]]:
        """What a reader of the partition sees: the Parquet files directly under its Glue location."""
        prefix = self.location(dt, hour).removeprefix(f"s3://{LAKE}/")
        keys = [k for k in self.listing(prefix) if "/" not in k[len(prefix) :] and k.endswith(".parquet")]
        tables = [pq.read_table(io.BytesIO(self.s3.get_object(Bucket=LAKE, Key=k)["Body"].read())) for k in keys]
        return (pa.concat_tables(tables, promote_options="default") if tables else pa.table({})), keys


def same_rows(a: pa.Table, b: pa.Table) -> bool:
    """The same multiset of rows (order aside)."""
    keys = [(name, "ascending") for name in ("event_time", "client_ip", "request")]
    return a.select(b.column_names).sort_by(keys).equals(b.sort_by(keys))


@pytest.fixture
def lake(aws: None, monkeypatch: pytest.MonkeyPatch) -> Lake:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=LAKE, CreateBucketConfiguration={"LocationConstraint": REGION})
    monkeypatch.setenv("DEVOPS_TASKS_LAKE_BUCKET", LAKE)
    return Lake(s3, boto3.client("glue", region_name=REGION))


NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
