"""The resource audit in serverless.yml: daily, read-only, its writes and reads confined to its reports, alarms."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import load_event

pytestmark = pytest.mark.contract

READ_PREFIXES = ("Describe", "Get", "List", "Generate")
ALLOWED_WRITES = {"s3:PutObject", "sns:Publish", "sts:AssumeRole", "logs:CreateLogStream", "logs:PutLogEvents",
                  "xray:PutTraceSegments", "xray:PutTelemetryRecords",
                  "kms:Decrypt",  # with GenerateDataKey, on the alerts topic's key only: publishing to it
                  "sqs:SendMessage",  # Lambda, to the failed-runs queue: a failed scheduled run; the unit queue
                  "sqs:ReceiveMessage", "sqs:DeleteMessage",  # the unit queue only: a fanned-out run's units
                  "securityhub:BatchImportFindings"}  # fmt: skip  # the optional export, into its own product only


def _function(template: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = template["Resources"]["ResourceAuditLambdaFunction"]["Properties"]
    return props


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    role = template["Resources"]["ResourceAuditRole"]["Properties"]
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]


def test_the_role_only_reads_besides_its_report_notification_and_logs(template: dict[str, Any]) -> None:
    for statement in _statements(template):
        acts = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        for action in acts:
            verb = action.split(":", 1)[1]
            assert verb.startswith(READ_PREFIXES) or action in ALLOWED_WRITES, action


QUEUES = ("FailedRunsQueue", "ResourceAuditUnitQueue")
"""Failed scheduled runs (sent by Lambda on the function's behalf), and the units of a fanned-out run."""

KMS_READS = {"kms:ListKeys", "kms:ListAliases", "kms:DescribeKey", "kms:GetKeyRotationStatus"}
"""What the KMS checks read of every key; any other KMS action uses a key, and only the alerts key may be used."""


def test_its_kms_and_sqs_actions_reach_the_alerts_key_and_its_two_queues_only(template: dict[str, Any]) -> None:
    for statement in _statements(template):
        acts = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        if any(a.startswith("kms:") and a not in KMS_READS for a in acts):
            assert statement["Resource"] == {"Fn::GetAtt": ["AlertsKey", "Arn"]}, statement
        if any(a in KMS_READS for a in acts):
            assert set(acts) == KMS_READS, statement  # the key reads alone, never with an action that uses a key
        if "sqs:SendMessage" in acts:
            assert statement["Resource"] in ({"Fn::GetAtt": [q, "Arn"]} for q in QUEUES), statement
        if any(a.startswith("sqs:") for a in acts) and acts != ["sqs:SendMessage"]:
            assert statement["Resource"] == {"Fn::GetAtt": ["ResourceAuditUnitQueue", "Arn"]}, statement


def test_report_objects_are_read_and_written_under_its_own_prefix_only(template: dict[str, Any]) -> None:
    for statement in _statements(template):
        if statement["Action"] in ("s3:GetObject", "s3:PutObject"):
            assert statement["Resource"] == {"Fn::Sub": "${ReportsBucket.Arn}/reports/resource-audit/*"}


def test_it_may_list_only_its_reports_bucket(template: dict[str, Any]) -> None:
    """s3:ListBucket makes a missing latest report NoSuchKey (first run) rather than AccessDenied."""
    listing = [s for s in _statements(template) if s["Action"] == "s3:ListBucket"]
    assert [s["Resource"] for s in listing] == [{"Fn::Sub": "${ReportsBucket.Arn}"}]


def test_security_hub_imports_go_to_the_accounts_own_default_product_only(template: dict[str, Any]) -> None:
    """BatchImportFindings under the default product takes only the caller's own findings: the grant names that
    product (any region: the export's region is an input) and nothing else may import."""
    [statement] = [s for s in _statements(template) if "securityhub:BatchImportFindings" in str(s["Action"])]
    assert statement["Action"] == "securityhub:BatchImportFindings"
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:securityhub:*:${AWS::AccountId}:product/${AWS::AccountId}/default"
    }
    others = [
        a for s in _statements(template) for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert [a for a in others if a.startswith("securityhub:")] == ["securityhub:BatchImportFindings"]


def test_trail_status_is_readable_for_organization_trails(template: dict[str, Any]) -> None:
    """A member account sees its organization's trail under the management account's ARN: GetTrailStatus on it
    must be allowed, or the trail check ends in ERROR in every member account."""
    [statement] = [s for s in _statements(template) if s["Action"] == "cloudtrail:GetTrailStatus"]
    assert statement["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:cloudtrail:*:*:trail/*"}


def test_it_runs_daily_over_every_enabled_region_and_always_notifies(template: dict[str, Any]) -> None:
    rules = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Scheduler::Schedule" and r["Properties"]["Name"].startswith("resource-audit-")
    ]
    assert len(rules) == 1
    assert rules[0]["ScheduleExpression"].startswith("cron(")
    import json

    payload = json.loads(rules[0]["Target"]["Input"])
    assert payload["regions"] == ["all"]
    assert payload["notify_on"] == "always"
    assert _function(template)["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "resource-audit"


def test_checks_in_error_raise_their_own_alarm(template: dict[str, Any]) -> None:
    alarm = template["Resources"]["ResourceAuditCheckErrorsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("DevopsTasks", "check_errors")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "resource-audit"}]
    assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}]


def test_event_fixtures_parse() -> None:
    from functions.resource_audit.models import ResourceAuditInput
    from shared.inputs import parse_input

    scheduled = parse_input(load_event("resource_audit/scheduled.json"), ResourceAuditInput, env={})
    assert scheduled.regions == []  # a rule without input: the function's own region
    constant = parse_input(load_event("resource_audit/schedule_input.json"), ResourceAuditInput, env={})
    assert constant.regions == ["all"]
    manual = parse_input(load_event("resource_audit/manual.json"), ResourceAuditInput, env={})
    assert manual.suppressions[0].check == "ebs-volume-gp2"
