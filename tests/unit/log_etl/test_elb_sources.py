"""Network and Classic Load Balancer access logs: published examples, versions, malformed lines, conservation."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from functions.log_etl.detect import detect_format
from tests.unit.log_etl.conftest import FIXTURES, parse_bytes

NLB_DOC = gzip.decompress((FIXTURES / "nlb/grafana-loki_lambda-promtail_nlbaccesslog.log.gz").read_bytes())
NLB_2018, NLB_2020 = NLB_DOC.splitlines()
NLB_V1 = NLB_2018.replace(b"tls 2.0 ", b"tls 1.0 ").rsplit(b" ", 4)[0]  # a 1.0 record ends at domain_name
CLASSIC_DOC = (FIXTURES / "classic_elb/awsdocs-elb-classic-guide_2023-06_examples.log").read_bytes()
CLASSIC_LOGSTASH = (FIXTURES / "classic_elb/logstash-patterns-core_aws_spec_elb.log").read_bytes()
CLASSIC_HTTP, CLASSIC_HTTPS, CLASSIC_TCP, CLASSIC_SSL = CLASSIC_DOC.splitlines()


def _lines(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def test_nlb_documented_examples_parse_to_their_values():
    result = parse_bytes(NLB_DOC, "nlb")
    assert (result.counts.rows_out, result.rejects) == (2, [])
    old, new = result.table.to_pylist()
    assert old["time"] == old["event_time"] == datetime(2018, 12, 20, 2, 59, 40, tzinfo=UTC)
    assert (old["type"], old["version"], old["elb"], old["listener"]) == (
        "tls",
        "2.0",
        "net/my-network-loadbalancer/c6e77e28c25b2234",
        "g3d4b5e8bb8464cd",
    )
    assert (old["client_ip"], old["client_port"], old["destination_ip"], old["destination_port"]) == (
        "72.21.218.154",
        51341,
        "172.100.100.185",
        443,
    )
    assert (old["connection_time"], old["tls_handshake_time"], old["received_bytes"], old["sent_bytes"]) == (
        5.0,
        2.0,
        98,
        246,
    )
    assert (old["incoming_tls_alert"], old["chosen_cert_serial"], old["tls_protocol_version"]) == (None, None, "tlsv12")
    assert (old["alpn_fe_protocol"], old["alpn_client_preference_list"]) == (None, None)
    assert old["tls_connection_creation_time"] == datetime(2018, 12, 20, 2, 59, 30, tzinfo=UTC)
    # the ALPN list is one space-free field holding quotes: kept as written, not taken for quoting
    assert (new["alpn_fe_protocol"], new["alpn_be_protocol"], new["alpn_client_preference_list"]) == (
        "h2",
        "h2",
        '"h2","http/1.1"',
    )
    assert new["extra_fields"] is None


@pytest.mark.parametrize("copies", [0, 100])  # alone (line by line) and among many good lines (vectorised)
def test_nlb_records_are_read_by_their_version(copies: int) -> None:
    truncated_v2 = NLB_2020.rsplit(b" ", 4)[0]  # 18 fields, but version 2.0 records have 22
    v3 = NLB_2020.replace(b"tls 2.0 ", b"tls 3.0 ")
    data = _lines([NLB_V1, truncated_v2, v3, *[NLB_2020] * copies])
    result = parse_bytes(data, "nlb")
    reasons = {r.line_number: r.reason for r in result.rejects}
    assert reasons == {
        2: "too few fields for version 2.0: 18 < 22",
        3: "field version: '3.0' is not one of 1.0, 2.0",
    }
    rows = result.table.to_pylist()
    assert len(rows) == 1 + copies
    v1 = next(r for r in rows if r["version"] == "1.0")
    assert (v1["domain_name"], v1["alpn_fe_protocol"], v1["tls_connection_creation_time"]) == (
        "my-network-loadbalancer-c6e77e28c25b2234.elb.us-east-2.amazonaws.com",
        None,
        None,
    )
    assert result.counts.balanced


@pytest.mark.parametrize("copies", [0, 100])
def test_nlb_malformed_lines_are_rejected_with_reasons_never_misparsed(copies: int) -> None:
    bad = [
        NLB_2020[:70],  # truncated
        NLB_2020.replace(b" 98 246 ", b" 98 lots "),  # wrong type
        NLB_2020.replace(b"2020-04-01T08:51:42", b"2020-04-01T08:51:42Z"),  # a zone NLB never writes
        NLB_2020.replace(b"2020-04-01T08:51:42", b"2020-14-01T08:51:42"),  # no such month
        NLB_2020.replace(b"2020-04-01T08:51:42", b"2020-04-01"),  # a date is not the time
        NLB_2020.replace(b"2020-04-01T08:51:42", b"2020-4-01T08:51:42"),  # not the documented shape
        NLB_2020.replace(b"tls 2.0", b"http 2.0"),  # not an NLB record (ALB's type)
        NLB_2020.replace(b"g3d4b5e8bb8464cd", b"g3d4\xff\xfe"),  # bad UTF-8
    ]
    data = _lines([*[NLB_2020] * copies, *bad])
    result = parse_bytes(data, "nlb")
    assert result.counts.rows_out == copies
    reasons = [r.reason for r in sorted(result.rejects, key=lambda r: r.line_number)]
    assert reasons == [
        "too few fields: 4 < 18",
        "field sent_bytes: not an integer: 'lots'",
        "field time: not a time YYYY-MM-DDTHH:MM:SS: '2020-04-01T08:51:42Z'",
        "field time: not a time YYYY-MM-DDTHH:MM:SS: '2020-14-01T08:51:42'",
        "field time: not a time YYYY-MM-DDTHH:MM:SS: '2020-04-01'",
        "field time: not a time YYYY-MM-DDTHH:MM:SS: '2020-4-01T08:51:42'",
        "field type: 'http' is not one of tls",
        "invalid UTF-8",
    ]
    assert [r.raw for r in sorted(result.rejects, key=lambda r: r.line_number)] == bad
    assert result.counts.balanced


def test_nlb_fields_appended_after_the_known_ones_are_kept():
    result = parse_bytes(_lines([NLB_2020 + b" new-field 42"]), "nlb")
    (row,) = result.table.to_pylist()
    assert row["extra_fields"] == ["new-field", "42"]


def test_classic_documented_examples_parse_to_their_values():
    result = parse_bytes(CLASSIC_DOC, "classic_elb")
    assert (result.counts.rows_out, result.rejects) == (4, [])
    http, https, tcp, ssl = result.table.to_pylist()
    assert http["timestamp"] == http["event_time"] == datetime(2015, 5, 13, 23, 39, 43, 945958, tzinfo=UTC)
    assert (http["elb"], http["client_ip"], http["client_port"], http["backend_ip"], http["backend_port"]) == (
        "my-loadbalancer",
        "192.168.131.39",
        2817,
        "10.0.0.1",
        80,
    )
    assert (http["request_processing_time"], http["elb_status_code"], http["backend_status_code"]) == (
        0.000073,
        200,
        "200",
    )
    assert (http["request"], http["user_agent"], http["ssl_cipher"]) == (
        "GET http://www.example.com:80/ HTTP/1.1",
        "curl/7.38.0",
        None,
    )
    assert (https["ssl_cipher"], https["ssl_protocol"]) == ("DHE-RSA-AES128-SHA", "TLSv1.2")
    # TCP and SSL listeners: no status codes, the request as AWS writes it, no user agent
    assert (tcp["elb_status_code"], tcp["backend_status_code"], tcp["request"], tcp["user_agent"]) == (
        None,
        None,
        "- - - ",
        None,
    )
    assert (ssl["received_bytes"], ssl["sent_bytes"], ssl["ssl_protocol"]) == (57, 502, "TLSv1.2")


def test_classic_older_records_and_undispatched_requests_parse():
    result = parse_bytes(CLASSIC_LOGSTASH, "classic_elb")
    assert (result.counts.rows_out, result.rejects) == (4, [])
    old, timeout, agent, dash = result.table.to_pylist()
    assert (old["request"], old["user_agent"], old["ssl_protocol"]) == (
        "GET http://www.example.com:80/ HTTP/1.1",
        None,
        None,
    )
    assert (timeout["backend_ip"], timeout["backend_port"], timeout["request_processing_time"]) == (None, None, -1.0)
    assert (timeout["elb_status_code"], timeout["received_bytes"]) == (408, 1294336)
    assert agent["user_agent"] == "curl/7.38.0 (#56-0ef1d4a5)"
    assert dash["user_agent"] is None


@pytest.mark.parametrize("copies", [0, 100])
def test_classic_malformed_lines_are_rejected_with_reasons_never_misparsed(copies: int) -> None:
    bad = [
        CLASSIC_HTTPS[:90],  # truncated
        CLASSIC_HTTPS.replace(b" 200 200 0 57 ", b" 200 200 zero 57 "),  # wrong type
        CLASSIC_HTTPS.replace(b'"curl/7.38.0"', b'"curl/7.38.0"x'),  # a quote not followed by a space
        CLASSIC_HTTPS.replace(b"2015-05-13T23:39:43.945958Z", b"2015-05-13T23:39:43.945958"),  # no zone
        CLASSIC_HTTPS.replace(b"curl", b"c\xffrl"),  # bad UTF-8
    ]
    data = _lines([*[CLASSIC_HTTPS] * copies, *bad, CLASSIC_HTTPS + b" extra"])
    result = parse_bytes(data, "classic_elb")
    assert result.counts.rows_out == copies + 1
    reasons = [r.reason for r in sorted(result.rejects, key=lambda r: r.line_number)]
    assert reasons == [
        "too few fields: 6 < 12",
        "field received_bytes: not an integer: 'zero'",
        "field user_agent: malformed quoting: closing quote not followed by a space",
        "field timestamp: timestamp without time zone: '2015-05-13T23:39:43.945958'",
        "invalid UTF-8",
    ]
    assert result.table.to_pylist()[-1]["extra_fields"] == ["extra"]
    assert result.counts.balanced


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (
            "AWSLogs/123456789012/elasticloadbalancing/us-east-2/2016/05/01/123456789012_elasticloadbalancing_"
            "us-east-2_net.my-loadbalancer.1234567890abcdef_20160501T0000Z_7f3c1a2b.log.gz",
            "nlb",
        ),
        (
            "AWSLogs/123456789012/elasticloadbalancing/us-west-2/2014/02/15/123456789012_elasticloadbalancing_"
            "us-west-2_my-loadbalancer_20140215T2340Z_172.160.001.192_20sg8hgm.log",
            "classic_elb",
        ),
    ],
)
def test_load_balancer_keys_are_detected(key: str, expected: str) -> None:
    assert detect_format(key).format == expected


def _mutate(line: bytes, cut: int, junk: bytes) -> bytes:
    return line[: cut % (len(line) + 1)] + junk


def _conservation(lines: list[bytes], log_format: str, block_size: int, good: set[bytes]) -> None:
    data = b"".join(line.replace(b"\n", b" ") + b"\n" for line in lines)
    assume(not data.startswith(b"\x1f\x8b"))  # the gzip magic number: read as (corrupt) gzip, by design
    result = parse_bytes(data, log_format, block_size=block_size)
    assert result.counts.lines_in == len(lines)
    assert result.counts.balanced
    assert result.table.num_rows == result.counts.rows_out
    assert all(r.reason for r in result.rejects)
    assert result.counts.rows_out >= sum(line in good for line in lines)  # every documented record is a row


NLB_GOOD = [NLB_2018, NLB_2020, NLB_V1]
CLASSIC_GOOD = [*CLASSIC_DOC.splitlines(), *CLASSIC_LOGSTASH.splitlines()]


@settings(max_examples=40, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.sampled_from(NLB_GOOD),
            st.builds(_mutate, st.sampled_from(NLB_GOOD), st.integers(0, 400), st.binary(max_size=12)),
            st.binary(max_size=40),
            st.just(b"Enable AccessLog"),
        ),
        max_size=40,
    ),
    block_size=st.integers(64, 4096),
)
def test_nlb_conservation_every_line_is_a_row_a_reject_or_a_skip(lines: list[bytes], block_size: int) -> None:
    _conservation(lines, "nlb", block_size, set(NLB_GOOD))


@settings(max_examples=40, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.sampled_from(CLASSIC_GOOD),
            st.builds(_mutate, st.sampled_from(CLASSIC_GOOD), st.integers(0, 300), st.binary(max_size=12)),
            st.binary(max_size=40),
            st.just(b""),
        ),
        max_size=40,
    ),
    block_size=st.integers(64, 4096),
)
def test_classic_conservation_every_line_is_a_row_a_reject_or_a_skip(lines: list[bytes], block_size: int) -> None:
    _conservation(lines, "classic_elb", block_size, set(CLASSIC_GOOD))
