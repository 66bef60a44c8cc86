"""CloudWatch Logs subscription payloads delivered to S3 by Firehose: every layout, rejects, skips, conservation."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.log_etl.cloudwatch import CONTROL_MESSAGE, NO_EVENTS
from functions.log_etl.stream import LogParseError
from tests.unit.log_etl.conftest import FIXTURES, parse_bytes

CWL = FIXTURES / "cloudwatch_subscription"
# Real payloads captured from a Kinesis subscription (the same gzip(JSON) records Firehose receives)
KINESIS = json.loads((CWL / "powertools-python_kinesisStreamCloudWatchLogsEvent.json").read_text())
PAYLOADS = [gzip.decompress(base64.b64decode(r["kinesis"]["data"])) for r in KINESIS["Records"]]
EVENTS = [len(json.loads(p)["logEvents"]) for p in PAYLOADS]
WITH_POLICY = zlib.decompress(
    base64.b64decode(
        json.loads((CWL / "powertools-python_cloudWatchLogEventWithPolicyLevel.json").read_text())["awslogs"]["data"]
    )
)
CONTROL = json.dumps(
    {
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [
            {"id": "", "timestamp": 1668092400000, "message": "CWL CONTROL MESSAGE: Checking health of destination"}
        ],
    }
).encode()


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def members(payloads: list[bytes]) -> bytes:
    """Firehose's object without S3 compression: each record (a gzipped payload) after the other."""
    return b"".join(_gz(p) for p in payloads)


LAYOUTS = {
    "gzip members": members,
    "gzip members, gzipped again": lambda ps: _gz(members(ps)),
    "JSON concatenated": lambda ps: b"".join(ps),
    "JSON newline-delimited": lambda ps: b"".join(p + b"\n" for p in ps),
    "JSON concatenated, gzipped": lambda ps: _gz(b"".join(ps)),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_delivery_layout_gives_one_row_per_log_event(layout: str) -> None:
    result = parse_bytes(LAYOUTS[layout]([PAYLOADS[0], CONTROL, PAYLOADS[1]]), "cloudwatch_logs")
    assert result.rejects == []
    assert (result.counts.rows_out, result.counts.lines_in) == (sum(EVENTS), sum(EVENTS) + 1)
    assert dict(result.counts.skip_reasons) == {CONTROL_MESSAGE: 1}
    rows = result.table.to_pylist()
    first = json.loads(PAYLOADS[0])
    assert rows[0] == {
        "owner": "231436140809",
        "log_group": "/aws/lambda/pt-1488-DummyLogDataFunction-gnWXPvL6jJyG",
        "log_stream": first["logStream"],
        "subscription_filters": ["pt-1488-CloudWatchLogsToKinesisSubscriptionFilter-5gkxsK0HpHDI"],
        "policy_level": None,
        "id": first["logEvents"][0]["id"],
        "timestamp": datetime(2022, 11, 10, 15, 10, 27, 15000, tzinfo=UTC),
        "message": first["logEvents"][0]["message"],
        "extra_fields": None,
        "event_time": datetime(2022, 11, 10, 15, 10, 27, 15000, tzinfo=UTC),
    }
    assert [r["message"] for r in rows] == [e["message"] for p in PAYLOADS for e in json.loads(p)["logEvents"]]


def test_account_level_policy_payloads_keep_their_policy_level() -> None:
    result = parse_bytes(members([WITH_POLICY]), "cloudwatch_logs")
    assert [(r["log_group"], r["policy_level"], r["message"]) for r in result.table.to_pylist()] == [
        ("testLogGroup", "ACCOUNT_LEVEL_POLICY", "[ERROR] First test message"),
        ("testLogGroup", "ACCOUNT_LEVEL_POLICY", "[ERROR] Second test message"),
    ]


def _payload(**changes: object) -> bytes:
    payload = json.loads(PAYLOADS[1]) | changes
    return json.dumps(payload).encode()


@pytest.mark.parametrize("layout", ["gzip members", "JSON concatenated"])
def test_malformed_payloads_and_events_are_rejected_alone_with_their_reason(layout: str) -> None:
    good = json.loads(PAYLOADS[1])
    events = good["logEvents"]
    bad_event = [events[0], {**events[1], "timestamp": "yesterday"}, {**events[2], "region": "eu-west-1"}]
    payloads = [
        PAYLOADS[0][: len(PAYLOADS[0]) // 2],  # truncated
        _payload(logGroup=42),  # wrong type
        _payload(logEvents=bad_event),  # one bad event among good ones, one event with a field AWS may add
        _payload(messageType="SOMETHING_ELSE"),
        b"[1, 2, 3]",  # JSON, but no payload
        _payload(logEvents=[]),
        _payload(logEvents=[{**events[0], "timestamp": -5}]),
        PAYLOADS[0],
    ]
    result = parse_bytes(LAYOUTS[layout](payloads), "cloudwatch_logs")
    reasons = [(r.line_number, r.reason) for r in result.rejects]
    assert reasons[0][0] == 1
    assert reasons[0][1].startswith("payload is not valid JSON: ")
    assert reasons[1:] == [
        (2, "field logGroup: expected a string, got a number"),
        (3, "log event 2: field timestamp: expected an integer (epoch milliseconds), got a string"),
        (4, "field messageType: 'SOMETHING_ELSE', not DATA_MESSAGE or CONTROL_MESSAGE"),
        (5, "payload is an array, not a JSON object"),
        (7, "log event 1: field timestamp: -5 is out of range"),
    ]
    assert result.rejects[0].raw == PAYLOADS[0][: len(PAYLOADS[0]) // 2]
    assert result.rejects[1].raw == payloads[1]
    assert json.loads(result.rejects[2].raw) == bad_event[1]
    assert dict(result.counts.skip_reasons) == {NO_EVENTS: 1}
    rows = result.table.to_pylist()
    assert len(rows) == 2 + EVENTS[0]  # the good events of payload 3, then all of the last payload
    assert json.loads(rows[1]["extra_fields"]) == {"logEvent.region": "eu-west-1"}
    assert result.counts.balanced


def test_a_payload_that_is_not_utf8_is_rejected_and_the_next_members_are_read() -> None:
    broken = PAYLOADS[1].replace(b"END RequestId", b"END \xff\xfeRequestId")
    result = parse_bytes(members([broken, PAYLOADS[0]]), "cloudwatch_logs")
    (reject,) = result.rejects
    assert (reject.line_number, reject.reason.startswith("payload is not UTF-8")) == (1, True)
    assert result.counts.rows_out == EVENTS[0]
    assert result.counts.balanced


def test_a_truncated_or_corrupt_gzip_object_is_unreadable() -> None:
    with pytest.raises(LogParseError, match="truncated"):
        parse_bytes(members(PAYLOADS)[:-10], "cloudwatch_logs")
    data = bytearray(members(PAYLOADS))
    data[30:40] = b"\x00" * 10
    with pytest.raises(LogParseError, match="corrupt gzip"):
        parse_bytes(bytes(data), "cloudwatch_logs")


def test_payloads_across_many_read_buffers_are_all_read() -> None:
    # ~5 MB of payloads, so the JSON reader refills in the middle of payloads, in both unzipped layouts
    big = [
        _payload(logEvents=[{"id": str(i), "timestamp": 1668092400000 + i, "message": "m" * (i % 5000)}] * 10)
        for i in range(100)
    ]
    for data in (members(big), b"".join(big)):
        result = parse_bytes(data, "cloudwatch_logs")
        assert (result.counts.rows_out, result.rejects) == (1000, [])


GOOD = [*PAYLOADS, WITH_POLICY]
PAYLOAD_KINDS = st.one_of(
    st.sampled_from([*GOOD, CONTROL]),
    st.builds(lambda p, cut: p[: cut % len(p)], st.sampled_from(GOOD), st.integers(1, 2000)),  # truncated
    st.text("abcxyz ,:", max_size=30).map(str.encode),  # junk text
    st.sampled_from([_payload(owner=None), _payload(logEvents={}), _payload(logEvents=[7]), b"null"]),
)


def _events(payload: bytes) -> int:
    try:
        value = json.loads(payload)
    except ValueError:
        return 0
    if payload in GOOD:
        return len(value["logEvents"])
    return 0


@settings(max_examples=40, deadline=None)
@given(payloads=st.lists(PAYLOAD_KINDS, max_size=12), layout=st.sampled_from(sorted(LAYOUTS)))
def test_conservation_every_payload_and_event_is_a_row_a_reject_or_a_skip(payloads: list[bytes], layout: str) -> None:
    result = parse_bytes(LAYOUTS[layout](payloads), "cloudwatch_logs")
    assert result.counts.balanced
    assert result.table.num_rows == result.counts.rows_out == sum(_events(p) for p in payloads)
    assert result.counts.lines_skipped == sum(p == CONTROL for p in payloads)
    assert all(r.reason for r in result.rejects)
    if layout.startswith("gzip members"):  # a member is a payload: each bad one is exactly one reject
        assert result.counts.lines_in == sum(max(_events(p), 1) for p in payloads if p.strip())
