"""AWS WAF logs: nested rule groups and headers in Parquet, every value type-checked, conservation."""

from __future__ import annotations

import copy
import gzip
import io
import json
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from functions.log_etl.catalog import glue_type
from functions.log_etl.detect import detect_format
from functions.log_etl.schemas import lake_schema
from tests.unit.log_etl.conftest import FIXTURES, parse_bytes

# Shaped like the examples of AWS's "Log examples for web ACL traffic" (tests/fixtures/waf/README.md)
WAF_EXAMPLES = FIXTURES.parent / "waf" / "web-acl-traffic-examples.jsonl"
BLOCKED, COUNTED = (json.loads(line) for line in WAF_EXAMPLES.read_text().splitlines())
GOOD = [BLOCKED, COUNTED]


def _line(record: object) -> bytes:
    return json.dumps(record).encode()


def _lines(records: list[object]) -> bytes:
    return b"".join(r + b"\n" if isinstance(r, bytes) else _line(r) + b"\n" for r in records)


def test_records_keep_their_nesting_and_the_lake_file_reads_back() -> None:
    result = parse_bytes(gzip.compress(_lines(GOOD)), "waf")
    assert (result.counts.rows_out, result.rejects) == (2, [])
    buffer = io.BytesIO()
    pq.write_table(result.table, buffer)
    blocked, counted = pq.read_table(io.BytesIO(buffer.getvalue())).to_pylist()
    assert blocked["timestamp"] == blocked["event_time"] == datetime(2019, 12, 13, 23, 40, 12, 771000, tzinfo=UTC)
    assert (blocked["action"], blocked["terminatingRuleId"], blocked["formatVersion"]) == (
        "BLOCK",
        "STMTest_SQLi_XSS",
        1,
    )
    assert json.loads(blocked["terminatingRuleMatchDetails"]) == BLOCKED["terminatingRuleMatchDetails"]
    headers = blocked["httpRequest"]["headers"]
    assert [(h["name"], h["value"]) for h in headers][-2:] == [("x-stm-test", "10 AND 1=1"), ("x-stm-test", "repeated")]
    php, sqli = blocked["ruleGroupList"]
    assert (php["terminatingRule"], php["excludedRules"]) == (None, None)
    assert sqli["terminatingRule"] == {"ruleId": "SQLi_URIPATH", "action": "BLOCK", "overriddenAction": None,
                                       "ruleMatchDetails": None}  # fmt: skip
    (counting,) = sqli["nonTerminatingMatchingRules"]
    assert (counting["ruleId"], json.loads(counting["ruleMatchDetails"])[0]["location"]) == ("SQLi_BODY", "BODY")
    assert sqli["excludedRules"] == [{"exclusionType": "EXCLUDED_AS_COUNT", "ruleId": "SQLi_COOKIE"}]
    assert blocked["labels"] == [{"name": "value"}]
    assert blocked["extra_fields"] is None
    (rate,) = counted["rateBasedRuleList"]
    assert (rate["limitKey"], rate["maxRateAllowed"], rate["evaluationWindowSec"]) == ("CUSTOMKEYS", 100, 120)
    assert json.loads(rate["customValues"]) == [{"key": "HEADER", "name": "dogname", "value": "ella"}]
    assert counted["nonTerminatingMatchingRules"][0]["captchaResponse"] == {
        "responseCode": 0, "solveTimestamp": 1683355579, "failureReason": None
    }  # fmt: skip
    assert counted["requestHeadersInserted"] == [{"name": "x-amzn-waf-counted", "value": "yes"}]
    assert (counted["httpRequest"]["scheme"], counted["ja4Fingerprint"]) == (
        "https",
        "t13d1516h2_8daaf6152771_e5627efa2ab1",
    )


def _changed(path: list[object], value: object, record: dict[str, object] = BLOCKED) -> dict[str, object]:
    changed = copy.deepcopy(record)
    target: object = changed
    for step in path[:-1]:
        target = target[step]  # type: ignore[index]
    target[path[-1]] = value  # type: ignore[index]
    return changed


def test_keys_the_schema_does_not_know_are_kept_by_their_path() -> None:
    record = _changed(["httpRequest", "tlsVersion"], "TLSv1.3")
    record["ruleGroupList"][1]["terminatingRule"]["newDetail"] = {"x": 1}
    record["brandNewField"] = [1, 2]
    (row,) = parse_bytes(_lines([record]), "waf").table.to_pylist()
    assert json.loads(row["extra_fields"]) == {
        "brandNewField": [1, 2],
        "httpRequest.tlsVersion": "TLSv1.3",
        "ruleGroupList[1].terminatingRule.newDetail": {"x": 1},
    }


def test_malformed_records_are_rejected_with_the_path_of_the_bad_field() -> None:
    bad = [
        _line(BLOCKED)[:150],  # truncated
        _changed(["httpRequest", "headers", 2, "value"], 42),
        _changed(["ruleGroupList", 1, "nonTerminatingMatchingRules"], {"ruleId": "x"}),
        _changed(["formatVersion"], "1"),
        _changed(["responseCodeSent"], True),
        _changed(["timestamp"], "2019-12-13T23:40:12Z"),
        _changed(["labels", 0], "value"),
        _changed(["formatVersion"], 2**40),
        [BLOCKED],
        _line(BLOCKED).replace(b"curl/7.61.1", b"curl/\xff7.61.1"),
    ]
    result = parse_bytes(_lines([COUNTED, *bad, b"", BLOCKED]), "waf")
    reasons = {r.line_number: r.reason for r in result.rejects}
    assert reasons[2].startswith("record is not valid JSON: ")
    assert {n: reasons[n] for n in range(3, 12)} == {
        3: "field httpRequest.headers[2].value: expected a string, got a number",
        4: "field ruleGroupList[1].nonTerminatingMatchingRules: expected an array, got an object",
        5: "field formatVersion: expected an integer, got a string",
        6: "field responseCodeSent: expected an integer, got a boolean",
        7: "field timestamp: expected an integer (epoch milliseconds), got a string",
        8: "field labels[0]: expected an object, got a string",
        9: "field formatVersion: integer out of range: 1099511627776",
        10: "record is an array, not a JSON object",
        11: "invalid UTF-8",
    }
    assert result.counts.rows_out == 2
    assert dict(result.counts.skip_reasons) == {"blank line": 1}
    assert result.counts.balanced


def test_the_lake_schema_has_glue_types_for_its_structs_and_lists() -> None:
    schema = lake_schema("waf")
    assert glue_type(schema.field("labels").type) == "array<struct<name:string>>"
    assert glue_type(schema.field("httpRequest").type).startswith(
        "struct<clientip:string,country:string,headers:array<struct<name:string,value:string>>,uri:string,"
    )


@pytest.mark.parametrize(
    "key",
    [
        "AWSLogs/123456789012/WAFLogs/us-east-1/my-web-acl/2026/11/27/13/05/"
        "123456789012_waflogs_us-east-1_my-web-acl_20261127T1305Z_0a1b2c3d.log.gz",
        "AWSLogs/123456789012/WAFLogs/cloudfront/cf-acl/2026/11/27/13/05/"
        "123456789012_waflogs_cloudfront_cf-acl_20261127T1305Z_0a1b2c3d.log.gz",
        "waf/2026/11/27/13/aws-waf-logs-shop-1-2026-11-27-13-05-01-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0.gz",
    ],
)
def test_waf_keys_are_detected_directly_delivered_or_through_firehose(key: str) -> None:
    assert detect_format(key).format == "waf"


def _mutate(line: bytes, cut: int, junk: bytes) -> bytes:
    return line[: cut % (len(line) + 1)] + junk


GOOD_LINES = [_line(r) for r in GOOD]


@settings(max_examples=40, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.sampled_from(GOOD_LINES),
            st.builds(_mutate, st.sampled_from(GOOD_LINES), st.integers(0, 3000), st.binary(max_size=8)),
            st.binary(max_size=30),
            st.just(b""),
        ),
        max_size=30,
    ),
    gz=st.booleans(),
)
def test_conservation_every_line_is_a_row_a_reject_or_a_skip(lines: list[bytes], gz: bool) -> None:
    data = b"".join(line.replace(b"\n", b" ") + b"\n" for line in lines)
    assume(gz or not data.startswith(b"\x1f\x8b"))  # the gzip magic number: read as (corrupt) gzip, by design
    result = parse_bytes(gzip.compress(data) if gz else data, "waf")
    assert result.counts.lines_in == len(lines)
    assert result.counts.balanced
    assert result.table.num_rows == result.counts.rows_out
    assert result.counts.rows_out >= sum(line in GOOD_LINES for line in lines)
    assert all(r.reason for r in result.rejects)
