"""s3-bucket-secure-transport: a bucket policy must deny every S3 action, for everyone, on the bucket and its
objects, when aws:SecureTransport is false. What would not deny every plain-HTTP request fails."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.resource_audit.checks import BY_ID
from functions.resource_audit.checks.base import CheckEnv, Inventory, SourceError
from functions.resource_audit.models import ResourceAuditInput
from shared.errors import InputError
from shared.inputs import parse_input

NOW = datetime(2025, 6, 30, tzinfo=UTC)
CHECK = "s3-bucket-secure-transport"
BOTH = ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]


def _deny(**overrides: Any) -> dict[str, Any]:
    statement = {
        "Sid": "TlsOnly",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": BOTH,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    return {k: v for k, v in (statement | overrides).items() if v is not None}


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _status(policy: object) -> tuple[str, str]:
    bucket = {"Name": "b", "Region": "eu-west-1", "policy": policy}
    inv = Inventory(account="123456789012", region="global", data={"buckets": [bucket]})
    [outcome] = BY_ID[CHECK].run(inv, CheckEnv(ResourceAuditInput(), NOW))
    return outcome.status, outcome.evidence


@pytest.mark.parametrize(
    ("policy", "status"),
    [
        (_policy(_deny()), "PASS"),
        (json.dumps({"Statement": _deny()}), "PASS"),  # one statement, not a list
        (_policy(_deny(Principal={"AWS": "*"}, Action=["s3:*"], Resource="arn:aws:s3:::b*")), "PASS"),
        (_policy(_deny(Condition={"Bool": {"aws:securetransport": False}})), "PASS"),
        (_policy(_deny(Condition={"BoolIfExists": {"aws:SecureTransport": ["false"]}})), "PASS"),
        (_policy(_deny(Action="*", Resource="*")), "PASS"),
        (None, "FAIL"),  # no policy at all
        (_policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}),
         "FAIL"),
        (_policy(_deny(Effect="Allow")), "FAIL"),
        (_policy(_deny(Resource="arn:aws:s3:::b/*")), "FAIL"),  # the bucket's own actions (listing) still allowed
        (_policy(_deny(Resource="arn:aws:s3:::other/*")), "FAIL"),
        (_policy(_deny(Action="s3:GetObject")), "FAIL"),  # uploads over HTTP still allowed
        (_policy(_deny(Principal={"AWS": "arn:aws:iam::123456789012:root"})), "FAIL"),
        (_policy(_deny(Condition={"Bool": {"aws:SecureTransport": "true"}})), "FAIL"),
        (_policy(_deny(Condition={"NumericLessThan": {"s3:TlsVersion": "1.2"}})), "FAIL"),  # HTTP has no TLS version
        (_policy(_deny(Condition={"Bool": {"aws:SecureTransport": "false"},
                                  "StringNotEquals": {"aws:SourceVpce": "vpce-1"}})), "FAIL"),  # narrower deny
        (_policy(_deny(Condition=None)), "FAIL"),  # denies everything: not what this check is about
        (_policy(_deny(NotResource="arn:aws:s3:::b/public/*", Resource=None)), "FAIL"),
    ],
)  # fmt: skip
def test_the_policy_must_deny_every_request_without_tls(policy: object, status: str) -> None:
    assert _status(policy)[0] == status


def test_unreadable_policies_are_error_and_a_missing_policy_says_so() -> None:
    assert _status("{not json")[0] == "ERROR"
    assert _status(json.dumps({"Statement": "deny"}))[0] == "ERROR"
    assert _status(None) == ("FAIL", "no bucket policy: requests over plain HTTP are allowed")


def test_a_read_that_failed_is_error() -> None:
    assert _status(SourceError("AccessDenied", ""))[0] == "ERROR"


def test_the_retired_encryption_check_is_ignored_where_it_can_be_and_refused_where_it_cannot() -> None:
    waiver = {"check": "s3-bucket-encryption", "resource": "*", "reason": "old", "expires": "2099-01-01"}
    params = parse_input(
        {"skip_checks": ["s3-bucket-encryption"], "suppressions": [waiver]}, ResourceAuditInput, env={}
    )
    assert params.skip_checks == ["s3-bucket-encryption"]
    with pytest.raises(InputError, match=r"s3-bucket-encryption.*retired"):
        parse_input({"checks": ["s3-bucket-encryption"]}, ResourceAuditInput, env={})
