"""serverless.yml against the S3 upload logger: no S3 access at all, its queue, DLQ and batch failures."""

from __future__ import annotations

from typing import Any

import pytest

from functions.s3_upload_logger.task import NAME

pytestmark = pytest.mark.contract


def test_the_logger_role_only_polls_its_queue_and_writes_logs(template: dict[str, Any]) -> None:
    props = template["Resources"]["S3UploadLoggerRole"]["Properties"]
    actions = {
        a
        for p in props["Policies"]
        for s in p["PolicyDocument"]["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert not [a for a in actions if a.startswith(("s3:", "sns:", "sts:"))]


def test_uploads_arrive_through_a_queue_only_the_configured_bucket_may_send_to(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    (statement,) = resources["UploadLoggerQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::devops-tasks-${AWS::AccountId}-${AWS::Region}-contract-uploads"
    }
    assert resources["UploadLoggerQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5
    env = resources["S3UploadLoggerLambdaFunction"]["Properties"]["Environment"]["Variables"]
    # bucket names are global across AWS: the default is this account's, region's and stage's, never one fixed name
    assert env["DEVOPS_TASKS_BUCKETS"] == {"Fn::Sub": "devops-tasks-${AWS::AccountId}-${AWS::Region}-contract-uploads"}
    (mapping,) = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"]["FunctionName"] == {"Fn::GetAtt": ["S3UploadLoggerLambdaFunction", "Arn"]}
    ]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_rejected_records_raise_an_alarm(template: dict[str, Any]) -> None:
    (alarm,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"]["MetricName"] == "RecordsRejected"
    ]
    assert (alarm["Namespace"], alarm["Dimensions"]) == ("DevopsTasks", [{"Name": "service", "Value": NAME}])
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum",
        1,
        "GreaterThanOrEqualToThreshold",
    )
    assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}]
