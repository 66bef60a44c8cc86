"""What each format's published description allows: documented values, control objects, the fields a header or a
configured log format names, CloudTrail records one per line; and that every skip carries its reason."""

from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.log_etl.detect import detect_format
from functions.log_etl.formats import VPC_FLOW
from functions.log_etl.models import LogEtlInput
from functions.log_etl.stream import LogParseError
from shared.errors import InputError
from shared.inputs import parse_input
from tests.unit.log_etl.conftest import FIXTURES, parse_bytes

ALB_LINES = (FIXTURES / "alb/awsdocs-elb-alb-guide_2023-06_examples.joined.log").read_bytes().splitlines()
CLOUDFRONT = (FIXTURES / "cloudfront/awsdocs-cloudfront-guide_2023-06_example.log").read_bytes().splitlines()
VPC_RECORDS = (FIXTURES / "vpc_flow/vector-vrl_parse_aws_vpc_flow_log_records.log").read_bytes().splitlines()
VPC_FORMATS = (FIXTURES / "vpc_flow/vector-vrl_parse_aws_vpc_flow_log_formats.txt").read_text().splitlines()
# One line without a trailing newline, as ELB writes it.
ELB_TEST_OBJECT = b"Enable AccessLog for ELB: my-alb at 2026-09-30T10:00:00.000Z"


def _log_format(vrl_names: str) -> str:
    """A VRL test's field list as the flow log's LogFormat string (AWS writes hyphens, VRL underscores)."""
    return " ".join("${" + name.replace("_", "-") + "}" for name in vrl_names.split())


def _lines(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


# --- ALB type ---


@pytest.mark.parametrize("copies", [0, 300], ids=["line by line", "vectorised"])
def test_alb_type_outside_the_documented_values_is_rejected(copies: int) -> None:
    ftp = ALB_LINES[0].replace(b"http ", b"ftp ", 1)
    result = parse_bytes(_lines([*ALB_LINES[:1] * copies, ftp, *ALB_LINES[:1] * copies]), "alb")

    assert result.counts.rows_out == 2 * copies
    (reject,) = result.rejects
    assert (reject.line_number, reject.raw) == (copies + 1, ftp)
    assert reject.reason == "field type: 'ftp' is not one of grpcs, h2, http, https, ws, wss"


def test_every_documented_alb_type_parses() -> None:
    lines = [ALB_LINES[1].replace(b"https ", kind + b" ", 1) for kind in (b"http", b"https", b"h2", b"grpcs", b"ws")]
    for copies in (1, 100):
        result = parse_bytes(_lines([*lines, ALB_LINES[6].replace(b"http ", b"wss ", 1)] * copies), "alb")
        assert result.table.column("type").to_pylist() == ["http", "https", "h2", "grpcs", "ws", "wss"] * copies


# --- ELB test object ---


@pytest.mark.parametrize("content", [ELB_TEST_OBJECT, ELB_TEST_OBJECT + b"\n", b"Enable AccessLog\n"])
def test_the_elb_test_object_is_a_control_object_skipped_with_its_reason(content: bytes) -> None:
    for data in (content, gzip.compress(content)):
        result = parse_bytes(data, "alb")
        assert (result.counts.lines_in, result.counts.lines_skipped, result.counts.rows_out) == (1, 1, 0)
        assert not result.rejects
        assert result.counts.skip_reasons == {"ELB access-log test object": 1}


def test_the_elb_test_object_is_skipped_by_its_name_under_any_prefix() -> None:
    for key in ("AWSLogs/123456789012/ELBAccessLogTestFile", "alb/AWSLogs/123456789012/ELBAccessLogTestFile"):
        assert detect_format(key, override="alb").skip_reason == "ELB access-log test object"
    assert detect_format("copied/ELBAccessLogTestFile").skip_reason == "ELB access-log test object"


# --- CloudFront #Fields ---


@pytest.mark.parametrize("copies", [1, 200], ids=["line by line", "vectorised"])
def test_a_cloudfront_line_with_fewer_fields_than_its_header_names_is_rejected(copies: int) -> None:
    short = b"\t".join(CLOUDFRONT[2].split(b"\t")[:30])
    result = parse_bytes(_lines([*CLOUDFRONT[:2], *CLOUDFRONT[2:3] * copies, short]), "cloudfront")

    assert result.counts.rows_out == copies
    (reject,) = result.rejects
    assert (reject.line_number, reject.raw) == (copies + 3, short)
    assert reject.reason == "too few fields: 30 < 33 of the #Fields header"
    assert result.counts.skip_reasons == {"W3C header line": 2}


def test_cloudfront_without_a_header_still_accepts_the_older_shorter_records(fixture_bytes) -> None:
    result = parse_bytes(fixture_bytes("cloudfront/logstash-patterns-core_aws_spec_cloudfront.log"), "cloudfront")
    assert (result.counts.rows_out, result.counts.rows_rejected) == (2, 0)


# --- VPC flow logs: header, configured log format, or the default 14 fields ---


def test_a_headerless_vpc_line_with_more_than_the_default_fields_is_rejected_without_a_configured_format() -> None:
    v5 = VPC_RECORDS[2]  # 29 fields of a custom (v5) format, no header line
    reason = "too many fields: 29 > 14 of the default format (no header line and no configured log format)"
    for copies in (1, 200):
        result = parse_bytes(_lines([VPC_RECORDS[0]] * copies + [v5]), "vpc_flow")
        assert result.counts.rows_out == copies
        (reject,) = result.rejects
        assert (reject.raw, reject.reason) == (v5, reason)
    # A custom format of the default fields and then more (as the console offers): every value would convert, but
    # without the format nothing says which field the rest are.
    longer = VPC_RECORDS[4] + b" vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456"
    for copies in (1, 200):
        only_long = parse_bytes(_lines([longer] * copies), "vpc_flow")
        assert only_long.counts.rows_out == 0
        assert {r.reason for r in only_long.rejects} == {reason.replace("29 > 14", "17 > 14")}


def test_a_configured_vpc_log_format_names_the_fields_of_headerless_lines() -> None:
    params = LogEtlInput(
        custom_formats=[
            {"format": "vpc_flow", "prefix": "AWSLogs/", "log_format": _log_format(VPC_FORMATS[2])},
            {"format": "vpc_flow", "prefix": "AWSLogs/123456789012/v11/", "log_format": _log_format(VPC_FORMATS[3])},
        ]
    )
    layout = params.layout_for("vpc_flow", "AWSLogs/123456789012/vpcflowlogs/x.log.gz")
    result = parse_bytes(_lines([VPC_RECORDS[2]] * 3), "vpc_flow", layout=layout)

    assert not result.rejects
    row = result.table.to_pylist()[0]
    assert (row["version"], row["srcaddr"], row["srcport"], row["type"]) == (5, "52.95.128.179", 80, "IPv4")
    assert row["packets"] == 14
    assert (row["az_id"], row["tcp_flags"], row["pkt_src_aws_service"], row["flow_direction"]) == (
        "apse2-az3",
        19,
        "S3",
        "ingress",
    )
    assert (row["traffic_path"], row["log_status"], row["extra_fields"]) == (None, "OK", None)
    # The longest prefix wins: v11 fields this release does not know are kept as string columns.
    v11 = params.layout_for("vpc_flow", "AWSLogs/123456789012/v11/y.log.gz")
    (row,) = parse_bytes(_lines([VPC_RECORDS[3]]), "vpc_flow", layout=v11).table.to_pylist()
    assert (row["action"], row["reject_reason"], row["resource_id"], row["interface_type"]) == (
        "REJECT",
        "BPA",
        "nat-0c50d5961bcb2d47b",
        "nat_gateway",
    )
    assert params.layout_for("vpc_flow", "other/z.log.gz") is None
    assert params.layout_for("alb", "AWSLogs/x") is None


def test_a_configured_vpc_log_format_rejects_lines_that_do_not_have_its_fields() -> None:
    layout = VPC_FLOW.layout_from_config(_log_format(VPC_FORMATS[2]))  # type: ignore[misc]
    result = parse_bytes(_lines([VPC_RECORDS[2], VPC_RECORDS[0]]), "vpc_flow", layout=layout)
    assert result.counts.rows_out == 1
    assert [r.reason for r in result.rejects] == ["too few fields: 14 < 29 of the configured log format"]


def test_the_file_header_wins_over_a_configured_log_format() -> None:
    layout = VPC_FLOW.layout_from_config(_log_format(VPC_FORMATS[2]))  # type: ignore[misc]
    header = VPC_FORMATS[5].replace("_", "-").encode()
    result = parse_bytes(_lines([header, VPC_RECORDS[5]]), "vpc_flow", layout=layout)
    assert not result.rejects
    assert result.table.column("vpc_id").to_pylist() == ["vpc-abcdefab012345678"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"format": "vpc_flow", "prefix": "", "log_format": "version account-id"}, "${field} names"),
        ({"format": "vpc_flow", "prefix": "", "log_format": "${version}  ${srcaddr}"}, "${field} names"),
        ({"format": "vpc_flow", "prefix": "", "log_format": "${version} ${Src Addr}"}, "${field} names"),
        ({"format": "vpc_flow", "prefix": "", "log_format": "${version} ${srcaddr}"}, "start or end"),
        ({"format": "vpc_flow", "prefix": "", "log_format": "${start} ${srcaddr} ${start}"}, "more than once: start"),
        ({"format": "alb", "prefix": "", "log_format": "${type}"}, "alb has no configurable log format"),
        ({"format": "vpc_flow", "log_format": "${start}"}, "prefix"),
        ({"format": "vpc_flow", "prefix": "", "log_format": "${start}", "header": True}, "header"),
    ],
)
def test_a_bad_configured_log_format_is_refused_before_anything_runs(entry: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match="custom_formats") as err:
        parse_input({"custom_formats": [entry]}, LogEtlInput, env={})
    assert message in str(err.value)


def test_two_configured_formats_for_one_prefix_are_refused() -> None:
    entry = {"format": "vpc_flow", "prefix": "AWSLogs/", "log_format": "${start} ${srcaddr}"}
    with pytest.raises(InputError, match="custom_formats") as err:
        parse_input({"custom_formats": [entry, entry]}, LogEtlInput, env={})
    assert "two log formats for vpc_flow under 'AWSLogs/'" in str(err.value)


def test_configured_formats_come_from_the_environment_as_json() -> None:
    entry = {"format": "vpc_flow", "prefix": "AWSLogs/", "log_format": "${start} ${srcaddr}"}
    params = parse_input({}, LogEtlInput, env={"DEVOPS_TASKS_CUSTOM_FORMATS": json.dumps([entry])})
    layout = params.layout_for("vpc_flow", "AWSLogs/a")
    assert layout is not None
    assert layout.names == ["start", "srcaddr"]


# --- CloudTrail ---


def _records(name: str) -> list[dict[str, object]]:
    data = (FIXTURES / "cloudtrail" / name).read_bytes()
    return json.loads(gzip.decompress(data) if name.endswith(".gz") else data)["Records"]  # type: ignore[no-any-return]


CLOUDTRAIL_RECORDS = [
    *_records("awsdocs-cloudtrail-guide_2023-06_example-01-StartInstances.json"),
    *_records("grafana-loki_lambda-promtail_cloudtrail-log-file.json.gz"),
    *_records("awsdocs-cloudtrail-guide_2023-06_example-08-Insight.json"),
]


@pytest.mark.parametrize("gz", [False, True])
def test_cloudtrail_events_one_json_object_per_line_are_read_as_records(gz: bool) -> None:
    lines = [json.dumps(r).encode() for r in CLOUDTRAIL_RECORDS]
    data = _lines(lines)
    result = parse_bytes(gzip.compress(data) if gz else data, "cloudtrail")

    assert result.counts.lines_in == result.counts.rows_out == len(CLOUDTRAIL_RECORDS) == 5
    records = parse_bytes(json.dumps({"Records": CLOUDTRAIL_RECORDS}).encode(), "cloudtrail")
    assert result.table.equals(records.table)


def test_a_bad_line_among_cloudtrail_json_lines_is_rejected_alone_with_its_reason() -> None:
    lines = [json.dumps(r).encode() for r in CLOUDTRAIL_RECORDS[:3]]
    bad = lines[1][:-20]
    data = _lines([lines[0], bad, b"", b'"a string"', b'{"eventName": "NoTime"}', lines[2], b"\xff\xfe"])
    result = parse_bytes(data, "cloudtrail")

    assert (result.counts.lines_in, result.counts.rows_out, result.counts.lines_skipped) == (7, 2, 1)
    assert result.counts.skip_reasons == {"blank line": 1}
    reasons = {r.line_number: r.reason for r in result.rejects}
    assert reasons[2].startswith("record is not valid JSON:")
    assert reasons[4] == "record is not a JSON object"
    assert reasons[5] == "eventTime missing"
    assert reasons[7] == "invalid UTF-8"
    assert {r.line_number: r.raw for r in result.rejects}[2] == bad
    assert result.counts.balanced


def test_cloudtrail_files_and_digests_are_told_apart_by_content_and_skips_carry_the_reason() -> None:
    digest = json.dumps({"awsAccountId": "123456789012", "digestStartTime": "2023-01-01T00:00:00Z", "logFiles": []})
    result = parse_bytes(gzip.compress(digest.encode()), "cloudtrail")
    assert (result.counts.lines_in, result.counts.lines_skipped) == (1, 1)
    assert result.counts.skip_reasons == {"CloudTrail digest file": 1}


@pytest.mark.parametrize(
    "document",
    [b'{"messageType": "DATA_MESSAGE", "logEvents": []}\n', b"[1, 2, 3]", b"not json at all\n"],
    ids=["another JSON object", "a JSON array", "text"],
)
def test_a_document_that_is_not_cloudtrail_is_unreadable_with_the_reason(document: bytes) -> None:
    with pytest.raises(LogParseError, match="not a CloudTrail log file"):
        parse_bytes(document, "cloudtrail")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(
        st.one_of(
            st.sampled_from([json.dumps(r).encode() for r in CLOUDTRAIL_RECORDS]),
            st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" ")),
            st.just(b""),
        ),
        min_size=1,
        max_size=30,
    ),
    gz=st.booleans(),
)
def test_cloudtrail_json_lines_conserve_every_line(lines: list[bytes], gz: bool) -> None:
    data = b"\n".join([json.dumps(CLOUDTRAIL_RECORDS[0]).encode(), *lines]) + b"\n"
    result = parse_bytes(gzip.compress(data) if gz else data, "cloudtrail")
    assert result.counts.lines_in == len(lines) + 1
    assert result.counts.balanced
    assert result.counts.lines_skipped == sum(result.counts.skip_reasons.values())
    records = sum(line in {json.dumps(r).encode() for r in CLOUDTRAIL_RECORDS} for line in lines)
    assert result.counts.rows_out >= records + 1
