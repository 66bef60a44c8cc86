"""The compaction's catalog reads, as Glue receives them: the date range filtered server-side by an expression on
the partition keys, and every page followed (moto answers GetPartitions in one page, so only a Stubber serving
pages with NextToken shows that the second page is read; it also checks each request's parameters exactly)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from functions.log_compaction import inventory
from functions.log_compaction.models import CompactionInput, PartitionState

NOW = datetime(2024, 5, 10, 3, 15, tzinfo=UTC)
EXPECTED = {
    "DatabaseName": "devops_tasks_logs",
    "TableName": "alb",
    "Expression": "dt >= '2024-05-03' AND dt <= '2024-05-10'",
}
FIRST = EXPECTED  # the first request: no NextToken yet


def partition(dt: str, hour: str) -> dict[str, Any]:
    location = f"s3://lake-bucket/lake/alb/dt={dt}/hour={hour}/"
    return {"Values": [dt, hour], "StorageDescriptor": {"Location": location}}


@pytest.fixture
def glue() -> Any:
    return boto3.client("glue", region_name="eu-west-1")


def test_every_page_of_the_catalog_is_read_with_the_date_range_filtered_server_side(glue: Any) -> None:
    with Stubber(glue) as stub:
        stub.add_response("get_partitions", {"Partitions": [partition("2024-05-08", "01")], "NextToken": "p2"}, FIRST)
        stub.add_response(
            "get_partitions",
            {"Partitions": [partition("2024-05-08", "02"), partition("2024-05-09", "23")]},
            EXPECTED | {"NextToken": "p2"},
        )
        found = list(inventory.glue_partitions(glue, "devops_tasks_logs", "alb", "2024-05-03", "2024-05-10"))
        stub.assert_no_pending_responses()
    assert [p["Values"] for p in found] == [["2024-05-08", "01"], ["2024-05-08", "02"], ["2024-05-09", "23"]]


def test_a_partition_of_a_later_page_whose_values_are_not_the_lakes_is_left_alone_with_the_reason(glue: Any) -> None:
    params = CompactionInput(lake_bucket="lake-bucket", max_age_days=7)
    s3 = boto3.client("s3", region_name="eu-west-1")
    with Stubber(glue) as stub, Stubber(s3) as s3_stub:
        stub.add_response("get_partitions", {"Partitions": [partition("2024-05-08", "01")], "NextToken": "p2"}, FIRST)
        stub.add_response(
            "get_partitions", {"Partitions": [partition("2024-05-08", "24")]}, EXPECTED | {"NextToken": "p2"}
        )
        s3_stub.add_response("list_objects_v2", {"KeyCount": 0}, None)
        s3_stub.add_response("list_objects_v2", {"KeyCount": 0}, None)
        found = list(inventory.partitions(s3, glue, params, "alb", NOW))
        stub.assert_no_pending_responses()
    first, second = found
    assert isinstance(first, PartitionState)
    assert (first.dt, first.hour, first.base_files, first.generations) == ("2024-05-08", "01", (), ())
    assert second == "alb partition ['2024-05-08', '24']: not (dt=YYYY-MM-DD, hour=HH); left as it is"
