"""Fan-out in the packaged template: every task whose input can fan out has a unit queue that its own function
consumes (batch size 1, a maximum concurrency, partial batch responses), with a dead-letter queue and its alarm.

moto deploys no alarms (MOTO_NOTES): the packaged template is what is checked; the deploy test checks the rest."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.fanout import MAX_DELAY_SECONDS, FanOutSettings
from tests.contract.test_serverless_contract import functions_of, task_module

pytestmark = pytest.mark.contract


def fanning_out(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for logical_id, props in functions_of(template):
        task = getattr(task_module(props), "TASK", None)
        if task is not None and issubclass(task.params_model, FanOutSettings):
            found[logical_id] = props
    return found


def mapping_of(template: dict[str, Any], function_id: str) -> dict[str, Any]:
    [mapping] = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    return mapping


def test_snapshot_rotation_and_the_resource_audit_can_fan_out(template: dict[str, Any]) -> None:
    assert {"SnapshotRotationLambdaFunction", "ResourceAuditLambdaFunction"} <= set(fanning_out(template))


def test_each_unit_queue_is_consumed_one_unit_at_a_time_with_a_maximum_concurrency(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    for function_id, props in fanning_out(template).items():
        mapping = mapping_of(template, function_id)
        queue_id = mapping["EventSourceArn"]["Fn::GetAtt"][0]
        assert props["Environment"]["Variables"]["DEVOPS_TASKS_UNIT_QUEUE_URL"] == {"Ref": queue_id}
        assert mapping["BatchSize"] == 1, function_id
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"], function_id
        concurrency = mapping["ScalingConfig"]["MaximumConcurrency"]
        assert 2 <= concurrency <= 1000, "Lambda's bounds on MaximumConcurrency"
        # the units never take the whole function: one run or dispatch always has room beside them
        assert props["ReservedConcurrentExecutions"] == concurrency + 1, function_id
        queue = resources[queue_id]["Properties"]
        # a unit that runs the whole timeout is not delivered again while it runs (AWS: six times the timeout)
        assert queue["VisibilityTimeout"] >= 6 * props["Timeout"], queue_id
        # a message outlives the longest run deadline (a unit never reporting is then reported lost, not dropped)
        deadline_max = FanOutSettings.model_fields["run_deadline_seconds"].metadata
        longest = next(m.le for m in deadline_max if getattr(m, "le", None) is not None)
        assert queue["MessageRetentionPeriod"] > longest + MAX_DELAY_SECONDS
        assert queue["SqsManagedSseEnabled"] is True


def test_each_unit_queue_dead_letters_after_its_redrive_count_with_an_alarm(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    for function_id in fanning_out(template):
        queue_id = mapping_of(template, function_id)["EventSourceArn"]["Fn::GetAtt"][0]
        redrive = resources[queue_id]["Properties"]["RedrivePolicy"]
        assert 2 <= redrive["maxReceiveCount"] <= 5, "a killed unit is tried again, not forever"
        dlq_id = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert resources[dlq_id]["Type"] == "AWS::SQS::Queue"
        assert resources[dlq_id]["Properties"]["MessageRetentionPeriod"] == 1209600
        alarms = [
            r["Properties"]
            for r in resources.values()
            if r["Type"] == "AWS::CloudWatch::Alarm"
            and r["Properties"].get("Namespace") == "AWS/SQS"
            and r["Properties"]["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
        ]
        assert len(alarms) == 1, dlq_id
        [alarm] = alarms
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}]


def test_the_unit_queue_and_the_run_state_are_the_only_fan_out_grants(template: dict[str, Any]) -> None:
    from tests.contract.test_serverless_contract import actions, role_statements

    for function_id, props in fanning_out(template).items():
        queue_id = mapping_of(template, function_id)["EventSourceArn"]["Fn::GetAtt"][0]
        statements = role_statements(template, props)
        receiving = [s for s in statements if "sqs:ReceiveMessage" in actions(s)]
        assert [s["Resource"] for s in receiving] == [{"Fn::GetAtt": [queue_id, "Arn"]}]
        listing = [s for s in statements if "s3:ListBucket" in actions(s)]
        assert len(listing) == 1
        assert "ReportsBucket" in json.dumps(listing[0]["Resource"]), function_id
        if "Condition" in listing[0] or getattr(task_module(props), "NAME", None) != "resource-audit":
            assert listing[0]["Condition"]["StringLike"]["s3:prefix"].endswith("/runs/*"), function_id
        # else: the audit lists its reports' prefix whole already (a missing latest report is NoSuchKey, not 403)
