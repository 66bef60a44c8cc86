"""Quoted fields (ALB, S3 server access): a line whose quoting is malformed is rejected with a reason, never misparsed.

A quoted field opens with a quote at the start of a field and closes with the next quote, which must be followed by
the delimiter or the end of the line; a quote anywhere else is malformed. The rule holds on the vectorised path
(whole blocks) and on the line-by-line path alike.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.log_etl.conftest import FIXTURES, parse_bytes

ALB_LINES = (FIXTURES / "alb/awsdocs-elb-alb-guide_2023-06_examples.joined.log").read_bytes().splitlines()
S3_LINES = [
    line.rstrip(b" ")
    for line in (FIXTURES / "s3_access/awsdocs-s3-userguide_2023-06_LogFormat_example.log").read_bytes().splitlines()
]
# The published http example: ... "Root=1-..." "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" ...
NO_SPACE_AFTER_QUOTE = ALB_LINES[0].replace(b'"-" "-" 0 ', b'"-" "-"0 ')


def _parse(lines: list[bytes], log_format: str = "alb"):
    return parse_bytes(b"\n".join(lines) + b"\n", log_format)


@pytest.mark.parametrize("copies", [0, 300], ids=["alone (line by line)", "in a block of good lines (vectorised)"])
def test_a_closing_quote_not_followed_by_a_space_rejects_the_line(copies: int) -> None:
    result = _parse([*ALB_LINES[:1] * copies, NO_SPACE_AFTER_QUOTE, *ALB_LINES[:1] * copies])

    assert result.counts.rows_out == 2 * copies
    (reject,) = result.rejects
    assert reject.line_number == copies + 1
    assert reject.raw == NO_SPACE_AFTER_QUOTE
    assert reject.reason == "field chosen_cert_arn: malformed quoting: closing quote not followed by a space"
    assert result.counts.balanced


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (
            ALB_LINES[0].replace(b'"curl/7.46.0"', b'"curl/7.46.0""x"'),
            "field user_agent: malformed quoting: closing quote not followed by a space",
        ),
        (
            ALB_LINES[0].replace(b" - - arn:", b' EC"DHE - arn:'),
            "field ssl_cipher: malformed quoting: quote inside an unquoted field",
        ),
        (
            ALB_LINES[0].replace(b'"curl/7.46.0"', b'"curl/7.46.0 "Mozilla" x"'),
            "field user_agent: malformed quoting: closing quote not followed by a space",
        ),
        (ALB_LINES[0].rsplit(b'"', 1)[0], "field classification_reason: malformed quoting: no closing quote"),
        (ALB_LINES[0] + b' "new', "field conn_trace_id: malformed quoting: no closing quote"),
        (S3_LINES[0].replace(b'"S3Console/0.4"', b'"S3Console/0.4"x'), None),
    ],
    ids=["quote after closing quote", "quote in bare field", "quote inside quoted", "unterminated", "extra", "s3"],
)
@pytest.mark.parametrize("copies", [0, 300], ids=["line by line", "vectorised"])
def test_every_kind_of_malformed_quoting_is_rejected_with_its_reason(line: bytes, reason: str | None, copies: int):
    log_format = "s3_access" if line.startswith(S3_LINES[0][:20]) else "alb"
    good = (S3_LINES if log_format == "s3_access" else ALB_LINES)[1:2]
    result = _parse([*good * copies, line, *good * copies], log_format)

    assert result.counts.rows_out == 2 * copies
    (reject,) = result.rejects
    assert (reject.line_number, reject.raw) == (copies + 1, line)
    assert reject.reason == (reason or "field user_agent: malformed quoting: closing quote not followed by a space")


def test_well_formed_quoting_that_looks_odd_still_parses() -> None:
    # Spaces inside quotes, an empty quoted value, the TCP listener's "- - - " request: all well formed.
    line = ALB_LINES[0].replace(b'"curl/7.46.0"', b'" curl 7 "').replace(b'"forward"', b'""')
    line = line.replace(b'"GET http://www.example.com:80/ HTTP/1.1"', b'"- - - "')
    for copies in (1, 300):
        result = _parse([line] * copies)
        assert not result.rejects
        row = result.table.to_pylist()[0]
        assert (row["user_agent"], row["actions_executed"], row["request"]) == (" curl 7 ", "", "- - - ")


def _corrupt(line: bytes, op: str, at: int, char: bytes) -> bytes:
    """One corruption of the quoting of ``line``: of its ``at``-th quote, or of the delimiter next to it."""
    quotes = [i for i, c in enumerate(line) if c == ord('"')]
    q = quotes[at % len(quotes)]
    opening = quotes[0::2][at % (len(quotes) // 2)]
    closing = quotes[1::2][at % (len(quotes) // 2)]
    if op == "insert quote":
        p = at % (len(line) + 1)
        return line[:p] + b'"' + line[p:]
    if op == "replace with quote":
        p = at % len(line)
        return line[:p] + b'"' + line[p + 1 :]
    if op == "delete quote":
        return line[:q] + line[q + 1 :]
    if op == "replace quote":
        return line[:q] + char + line[q + 1 :]
    if op == "delete the delimiter after a closing quote":
        return line[: closing + 1] + line[closing + 2 :]
    if op == "insert after a closing quote":
        return line[: closing + 1] + char + line[closing + 1 :]
    if op == "delete the delimiter before an opening quote":
        return line[: max(opening - 1, 0)] + line[opening:]
    return line[:opening] + char + line[opening:]  # insert before an opening quote


corruptions = st.tuples(
    st.sampled_from(
        [
            "insert quote",
            "replace with quote",
            "delete quote",
            "replace quote",
            "delete the delimiter after a closing quote",
            "insert after a closing quote",
            "delete the delimiter before an opening quote",
            "insert before an opening quote",
        ]
    ),
    st.integers(0, 2000),
    st.sampled_from([b"x", b"1", b"-", b":", b"/", b"[", b"=", b'"', b"\xc3\xa9"]),
)


def _rows(table) -> Counter[str]:
    return Counter(repr(sorted(row.items())) for row in table.to_pylist())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log_format=st.sampled_from(["alb", "s3_access"]),
    picks=st.lists(st.integers(0, 6), min_size=1, max_size=120),
    victim=st.integers(0, 10_000),
    corruption=corruptions,
)
def test_corrupted_quoting_never_loads_a_row_that_differs_from_the_original(
    log_format: str, picks: list[int], victim: int, corruption: tuple[str, int, bytes]
) -> None:
    base = ALB_LINES if log_format == "alb" else S3_LINES
    lines = [base[i % len(base)] for i in picks]
    index = victim % len(lines)
    corrupted = [*lines]
    corrupted[index] = _corrupt(lines[index], *corruption)
    original = _parse(lines, log_format)
    assert not original.rejects

    result = _parse(corrupted, log_format)

    assert result.counts.balanced
    assert result.counts.lines_in == len(lines)
    # Every loaded row is a row of the original lines: the corrupted line is rejected or reads as it did.
    assert not _rows(result.table) - _rows(original.table)
    if result.rejects:
        (reject,) = result.rejects
        assert reject.line_number == index + 1
        assert reject.raw == corrupted[index]
        assert result.counts.rows_out == len(lines) - 1
