"""Planner decisions, output names, the hour splitter, the Parquet writer's bounds, the Glue schema."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime, timedelta
from typing import get_args

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.log_etl.catalog import glue_type, table_input
from functions.log_etl.formats import EVENT_TIME, FORMAT_NAMES, TIMESTAMP
from functions.log_etl.lake import PartitionedWriter, QuarantineWriter, hour_partition, split_by_hour
from functions.log_etl.models import LogEtlInput, SourceObject
from functions.log_etl.plan import Policy, decide, manifest_key, output_name, parquet_key, plan_backfill
from functions.log_etl.schemas import conform, lake_schema
from functions.log_etl.stream import Rejected
from shared.errors import InputError
from shared.inputs import parse_input

ALB_KEY = (
    "AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2026/11/27/123456789012_elasticloadbalancing_eu-west-1_"
    "app.my-lb.50dc6c495c0c9188_20261127T1305Z_10.0.0.1_2n3g4h5i.log.gz"
)
NOW = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
keys = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=200)


@given(key=keys, etag=st.text("0123456789abcdef", min_size=32, max_size=32))
def test_output_names_are_stable_safe_and_differ_per_version(key: str, etag: str) -> None:
    obj = SourceObject("logs", key, etag)
    name = output_name(obj)
    assert name == output_name(SourceObject("logs", key, etag))
    # Listings carry no version id, events and GETs of a versioned bucket do: the name must not depend on it.
    assert name == output_name(SourceObject("logs", key, etag, version_id="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"))
    assert name != output_name(SourceObject("logs", key, etag[::-1] + "x"))
    assert name != output_name(SourceObject("other-logs", key, etag))
    assert all(c.isalnum() or c in "._-" for c in name)
    assert name.isascii()
    assert len(name) <= 101
    assert parquet_key("lake", "alb", "2026-11-27", "13", obj).startswith("lake/format=alb/dt=2026-11-27/hour=13/")


def test_decisions_name_their_reason() -> None:
    policy = Policy(lake_bucket="lake", own_prefixes=("lake", "quarantine", "manifests"))
    cases = {
        SourceObject("logs", ALB_KEY, "e"): ("load", "format detected from the key layout"),
        SourceObject("logs", "AWSLogs/123456789012/ELBAccessLogTestFile", "e"): ("skip", "not a log: ELB access"),
        SourceObject("logs", "notes.txt", "e"): ("skip", "key layout of no known log format"),
        SourceObject("logs", ALB_KEY, "e", size=0): ("skip", "empty object"),
        SourceObject("lake", "lake/format=alb/x.parquet", "e"): ("skip", "written by this ETL"),
    }
    for obj, (action, reason) in cases.items():
        decision = decide(obj, policy, loaded=False)
        assert (decision.action, decision.reason[: len(reason)]) == (action, reason), obj
    assert decide(SourceObject("logs", ALB_KEY, "e"), policy, loaded=True).reason.startswith("already loaded")
    forced = decide(SourceObject("logs", ALB_KEY, "e"), Policy(reprocess=True), loaded=True)
    assert forced.action == "load"
    assert decide(SourceObject("logs", "x.txt", "e"), Policy(format_override="alb"), loaded=False).format == "alb"


@settings(max_examples=50)
@given(
    ages=st.lists(st.integers(0, 20 * 24), max_size=30),
    loaded_mask=st.lists(st.booleans(), min_size=30, max_size=30),
    max_objects=st.integers(1, 40),
)
def test_backfill_plan_accounts_for_every_object(ages: list[int], loaded_mask: list[bool], max_objects: int) -> None:
    objects = [
        SourceObject(
            "logs", ALB_KEY.replace("2n3g4h5i", f"o{i:07d}"), f"e{i}", size=10, last_modified=NOW - timedelta(hours=age)
        )
        for i, age in enumerate(ages)
    ]
    loaded = frozenset(manifest_key("manifests", o) for o, done in zip(objects, loaded_mask, strict=False) if done)
    window = (NOW - timedelta(days=7), NOW)

    plan = plan_backfill(
        objects, Policy(), loaded=loaded, manifest_prefix="manifests", window=window, max_objects=max_objects
    )

    assert len(plan.loads) + len(plan.skips) + plan.outside_window + plan.deferred == len(objects)
    assert len(plan.loads) <= max_objects
    assert all(window[0] <= d.obj.last_modified < window[1] for d in plan.loads + plan.skips)
    assert all(manifest_key("manifests", d.obj) not in loaded for d in plan.loads)
    stamps = [d.obj.last_modified for d in plan.loads]
    assert stamps == sorted(stamps)


@given(micros=st.lists(st.integers(-(10**15), 4 * 10**15), min_size=1, max_size=200))
def test_split_by_hour_puts_every_row_in_its_own_hour(micros: list[int]) -> None:
    table = pa.table({"n": list(range(len(micros))), EVENT_TIME: pa.array(micros, TIMESTAMP)})
    seen = []
    for hour, part in split_by_hour(table):
        for value in part.column(EVENT_TIME).cast(pa.int64()).to_pylist():
            assert hour * 3_600_000_000 <= value < (hour + 1) * 3_600_000_000
        seen += part.column("n").to_pylist()
    assert sorted(seen) == list(range(len(micros)))


def test_hour_partition_values() -> None:
    assert hour_partition(int(datetime(2026, 11, 27, 13, tzinfo=UTC).timestamp()) // 3600) == ("2026-11-27", "13")


def _alb_rows(n: int, start: datetime) -> pa.Table:
    times = pa.array([start + timedelta(seconds=7 * i) for i in range(n)], TIMESTAMP)
    return pa.table(
        {"type": ["http"] * n, "time": times, "elb_status_code": pa.array([200] * n, pa.int32()), EVENT_TIME: times}
    )


def test_writer_fills_the_lake_schema_and_bounds_buffered_rows() -> None:
    writer = PartitionedWriter(
        lake_schema("alb"), row_group_rows=1000, row_group_bytes=1 << 30, max_buffered_bytes=200_000
    )
    for block in range(10):
        writer.write(_alb_rows(500, datetime(2026, 11, 27, 10, tzinfo=UTC) + timedelta(seconds=3500 * block)))
        assert writer._buffered <= 200_000 + 500 * 1000
    files = writer.close()
    assert [f.dt + "T" + f.hour for f in files] == [f"2026-11-27T{h}" for h in range(10, 20)]
    total = 0
    for f in files:
        table = pq.read_table(io.BytesIO(f.file.read()))
        assert table.schema.equals(lake_schema("alb"))
        assert table.num_rows == f.rows
        total += f.rows
    assert total == 5000


def test_quarantine_file_is_byte_identical_for_the_same_rejects() -> None:
    rejects = [Rejected(3, "too few fields: 2 < 18", b"oops"), Rejected(9, "invalid UTF-8", b"\xff\xfe")]
    outputs = []
    for _ in range(2):
        writer = QuarantineWriter("logs", "k", spool_dir=None)
        writer.write(rejects)
        file = writer.close()
        assert file is not None
        outputs.append(file.read())
    assert outputs[0] == outputs[1]
    lines = [json.loads(line) for line in gzip.decompress(outputs[0]).splitlines()]
    assert lines[1]["raw_base64"] == "//4="
    assert lines[0] == {
        "source_bucket": "logs",
        "source_key": "k",
        "line_number": 3,
        "reason": "too few fields: 2 < 18",
        "raw": "oops",
    }


@pytest.mark.parametrize("log_format", FORMAT_NAMES)
def test_every_lake_column_has_a_glue_type_and_event_time(log_format: str) -> None:
    schema = lake_schema(log_format)
    table = table_input(log_format, log_format, f"s3://lake/lake/format={log_format}/", "zstd")
    columns = table["StorageDescriptor"]["Columns"]
    assert [c["Name"] for c in columns] == [f.name.lower() for f in schema]
    assert len({c["Name"] for c in columns}) == len(columns)
    assert {"Name": "event_time", "Type": "timestamp"} in columns
    assert [k["Name"] for k in table["PartitionKeys"]] == ["dt", "hour"]


def test_glue_types() -> None:
    assert [glue_type(t) for t in (pa.string(), pa.int32(), pa.int64(), pa.float64(), TIMESTAMP, pa.date32())] == [
        "string",
        "int",
        "bigint",
        "double",
        "timestamp",
        "date",
    ]
    assert glue_type(pa.list_(pa.string())) == "array<string>"


def test_conform_pads_missing_columns_and_keeps_unknown_ones_last() -> None:
    schema = lake_schema("vpc_flow")
    table = pa.table({"srcaddr": ["10.0.0.1"], "ecs_cluster_name": ["c1"], EVENT_TIME: pa.array([NOW], TIMESTAMP)})
    out = conform(table, schema)
    assert out.schema.names == [*schema.names, "ecs_cluster_name"]
    row = out.to_pylist()[0]
    assert (row["srcaddr"], row["version"], row["ecs_cluster_name"]) == ("10.0.0.1", None, "c1")


def test_input_model_formats_match_the_parsers() -> None:
    annotation = LogEtlInput.model_fields["format"].annotation
    assert set(get_args(get_args(annotation)[0])) == set(FORMAT_NAMES)


def test_input_window_defaults_and_validation() -> None:
    params = parse_input({"start": "2026-11-01", "end": "2026-11-03T12:00:00Z"}, LogEtlInput, env={})
    assert params.window(NOW) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 3, 12, tzinfo=UTC))
    assert parse_input({}, LogEtlInput, env={}).window(NOW) == (NOW - timedelta(days=2), NOW)
    with pytest.raises(InputError, match="start must be before end"):
        parse_input({"start": "2026-11-03", "end": "2026-11-01"}, LogEtlInput, env={})
    with pytest.raises(InputError, match="distinct"):
        parse_input({"quarantine_prefix": "lake/"}, LogEtlInput, env={})
    with pytest.raises(InputError, match="format"):
        parse_input({"format": "syslog"}, LogEtlInput, env={})


def test_a_stray_quote_is_quarantined_alone_and_numbered_in_its_object() -> None:
    from tests.unit.log_etl.conftest import FIXTURES, parse_bytes

    good = (FIXTURES / "alb/awsdocs-elb-alb-guide_2023-06_examples.joined.log").read_bytes().splitlines()
    lines = good * 3
    lines.insert(5, b'h2 2026-11-27T13:00:00Z app/x 1.2.3.4:5 "unterminated')
    result = parse_bytes(b"\n".join(lines) + b"\n", "alb")
    assert result.counts.rows_out == len(good) * 3
    assert [(r.line_number, r.raw[:2]) for r in result.rejects] == [(6, b"h2")]
    assert result.counts.balanced


def test_a_cloudwatch_logs_object_read_as_cloudtrail_is_unreadable_with_the_reason() -> None:
    from functions.log_etl.stream import LogParseError
    from tests.unit.log_etl.conftest import parse_bytes

    control = {
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [{"id": "", "timestamp": 1432826855000, "message": "CWL CONTROL MESSAGE: Checking health"}],
    }
    # Not CloudTrail data: quarantined whole as unreadable (with the reason), never skipped as if it were known.
    with pytest.raises(LogParseError, match="not a CloudTrail log file"):
        parse_bytes(gzip.compress(json.dumps(control).encode()), "cloudtrail")
