"""Every task's handler refuses bad input before any AWS call: the count of API calls made is zero."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from botocore.client import BaseClient

from shared.errors import InputError
from tests.helpers import FakeContext

HANDLERS = ["snapshot_rotation", "resource_audit", "artefact_mover", "log_etl", "lambda_housekeeping"]
"""The tasks whose input carries regions (the upload logger takes none)."""


class CountAllCalls:
    """Counts every botocore API call in the process, whichever client makes it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        original = BaseClient._make_api_call

        def counting(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            self.calls.append(operation)
            return original(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", counting)


def handler_of(task: str) -> Any:
    return importlib.import_module(f"functions.{task}.handler").handler


@pytest.mark.parametrize("task", HANDLERS)
@pytest.mark.parametrize("region", ["xx-fake-9", "eu-fake-1", "us-east-99"])
def test_a_region_botocore_does_not_know_is_refused_with_zero_aws_calls(
    aws: None, monkeypatch: pytest.MonkeyPatch, task: str, region: str
) -> None:
    counter = CountAllCalls(monkeypatch)
    with pytest.raises(InputError, match=rf"regions\.0.*{region}.*not a region"):
        handler_of(task)({"regions": [region], "dry_run": True}, FakeContext())
    assert counter.calls == []


def test_a_dr_region_botocore_does_not_know_is_refused_with_zero_aws_calls(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = CountAllCalls(monkeypatch)
    with pytest.raises(InputError, match=r"policy\.dr\.region.*xx-fake-9"):
        handler_of("snapshot_rotation")({"policy": {"dr": {"region": "xx-fake-9"}}}, FakeContext())
    assert counter.calls == []


@pytest.mark.parametrize("field", ["source_role_arn", "destination_role_arn"])
@pytest.mark.parametrize(
    "arn", ["arn:aws:iam::*:role/devops-tasks-member", "arn:aws:iam::123456789012:role/x\n", "member", "arn:aws:s3:::b"]
)
def test_the_artefact_mover_refuses_a_role_arn_sts_would_be_asked_to_guess_with_zero_aws_calls(
    aws: None, monkeypatch: pytest.MonkeyPatch, field: str, arn: str
) -> None:
    counter = CountAllCalls(monkeypatch)
    event = {"operation": "promote", "bucket": "builds", "project": "p", "build": "1", "version": "1", field: arn}
    with pytest.raises(InputError, match=field):
        handler_of("artefact_mover")(event, FakeContext())
    assert counter.calls == []
