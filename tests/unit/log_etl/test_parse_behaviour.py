"""Rejects, skips, extra fields, corrupt input, bounded lines, conservation and determinism."""

from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.log_etl.detect import detect_format
from functions.log_etl.parse import open_parser
from functions.log_etl.stream import LogParseError
from tests.unit.log_etl.conftest import FIXTURES, parse_bytes

ALB_DOC = (FIXTURES / "alb/awsdocs-elb-alb-guide_2023-06_examples.joined.log").read_bytes().splitlines()
ALB_LINE = ALB_DOC[0]


def test_malformed_and_truncated_lines_are_quarantined_with_reason_and_raw_bytes():
    truncated = ALB_LINE[:60]
    bad_int = ALB_LINE.replace(b" 200 200 34 ", b" 200 200 many ")
    data = b"\n".join([ALB_LINE, truncated, bad_int, b"\xff\xfe not utf8", ALB_LINE]) + b"\n"
    result = parse_bytes(data, "alb")
    assert result.counts.rows_out == 2
    reasons = {r.line_number: (r.reason, r.raw) for r in result.rejects}
    assert reasons[2] == ("too few fields: 3 < 18", truncated)
    assert reasons[3][0] == "field received_bytes: not an integer: 'many'"
    assert reasons[3][1] == bad_int
    assert reasons[4][0] == "invalid UTF-8"
    assert result.counts.balanced


def test_wrong_log_type_lines_are_rejected_not_parsed(fixture_bytes):
    result = parse_bytes(fixture_bytes("alb/grafana-loki_lambda-promtail_nlbaccesslog.log.gz"), "alb")
    assert result.counts.rows_out == 0
    assert [r.reason for r in result.rejects] == [
        "field type: 'tls' is not one of grpcs, h2, http, https, ws, wss",
        # NLB's ALPN list "h2","http/1.1" is not a quoted field of ALB's format
        "field matched_rule_priority: malformed quoting: closing quote not followed by a space",
    ]


def test_unknown_trailing_fields_are_kept_in_extra_fields():
    newer = ALB_LINE + b' TID_abc "-" "-" "-" "new value" next'
    result = parse_bytes(newer + b"\n" + ALB_LINE + b"\n", "alb")
    rows = result.table.to_pylist()
    assert rows[0]["conn_trace_id"] == "TID_abc"
    assert rows[0]["extra_fields"] == ["new value", "next"]
    assert rows[1]["extra_fields"] is None


def test_elb_test_object_and_blank_lines_are_skipped():
    result = parse_bytes(b"Enable AccessLog\n\n" + ALB_LINE + b"\n\n", "alb")
    assert (result.counts.rows_out, result.counts.lines_skipped, result.counts.lines_in) == (1, 3, 4)


def test_cloudtrail_digest_content_is_skipped():
    digest = json.dumps({"awsAccountId": "123456789012", "digestStartTime": "2023-01-01T00:00:00Z"}).encode()
    result = parse_bytes(gzip.compress(digest), "cloudtrail")
    assert (result.counts.lines_in, result.counts.lines_skipped, result.counts.rows_out) == (1, 1, 0)


def test_cloudtrail_records_across_many_read_buffers_all_parse_in_order():
    # ~3 MB of records, each a different size, so records straddle the reader's 1 MiB refills; with and
    # without whitespace between them, as CloudTrail and hand-made files differ
    records = [
        {
            "eventTime": f"2026-11-27T13:{i % 60:02d}:00Z",
            "eventName": f"Call{i}",
            "requestParameters": {"pad": "x" * (i % 700)},
        }
        for i in range(8000)
    ]
    for text in (json.dumps({"Records": records}), json.dumps({"Records": records}, indent=1)):
        result = parse_bytes(gzip.compress(text.encode()), "cloudtrail")
        assert result.counts.rows_out == len(records)
        assert result.table.column("eventName").to_pylist() == [r["eventName"] for r in records]
        pads = [json.loads(v)["pad"] for v in result.table.column("requestParameters").to_pylist()]
        assert pads == [r["requestParameters"]["pad"] for r in records]


def test_cloudtrail_published_invalid_json_raises_clear_error(fixture_bytes):
    data = fixture_bytes("cloudtrail/awsdocs-cloudtrail-guide_2023-06_example-06-CreateRole.INVALID-JSON.json")
    with pytest.raises(LogParseError, match="not valid JSON"):
        parse_bytes(data, "cloudtrail")


@pytest.mark.parametrize("log_format", ["alb", "cloudtrail"])
def test_corrupt_gzip_raises_clear_error(log_format):
    good = gzip.compress(ALB_LINE * 50)
    corrupt = good[:20] + bytes(b ^ 0x5A for b in good[20:40]) + good[40:]
    with pytest.raises(LogParseError, match="gzip"):
        parse_bytes(corrupt, log_format)


class _ConnectionDrops:
    """An object body whose connection is reset after ``good`` bytes (botocore's read timeout is an OSError too)."""

    def __init__(self, data: bytes, good: int) -> None:
        self._data, self._good, self._at = data, good, 0

    def read(self, size: int = -1) -> bytes:
        if self._at >= self._good:
            raise ConnectionResetError("connection reset by peer")
        piece = self._data[self._at : min(self._good, self._at + (size if size > 0 else 1 << 16))]
        self._at += len(piece)
        return piece


@pytest.mark.parametrize("log_format", ["alb", "cloudtrail"])
def test_a_network_error_while_reading_a_gzip_object_is_not_taken_for_corrupt_data(log_format):
    # A corrupt object is quarantined for good; a dropped connection must fail the load, so it is retried.
    record = json.dumps({"eventTime": "2026-11-27T13:05:00Z", "eventName": "GetObject"}).encode()
    lines = b"\n".join(ALB_DOC) + b"\n" if log_format == "alb" else record + b","
    data = gzip.compress(lines * 5000 if log_format == "alb" else b'{"Records": [' + lines * 20000 + record + b"]}")
    parser = open_parser(_ConnectionDrops(data, good=len(data) // 2), log_format)
    with pytest.raises(ConnectionResetError):
        list(parser)


def test_truncated_gzip_raises_clear_error():
    with pytest.raises(LogParseError, match="truncated"):
        parse_bytes(gzip.compress(ALB_LINE * 50)[:-30], "alb")


@pytest.mark.parametrize("log_format", ["alb", "s3_access", "vpc_flow", "cloudfront", "cloudtrail"])
@pytest.mark.parametrize("data", [b"", gzip.compress(b"", mtime=0)])  # mtime=0: the same test id on every worker
def test_empty_object_gives_zero_rows(log_format, data):
    result = parse_bytes(data, log_format)
    assert result.table.num_rows == 0
    assert result.counts.lines_in == 0


def test_huge_line_is_rejected_with_reason_and_bounded_raw():
    huge = b"http " + b"x" * 3_000_000
    data = ALB_LINE + b"\n" + huge + b"\n" + ALB_LINE + b"\n"
    result = parse_bytes(gzip.compress(data), "alb", block_size=1 << 20, max_line_bytes=64 << 10)
    assert result.counts.rows_out == 2
    (reject,) = result.rejects
    assert reject.line_number == 2
    assert reject.reason == "line longer than 65536 bytes"
    assert len(reject.raw) == 64 << 10
    assert result.counts.balanced


def test_long_line_inside_one_block_is_rejected_too():
    long_ua = ALB_LINE.replace(b'"curl/7.46.0"', b'"' + b"u" * 5000 + b'"')
    result = parse_bytes(long_ua + b"\n" + ALB_LINE + b"\n", "alb", max_line_bytes=4096)
    assert [r.reason for r in result.rejects] == ["line longer than 4096 bytes"]
    assert result.counts.rows_out == 1


def test_parsing_is_deterministic(fixture_bytes):
    data = fixture_bytes("alb/vector-vrl_parse_aws_alb_log_tests.log") * 50 + b"junk line\n"
    first = parse_bytes(data, "alb", block_size=4096)
    second = parse_bytes(data, "alb", block_size=4096)
    assert first.table.equals(second.table)
    assert first.rejects == second.rejects


LINE_KINDS = st.sampled_from(
    [ALB_LINE, ALB_DOC[6], ALB_LINE[:80], b"Enable AccessLog", b"", b'"unbalanced quote here', ALB_LINE + b" x"]
)


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(LINE_KINDS, max_size=60), block_size=st.integers(64, 4096), gz=st.booleans())
def test_conservation_lines_in_equals_rows_rejects_and_skips(lines, block_size, gz):
    data = b"\n".join(lines) + (b"\n" if lines else b"")
    result = parse_bytes(gzip.compress(data) if gz else data, "alb", block_size=block_size)
    assert result.counts.lines_in == len(lines)
    assert result.counts.balanced
    assert result.table.num_rows == result.counts.rows_out
    assert result.counts.rows_out == sum(line in (ALB_LINE, ALB_DOC[6], ALB_LINE + b" x") for line in lines)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (
            "AWSLogs/123456789012/elasticloadbalancing/us-east-2/2024/03/01/"
            "123456789012_elasticloadbalancing_us-east-2_app.my-lb.50dc6c495c0c9188_20240301T0005Z_10.0.0.1_x1y2.log.gz",
            "alb",
        ),
        (
            "AWSLogs/123456789012/vpcflowlogs/us-east-1/2022/11/30/"
            "123456789012_vpcflowlogs_us-east-1_fl-1234abcd_20221130T2110Z_fe123456.log.gz",
            "vpc_flow",
        ),
        (
            "AWSLogs/123456789012/CloudTrail/us-east-2/2014/03/06/"
            "123456789012_CloudTrail_us-east-2_20140306T2125Z_abcdEFGH12345678.json.gz",
            "cloudtrail",
        ),
        ("cf/E2EXAMPLE1234.2019-12-04-21.a1b2c3d4.gz", "cloudfront"),
        # The key examples of AWS's own guides: CloudFront unique ids are not only hex, and the CloudTrail
        # guide's example file name has no underscore before its unique string.
        ("example-prefix/EMLARXS9EXAMPLE.2019-11-14-20.RT4KCN4SGK9.gz", "cloudfront"),
        (
            "AWSLogs/123456789012/CloudTrail/us-west-1/2014/06/20/"
            "123456789012_CloudTrail_us-west-1_20140620T1255ZHdkvFTXOA3Vnhbc.json.gz",
            "cloudtrail",
        ),
        (
            "prefix/AWSLogs/123456789012/elasticloadbalancing/us-east-2/2016/05/01/123456789012_elasticloadbalancing_"
            "us-east-2_app.my-loadbalancer.1234567890abcdef_20140215T2340Z_172.160.001.192_20sg8hgm.log.gz",
            "alb",
        ),
        ("123456789012_vpcflowlogs_us-east-1_fl-1234abcd_20180620T1620Z_fe123456.log.gz", "vpc_flow"),
        ("logs/2019-02-06-00-00-38-5A37F6CC2EXAMPLE", "s3_access"),
    ],
)
def test_format_is_detected_from_key_layout(key, expected):
    assert detect_format(key).format == expected


def test_non_log_objects_are_skipped_by_key_even_with_override():
    digest = "AWSLogs/123456789012/CloudTrail-Digest/us-east-2/2014/03/06/x.json.gz"
    assert detect_format(digest, override="cloudtrail").skip_reason == "CloudTrail digest file"
    assert detect_format("AWSLogs/123456789012/ELBAccessLogTestFile").skip_reason == "ELB access-log test object"
    assert detect_format("some/other/key.txt", override="alb").format == "alb"
    assert detect_format("some/other/key.txt").format is None
