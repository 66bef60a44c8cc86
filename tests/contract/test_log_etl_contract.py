"""The log ETL's wiring: layers, the S3 -> SQS -> Lambda path with its DLQ, and no write path back to the source."""

from __future__ import annotations

from typing import Any

import pytest

from functions.log_etl.models import LogEtlInput
from shared.inputs import parse_input

pytestmark = pytest.mark.contract


def _res(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    props: dict[str, Any] = template["Resources"][logical_id]["Properties"]
    return props


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    role = _res(template, "LogEtlRole")
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_log_etl_runs_python312_arm64_with_the_pandas_and_powertools_layers(template: dict[str, Any]) -> None:
    props = _res(template, "LogEtlLambdaFunction")
    assert (props["Runtime"], props["Architectures"]) == ("python3.12", ["arm64"])
    layers = [str(layer) for layer in props["Layers"]]
    assert any(":336392948345:layer:AWSSDKPandas-Python312-Arm64:" in layer for layer in layers)
    assert any("AWSLambdaPowertoolsPythonV3-python312-arm64" in layer for layer in layers)
    assert props["EphemeralStorage"]["Size"] >= 1024


def test_log_etl_has_two_vcpus_for_its_threads_and_memory_headroom(template: dict[str, Any]) -> None:
    # Lambda gives one vCPU per 1,769 MB; reading, parsing and encoding run on three threads, and the pipeline
    # peaks at about 300 MiB (docs/benchmarks.md).
    props = _res(template, "LogEtlLambdaFunction")
    assert props["MemorySize"] >= 2 * 1769


def test_the_s3_trigger_reads_valid_settings_from_the_function_environment(template: dict[str, Any]) -> None:
    # The S3 trigger has no run input: its settings (the configured log formats among them) are the environment's.
    variables = _res(template, "LogEtlLambdaFunction")["Environment"]["Variables"]
    assert variables["DEVOPS_TASKS_CUSTOM_FORMATS"] == "[]"
    assert variables["DEVOPS_TASKS_SOURCE_FORMATS"] == "[]"
    plain = {k: v for k, v in variables.items() if k.startswith("DEVOPS_TASKS_") and isinstance(v, str)}
    params = parse_input({}, LogEtlInput, env=plain)
    assert params.custom_formats == []
    assert params.source_formats == []


def test_s3_notifications_reach_the_function_through_a_queue_with_a_dead_letter_queue(
    template: dict[str, Any],
) -> None:
    source = _res(template, "LogEtlSourceBucket")
    (notification,) = source["NotificationConfiguration"]["QueueConfigurations"]
    assert notification["Event"] == "s3:ObjectCreated:*"
    assert notification["Queue"] == {"Fn::GetAtt": ["LogEtlQueue", "Arn"]}
    queue = _res(template, "LogEtlQueue")
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["LogEtlDeadLetterQueue", "Arn"]}
    function = _res(template, "LogEtlLambdaFunction")
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    mappings = [
        r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping"
    ]
    (mapping,) = [m for m in mappings if m["EventSourceArn"] == {"Fn::GetAtt": ["LogEtlQueue", "Arn"]}]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_function_cannot_write_into_the_bucket_that_triggers_it(template: dict[str, Any]) -> None:
    writes = [s for s in _statements(template) if "s3:PutObject" in _as_list(s["Action"])]
    resources = [str(r) for s in writes for r in _as_list(s["Resource"])]
    assert resources
    assert not [r for r in resources if "LogEtlSourceBucket" in r]
    lake = _res(template, "LogEtlLakeBucket")
    assert "NotificationConfiguration" not in lake


def test_the_dead_letter_queue_and_errors_alarm_go_to_the_alerts_topic(template: dict[str, Any]) -> None:
    alarm = _res(template, "LogEtlDeadLettersAlarm")
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["LogEtlDeadLetterQueue", "QueueName"]}
    assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}]


def test_manifests_expire_with_the_source_logs_so_the_backfill_listing_stays_bounded(template: dict[str, Any]) -> None:
    # The daily backfill lists every manifest of the source bucket; without an expiry that listing grows forever.
    # A manifest is written after its source object was created, so the same retention never expires a manifest
    # while its object still exists.
    source_rules = _res(template, "LogEtlSourceBucket")["LifecycleConfiguration"]["Rules"]
    (source_expiry,) = [r["ExpirationInDays"] for r in source_rules if "ExpirationInDays" in r]
    lake_rules = _res(template, "LogEtlLakeBucket")["LifecycleConfiguration"]["Rules"]
    manifest_rules = [r for r in lake_rules if r.get("Prefix") == "manifests/" and r["Status"] == "Enabled"]
    assert [r["ExpirationInDays"] for r in manifest_rules] == [source_expiry]
