"""The parsing pipeline: bad values isolated cheaply, the reading thread, per-column Parquet options."""

from __future__ import annotations

import gzip
import io
import threading
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.log_etl import parse
from functions.log_etl.lake import PartitionedWriter
from functions.log_etl.parse import DelimitedParser
from functions.log_etl.schemas import conform, lake_schema
from functions.log_etl.stream import LogParseError
from tests.unit.log_etl.conftest import FIXTURES, parse_bytes

ALB_LINE = (FIXTURES / "alb/awsdocs-elb-alb-guide_2023-06_examples.joined.log").read_bytes().splitlines()[0]
ALB_TIME = ALB_LINE.split(b" ")[1]


def _alb_lines(n: int) -> list[bytes]:
    """``n`` valid ALB lines, one second apart, each with its own trace id."""
    start = datetime(2026, 11, 27, 13, tzinfo=UTC)
    lines = []
    for i in range(n):
        at = (start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000000Z").encode()
        lines.append(ALB_LINE.replace(ALB_TIME, at, 1).replace(b"Root=1-", b"Root=%d-" % i, 1))
    return lines


def _threads(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


@pytest.fixture
def lines_parsed_one_by_one(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    counted: list[int] = []
    original = DelimitedParser._line_by_line

    def counting(self: DelimitedParser, lines: list[bytes], *args: object, **kwargs: object) -> object:
        counted.append(len(lines))
        return original(self, lines, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DelimitedParser, "_line_by_line", counting)
    return counted


def test_a_value_that_does_not_convert_sends_only_its_neighbourhood_line_by_line(
    monkeypatch: pytest.MonkeyPatch, lines_parsed_one_by_one: list[int]
) -> None:
    lines = _alb_lines(3000)
    lines[10] = lines[10].replace(b"2026-11-27T13", b"2026-13-99T13", 1)  # not a timestamp
    lines[1700] = lines[1700].replace(b" 200 200 ", b" 2x0 200 ", 1)  # elb_status_code not an integer
    lines[2999] = lines[2999].replace(b"2026-11-27T13", b"yesterday", 1)
    data = b"\n".join(lines) + b"\n"

    halved = parse_bytes(gzip.compress(data), "alb", block_size=4 << 20)
    assert sum(lines_parsed_one_by_one) <= 3 * 2 * parse._LINE_BY_LINE_UP_TO

    monkeypatch.setattr(parse, "_LINE_BY_LINE_UP_TO", 10**9)  # the whole block line by line
    whole = parse_bytes(gzip.compress(data), "alb", block_size=4 << 20)

    assert [(r.line_number, r.reason, r.raw) for r in halved.rejects] == [
        (r.line_number, r.reason, r.raw) for r in whole.rejects
    ]
    assert [r.line_number for r in halved.rejects] == [11, 1701, 3000]
    assert halved.rejects[0].reason.startswith("field time: not an ISO 8601 timestamp")
    assert halved.table.equals(whole.table)
    assert halved.counts == whole.counts
    assert halved.counts.rows_out == 2997
    assert halved.counts.balanced


def test_a_stray_quote_and_a_bad_value_in_one_block_are_both_isolated(lines_parsed_one_by_one: list[int]) -> None:
    lines = _alb_lines(2000)
    lines[500] = lines[500][:120]  # truncated inside the quoted request: a stray quote
    lines[1500] = lines[1500].replace(b"2026-11-27T13", b"2026-11-27T33", 1)
    result = parse_bytes(b"\n".join(lines) + b"\n", "alb", block_size=4 << 20)
    assert [r.line_number for r in result.rejects] == [501, 1501]
    assert result.counts.rows_out == 1998
    assert result.counts.balanced
    assert sum(lines_parsed_one_by_one) <= 2 * 2 * parse._LINE_BY_LINE_UP_TO


def test_a_block_of_invalid_utf8_is_still_checked_value_by_value() -> None:
    lines = _alb_lines(200)
    lines[3] = lines[3].replace(b"curl", b"cu\xffl", 1)
    lines[4] = lines[4].replace(b"curl", "cürl".encode(), 1)
    result = parse_bytes(b"\n".join(lines) + b"\n", "alb")
    assert [(r.line_number, r.reason) for r in result.rejects] == [(4, "invalid UTF-8")]
    assert "cürl" in result.table.column("user_agent").to_pylist()[3]


def test_stopping_early_stops_the_reading_thread() -> None:
    data = b"\n".join(_alb_lines(2000)) + b"\n"
    parser = DelimitedParser(io.BytesIO(gzip.compress(data)), "alb", block_size=64 << 10)
    blocks = iter(parser)
    assert next(blocks).table.num_rows > 0
    assert _threads("log-etl-read")
    parser.close()
    assert not _threads("log-etl-read")
    parser.close()  # idempotent


def test_reading_thread_ends_with_the_object() -> None:
    result = parse_bytes(b"\n".join(_alb_lines(50)) + b"\n", "alb")
    assert result.counts.rows_out == 50
    assert not _threads("log-etl-read")


def _parsed_alb(n: int) -> pa.Table:
    return parse_bytes(b"\n".join(_alb_lines(n)) + b"\n", "alb").table


def test_unique_columns_get_neither_dictionary_nor_statistics_and_times_keep_statistics() -> None:
    writer = PartitionedWriter(lake_schema("alb"))
    writer.write(_parsed_alb(500))
    (part,) = writer.close()
    meta = pq.ParquetFile(part.file).metadata.row_group(0)
    columns = {meta.column(i).path_in_schema: meta.column(i) for i in range(meta.num_columns)}
    assert not any("DICTIONARY" in e for e in columns["trace_id"].encodings)
    assert columns["trace_id"].statistics is None or not columns["trace_id"].statistics.has_min_max
    assert not any("DICTIONARY" in e for e in columns["time"].encodings)
    assert columns["time"].statistics.has_min_max
    assert any("DICTIONARY" in e for e in columns["type"].encodings)
    assert columns["elb_status_code"].statistics.has_min_max


def test_encoding_on_a_thread_gives_identical_bytes_and_stops_the_thread() -> None:
    table = conform(_parsed_alb(3000), lake_schema("alb"))
    outputs = []
    for _ in range(2):
        writer = PartitionedWriter(lake_schema("alb"), row_group_rows=1000)
        for offset in range(0, table.num_rows, 700):
            writer.write(table.slice(offset, 700))
        files = writer.close()
        outputs.append([(f.hour_index, f.rows, f.file.read()) for f in files])
        assert not _threads("log-etl-encode")
    assert outputs[0] == outputs[1]
    (_, rows, data), *_ = outputs[0]
    assert pq.ParquetFile(io.BytesIO(data)).metadata.num_row_groups == 3
    assert pq.read_table(io.BytesIO(data)).num_rows == rows == 3000


def test_discarding_waits_for_the_encoder_and_stops_it() -> None:
    writer = PartitionedWriter(lake_schema("alb"), row_group_rows=1000)
    writer.write(_parsed_alb(2500))
    writer.discard()
    assert not _threads("log-etl-encode")
    writer.discard()  # idempotent


def test_concatenated_gzip_members_are_read_as_one_object() -> None:
    lines = _alb_lines(300)
    data = gzip.compress(b"\n".join(lines[:100]) + b"\n") + gzip.compress(b"\n".join(lines[100:]) + b"\n")
    result = parse_bytes(data, "alb", block_size=8 << 10)
    assert result.counts.rows_out == 300
    assert (
        result.table.column("trace_id").to_pylist()
        == parse_bytes(b"\n".join(lines) + b"\n", "alb").table.column("trace_id").to_pylist()
    )


def test_bytes_after_the_gzip_data_make_the_object_unreadable() -> None:
    data = gzip.compress(b"\n".join(_alb_lines(10)) + b"\n") + b"not gzip at all"
    with pytest.raises(LogParseError, match="corrupt gzip data"):
        parse_bytes(data, "alb")


@settings(max_examples=200, deadline=None)
@given(lengths=st.lists(st.integers(0, 40), min_size=1, max_size=8), limit=st.integers(1, 30))
def test_the_long_line_pre_check_never_misses_a_long_line(lengths: list[int], limit: int) -> None:
    data = b"".join(b"x" * n + b"\n" for n in lengths)
    if max(lengths) > limit:
        assert parse._may_hold_long_line(data, limit)
