"""Input validation, and the reading of Lambda's answers: timestamps, listing entries, layer version policies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from functions.lambda_housekeeping.inventory import parse_time, share_of, version_view
from functions.lambda_housekeeping.models import LambdaHousekeepingInput, function_name_of, tags_match
from shared.errors import InputError
from shared.inputs import parse_input


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T12:00:00.123+0000", datetime(2024, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)),
        ("2024-03-01T12:00:00.000+0200", datetime(2024, 3, 1, 10, 0, tzinfo=UTC)),
        ("2024-03-01T12:00:00.701369000Z", datetime(2024, 3, 1, 12, 0, 0, 701369, tzinfo=UTC)),
        ("2024-03-01T12:00:00-05:30", datetime(2024, 3, 1, 17, 30, tzinfo=UTC)),
        ("yesterday", None),
        ("2024-03-01 12:00:00", None),
        (None, None),
        (1700000000, None),
    ],
)
def test_lambda_timestamps_are_read_or_refused_never_guessed(text: object, expected: datetime | None) -> None:
    assert parse_time(text) == expected


def test_parsed_times_keep_their_offset() -> None:
    at = parse_time("2024-03-01T12:00:00.000+0200")
    assert at is not None
    assert at.utcoffset() == timedelta(hours=2)
    assert at.tzinfo == timezone(timedelta(hours=2))


def test_listing_entries_become_versions_with_qualified_arns() -> None:
    base = "arn:aws:lambda:eu-west-1:123456789012:function:api"
    latest = version_view({"FunctionName": "api", "FunctionArn": f"{base}:$LATEST", "Version": "$LATEST"})
    v7 = version_view(
        {
            "FunctionName": "api",
            "FunctionArn": f"{base}:7",
            "Version": "7",
            "CodeSize": 1234,
            "LastModified": "2024-03-01T12:00:00.000+0000",
            "Layers": [{"Arn": "arn:aws:lambda:eu-west-1:123456789012:layer:deps:2", "CodeSize": 10}],
        }
    )
    unqualified = version_view({"FunctionName": "api", "FunctionArn": base, "Version": "$LATEST"})
    assert (latest.arn, latest.number) == (f"{base}:$LATEST", None)
    assert unqualified.arn == f"{base}:$LATEST"
    assert (v7.arn, v7.number, v7.code_size, v7.layers) == (
        f"{base}:7",
        7,
        1234,
        ("arn:aws:lambda:eu-west-1:123456789012:layer:deps:2",),
    )


def policy(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_layer_version_sharing_from_its_policy() -> None:
    me = "123456789012"
    allow = {"Effect": "Allow", "Action": "lambda:GetLayerVersion"}
    assert share_of(policy(allow | {"Principal": "*"}), me).principals == ("*",)
    assert share_of(policy(allow | {"Principal": "210987654321"}), me).principals == ("210987654321",)
    assert share_of(policy(allow | {"Principal": {"AWS": [me, f"arn:aws:iam::{me}:root"]}}), me).principals == ()
    org = allow | {"Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}}
    assert share_of(policy(org), me).principals == ("organization o-abc123",)
    assert share_of(policy({"Effect": "Deny", "Principal": "*"}), me).principals == ()
    single = json.dumps({"Statement": allow | {"Principal": "*"}})
    assert share_of(single, me).principals == ("*",)


@pytest.mark.parametrize(
    "text",
    ["not json", json.dumps([]), json.dumps({"Statement": "x"}), policy({"Effect": "Allow", "Principal": {"AWS": 5}})],
)
def test_an_unreadable_layer_version_policy_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"policy|principal"):
        share_of(text, "123456789012")


def test_function_names_and_qualifiers_from_arns() -> None:
    assert function_name_of("arn:aws:lambda:eu-west-1:1:function:api") == ("api", None)
    assert function_name_of("arn:aws:lambda:eu-west-1:1:function:api:live") == ("api", "live")
    assert function_name_of("api:3") == ("api", "3")


def test_tags_match_every_key_with_an_accepted_value() -> None:
    assert tags_match({"team": "a", "env": "prod"}, {"team": ["a", "b"]})
    assert tags_match({"team": "z"}, {"team": ["*"]})
    assert not tags_match({"env": "prod"}, {"team": ["*"]})
    assert not tags_match({"team": "c"}, {"team": ["a"]})
    assert tags_match({}, {})


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"versions": {"keep_last": 0}}, "versions.keep_last"),
        ({"layers": {"keep_last": -1}}, "layers.keep_last"),
        ({"functions": {"names": ["api/*"]}}, "functions.names"),
        ({"functions": {"names": []}}, "functions.names"),
        ({"functions": {"edge": ["[ab]*"]}}, "functions.edge"),
        ({"functions": {"tags": {"team": []}}}, "functions.tags"),
        ({"functions": {"name": ["api"]}}, "functions.name"),
        ({"versions": {"max_age_days": 0}}, "versions.max_age_days"),
        ({"layers": {"names": ["a b"]}}, "layers.names"),
        ({"keep_last": 3}, "keep_last"),
    ],
)
def test_bad_input_names_the_field(payload: dict[str, object], field: str) -> None:
    with pytest.raises(InputError, match=field.replace(".", r"\.")):
        parse_input(payload, LambdaHousekeepingInput, env={})


def test_defaults_keep_three_of_everything_and_spare_shared_layers() -> None:
    params = parse_input({}, LambdaHousekeepingInput, env={})
    assert params.versions.keep_last == 3
    assert params.versions.max_age_days is None
    assert params.functions.names == ["*"]
    assert params.functions.edge == []
    assert params.layers.enabled
    assert params.layers.keep_last == 3
    assert not params.layers.include_shared
