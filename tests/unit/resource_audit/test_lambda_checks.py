"""The Lambda checks as pure functions over hand-made inventories: policies, runtimes, URLs, destinations,
concurrency, layer sharing and code storage, including what AWS may return that moto does not."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.resource_audit.checks import BY_ID
from functions.resource_audit.checks.base import CheckEnv, Inventory, SourceError
from functions.resource_audit.checks.lambda_ import DEPRECATION, RUNTIMES_AS_OF
from functions.resource_audit.models import ResourceAuditInput

NOW = datetime(2026, 12, 1, tzinfo=UTC)
FN = {
    "FunctionName": "api",
    "FunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:api",
    "Runtime": "python3.12",
}


def run(check_id: str, data: dict[str, Any], now: datetime = NOW) -> list[tuple[str, str, str]]:
    inv = Inventory(account="123456789012", region="eu-west-1", data=data)
    return [(o.resource, o.status, o.evidence) for o in BY_ID[check_id].run(inv, CheckEnv(ResourceAuditInput(), now))]


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ANYONE = {"Sid": "open", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}


@pytest.mark.parametrize(
    ("text", "status"),
    [
        (None, "PASS"),
        (policy(ANYONE), "FAIL"),
        (policy(ANYONE | {"Principal": {"AWS": "*"}}), "FAIL"),
        (policy(ANYONE | {"Principal": {"AWS": ["*"]}}), "FAIL"),
        (policy(ANYONE | {"Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::uploads"}}}), "PASS"),
        (policy(ANYONE | {"Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}}), "PASS"),
        # a public URL's permission: open to anyone, the condition names no source
        (policy(ANYONE | {"Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}}), "FAIL"),
        (policy(ANYONE | {"Effect": "Deny"}), "PASS"),
        (policy(ANYONE | {"Principal": {"Service": "events.amazonaws.com"}}), "PASS"),
        (json.dumps({"Statement": ANYONE}), "FAIL"),
        ("not json", "ERROR"),
        (policy(ANYONE | {"Condition": ["x"]}), "ERROR"),
        (SourceError("AccessDeniedException", "no"), "ERROR"),
    ],
)
def test_policy_public(text: Any, status: str) -> None:
    [(_, got, evidence)] = run("lambda-policy-public", {"lambda_functions": [FN], "lambda_policies": {"api": text}})
    assert got == status, evidence


def test_a_function_missing_from_a_per_function_read_is_error_not_pass() -> None:
    [(_, status, evidence)] = run("lambda-policy-public", {"lambda_functions": [FN], "lambda_policies": {}})
    assert status == "ERROR"
    assert "no entry" in evidence


@pytest.mark.parametrize(
    ("fn", "status", "said"),
    [
        (FN, "PASS", "python3.12 supported until 2028-10-31"),
        (FN | {"Runtime": "python3.9"}, "FAIL", "python3.9 deprecated on 2025-12-15"),
        (FN | {"Runtime": "dotnet8"}, "FAIL", "dotnet8 deprecated on 2026-11-10"),
        (FN | {"Runtime": "python3.15"}, "ERROR", "not in the table of 2026-02"),
        (FN | {"Runtime": None}, "ERROR", "runtime not reported"),
        ({"FunctionName": "img", "PackageType": "Image"}, "PASS", "container image"),
    ],
)
def test_runtime_deprecated_against_the_dated_table(fn: dict[str, Any], status: str, said: str) -> None:
    [(_, got, evidence)] = run("lambda-runtime-deprecated", {"lambda_functions": [fn]})
    assert got == status
    assert said in evidence


def test_a_runtime_is_deprecated_from_its_date_on() -> None:
    fn = FN | {"Runtime": "nodejs22.x"}
    assert (
        run("lambda-runtime-deprecated", {"lambda_functions": [fn]}, datetime(2027, 4, 29, tzinfo=UTC))[0][1] == "PASS"
    )
    assert (
        run("lambda-runtime-deprecated", {"lambda_functions": [fn]}, datetime(2027, 4, 30, tzinfo=UTC))[0][1] == "FAIL"
    )


def test_the_runtime_table_is_dated_and_covers_the_current_runtimes() -> None:
    assert NOW.date() >= RUNTIMES_AS_OF
    for current in ("python3.14", "python3.13", "nodejs24.x", "nodejs22.x", "java25", "java21", "dotnet10",
                    "ruby3.4", "provided.al2023"):  # fmt: skip
        assert DEPRECATION[current] > RUNTIMES_AS_OF, current


@pytest.mark.parametrize(
    ("urls", "status"),
    [
        ([], "PASS"),
        ([{"FunctionArn": "arn:...:api", "AuthType": "AWS_IAM"}], "PASS"),
        (
            [
                {"FunctionArn": "arn:...:api:live", "AuthType": "NONE"},
                {"FunctionArn": "arn:...:api", "AuthType": "AWS_IAM"},
            ],
            "FAIL",
        ),
        ([{"FunctionArn": "arn:...:api"}], "ERROR"),
        (SourceError("AccessDeniedException", ""), "ERROR"),
    ],
)
def test_url_auth_none(urls: Any, status: str) -> None:
    assert run("lambda-url-auth-none", {"lambda_functions": [FN], "lambda_urls": {"api": urls}})[0][1] == status


@pytest.mark.parametrize(
    ("fn", "configs", "status"),
    [
        (FN | {"DeadLetterConfig": {"TargetArn": "arn:aws:sqs:eu-west-1:1:dlq"}}, SourceError("x", ""), "PASS"),
        (FN, [{"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sns:eu-west-1:1:t"}}}], "PASS"),
        (FN, [{"DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:sns:eu-west-1:1:t"}}}], "FAIL"),
        (FN, [], "FAIL"),
        (FN, SourceError("AccessDeniedException", ""), "ERROR"),
    ],
)
def test_async_failures_need_a_dead_letter_queue_or_an_on_failure_destination(
    fn: dict[str, Any], configs: Any, status: str
) -> None:
    data = {"lambda_functions": [fn], "lambda_invoke_configs": {"api": configs}}
    assert run("lambda-async-no-failure-destination", data)[0][1] == status


@pytest.mark.parametrize(
    ("reserved", "status"), [(0, "FAIL"), (None, "PASS"), (5, "PASS"), (SourceError("x", ""), "ERROR")]
)
def test_reserved_concurrency_zero(reserved: Any, status: str) -> None:
    data = {"lambda_functions": [FN], "lambda_concurrency": {"api": reserved}}
    assert run("lambda-reserved-concurrency-zero", data)[0][1] == status


ARN = "arn:aws:lambda:eu-west-1:123456789012:layer:lib:1"
SHARE = {"Sid": "s", "Effect": "Allow", "Action": "lambda:GetLayerVersion"}


@pytest.mark.parametrize(
    ("text", "status"),
    [
        (None, "PASS"),
        (policy(SHARE | {"Principal": "*"}), "FAIL"),
        (policy(SHARE | {"Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}}), "PASS"),
        (policy(SHARE | {"Principal": "210987654321"}), "PASS"),
        ("{", "ERROR"),
        (SourceError("AccessDeniedException", ""), "ERROR"),
    ],
)
def test_layer_version_public(text: Any, status: str) -> None:
    layers = [{"LayerName": "lib", "LayerVersionArn": ARN, "Version": 1, "policy": text}]
    assert run("lambda-layer-version-public", {"lambda_layers": layers})[0][:2] == ("lib:1", status)


def test_a_layer_whose_versions_could_not_be_listed_is_error() -> None:
    layers = [{"LayerName": "lib", "LayerArn": ARN[:-2], "error": SourceError("AccessDeniedException", "")}]
    assert run("lambda-layer-version-public", {"lambda_layers": layers})[0][:2] == ("lib", "ERROR")


GIB = 1024**3


@pytest.mark.parametrize(
    ("settings", "status"),
    [
        ({"AccountUsage": {"TotalCodeSize": 60 * GIB}, "AccountLimit": {"TotalCodeSize": 75 * GIB}}, "PASS"),  # 80%
        ({"AccountUsage": {"TotalCodeSize": 61 * GIB}, "AccountLimit": {"TotalCodeSize": 75 * GIB}}, "FAIL"),
        ({"AccountUsage": {}, "AccountLimit": {"TotalCodeSize": 75 * GIB}}, "ERROR"),
        ({"AccountUsage": {"TotalCodeSize": 1}, "AccountLimit": {"TotalCodeSize": 0}}, "ERROR"),
        ({}, "ERROR"),
    ],
)
def test_code_storage_above_80_percent_of_the_quota(settings: dict[str, Any], status: str) -> None:
    [(resource, got, _)] = run("lambda-code-storage-high", {"lambda_account": settings})
    assert (resource, got) == ("123456789012/eu-west-1", status)
