"""Choosing the format of a source whose keys do not name one: ``source_formats`` per key prefix."""

from __future__ import annotations

import pytest

from functions.log_etl.detect import detect_format
from functions.log_etl.models import LogEtlInput, SourceObject
from functions.log_etl.plan import Policy, decide
from functions.log_etl.task import policy_of
from shared.errors import InputError
from shared.inputs import parse_input

FIREHOSE_KEY = "firehose/app-logs/2026/11/27/13/app-logs-1-2026-11-27-13-05-01-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0.gz"


def test_the_longest_configured_prefix_names_the_format_and_the_override_still_wins() -> None:
    by_prefix = [("firehose/", "cloudtrail"), ("firehose/app-logs/", "cloudwatch_logs")]
    assert detect_format(FIREHOSE_KEY).format is None  # a Firehose key names no format
    assert detect_format(FIREHOSE_KEY, by_prefix=by_prefix).format == "cloudwatch_logs"
    assert detect_format("firehose/other/x.gz", by_prefix=by_prefix).format == "cloudtrail"
    assert detect_format(FIREHOSE_KEY, "alb", by_prefix).format == "alb"
    assert detect_format("firehose/AWSLogs/1/ELBAccessLogTestFile", by_prefix=by_prefix).skip_reason is not None


def test_the_planner_says_the_format_came_from_the_prefix() -> None:
    params = parse_input(
        {"source_formats": [{"prefix": "firehose/app-logs/", "format": "cloudwatch_logs"}]}, LogEtlInput, env={}
    )
    decision = decide(SourceObject("b", FIREHOSE_KEY, "e", size=10), policy_of(params), loaded=False)
    assert (decision.action, decision.format) == ("load", "cloudwatch_logs")
    assert decision.reason == "format configured for the key prefix (source_formats)"
    other = decide(SourceObject("b", "elsewhere/x.gz", "e", size=10), Policy(), loaded=False)
    assert other.action == "skip"


def test_source_formats_are_read_from_the_environment_like_the_s3_trigger_does() -> None:
    env = {"DEVOPS_TASKS_SOURCE_FORMATS": '[{"prefix": "firehose/", "format": "cloudwatch_logs"}]'}
    params = parse_input({}, LogEtlInput, env=env)
    assert [(s.prefix, s.format) for s in params.source_formats] == [("firehose/", "cloudwatch_logs")]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"prefix": "a/", "format": "nope"}], "format"),
        ([{"prefix": "", "format": "cloudtrail"}], "prefix"),
        ([{"prefix": "a/", "format": "cloudtrail"}, {"prefix": "a/", "format": "alb"}], "more than once: a/"),
        ([{"prefix": "a/", "format": "cloudtrail", "log_format": "x"}], "log_format"),
    ],
)
def test_bad_source_formats_are_refused_before_any_call(entries: list[dict[str, str]], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_input({"source_formats": entries}, LogEtlInput, env={})
