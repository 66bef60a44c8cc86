"""``serverless deploy``, ``invoke local`` and ``remove`` against moto server: the stack really comes up."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pytest

from tests.helpers import serverless

pytestmark = pytest.mark.integration

STAGE = "itest"

CONFIG = """\
tasks:
  snapshot-rotation:
    policies:
      berlin:
        description: Nightly snapshots of the Frankfurt volumes, Berlin time
        schedule: cron(15 2 * * ? *)
        timezone: Europe/Berlin
        input:
          regions: [eu-central-1]
          policy: {name: berlin, volume_tag_key: Backup, retention: {keep_last: 3, timezone: Europe/Berlin}}
      new-york:
        schedule: rate(12 hours)
        timezone: America/New_York
        input:
          policy: {name: new-york, volume_tag_key: Backup, period: hour, retention: {keep_last: 14}}
  log-etl:
    enabled: false
  log-compaction:
    enabled: false
"""


def sls_env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "VIRTUAL_ENV"}
    env |= {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "NODE_NO_WARNINGS": "1",
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
        # a plain shell: no virtualenv active, so `invoke local` must find the project's .venv by itself
        # (config/invoke-local.js), and nothing here turns tracing off
        "PATH": os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if ".venv" not in p),
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    return env


def test_deploy_from_a_configuration_file_then_invoke_local_runs_and_remove_deletes_it(
    moto_server: str, tmp_path: Path
) -> None:
    config = tmp_path / f"{STAGE}.yml"
    config.write_text(CONFIG)
    env = sls_env(moto_server) | {"DEVOPS_TASKS_CONFIG": str(config)}
    serverless("deploy", "--stage", STAGE, "--region", "eu-west-1", env=env)

    cfn = boto3.client("cloudformation")
    stack = cfn.describe_stacks(StackName=f"devops-tasks-{STAGE}")["Stacks"][0]
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    resources = {
        r["LogicalResourceId"]: r
        for r in cfn.list_stack_resources(StackName=f"devops-tasks-{STAGE}")["StackResourceSummaries"]
    }
    for logical_id in ("SnapshotRotationLambdaFunction", "SnapshotRotationRole", "ReportsBucket", "AlertsTopic"):
        assert resources[logical_id]["ResourceStatus"] == "CREATE_COMPLETE", logical_id

    function = boto3.client("lambda").get_function(FunctionName=f"devops-tasks-{STAGE}-snapshotRotation")
    assert function["Concurrency"]["ReservedConcurrentExecutions"] == 5  # a run and its 4 units at most
    assert (
        function["Configuration"]["Role"]
        == boto3.client("iam").get_role(RoleName=resources["SnapshotRotationRole"]["PhysicalResourceId"])["Role"]["Arn"]
    )
    assert function["Configuration"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "snapshot-rotation"

    # fan-out: the unit queue, its dead-letter queue, and the event source mapping with its maximum concurrency
    # (moto creates no alarms: tests/contract/test_fanout_contract.py checks the dead-letter alarm)
    sqs = boto3.client("sqs")
    mappings = boto3.client("lambda").list_event_source_mappings()["EventSourceMappings"]
    for name, task in (("snapshotRotation", "snapshot-rotation"), ("resourceAudit", "resource-audit")):
        fn = boto3.client("lambda").get_function(FunctionName=f"devops-tasks-{STAGE}-{name}")
        assert fn["Concurrency"]["ReservedConcurrentExecutions"] == 5, name
        units = sqs.get_queue_url(QueueName=f"devops-tasks-{STAGE}-{task}-units")["QueueUrl"]
        dlq = sqs.get_queue_url(QueueName=f"devops-tasks-{STAGE}-{task}-units-dlq")["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=units, AttributeNames=["All"])["Attributes"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}
        assert attrs["VisibilityTimeout"] == "5400"
        [mapping] = [m for m in mappings if m["EventSourceArn"] == attrs["QueueArn"]]
        assert mapping["FunctionArn"] == fn["Configuration"]["FunctionArn"]
        assert mapping["BatchSize"] == 1
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": 4}
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert fn["Configuration"]["Environment"]["Variables"]["DEVOPS_TASKS_UNIT_QUEUE_URL"].endswith(
            f"/devops-tasks-{STAGE}-{task}-units"
        )

    # the disabled task is not deployed at all: no function, role, queue or alarm of its own
    deployed = {f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]}
    assert f"devops-tasks-{STAGE}-logEtl" not in deployed
    assert f"devops-tasks-{STAGE}-resourceAudit" in deployed
    body = cfn.get_template(StackName=f"devops-tasks-{STAGE}")["TemplateBody"]
    template = json.loads(body) if isinstance(body, str) else body  # boto3 decodes a JSON body itself
    assert not [k for k in template["Resources"] if k.startswith(("LogEtl", "LogCompaction"))]
    assert not [k for k in resources if k.startswith("LogEtl")]

    # moto's CloudFormation does not create Scheduler schedules: read them from the deployed template
    schedules = {
        r["Properties"]["Name"]: r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Scheduler::Schedule"
    }
    assert set(schedules) == {
        "snapshot-rotation-berlin",
        "snapshot-rotation-new-york",
        "resource-audit-daily",
        "artefact-mover-retain",
        "lambda-housekeeping-daily",
    }
    berlin, new_york = schedules["snapshot-rotation-berlin"], schedules["snapshot-rotation-new-york"]
    assert (berlin["ScheduleExpression"], berlin["ScheduleExpressionTimezone"]) == (
        "cron(15 2 * * ? *)",
        "Europe/Berlin",
    )
    assert (new_york["ScheduleExpression"], new_york["ScheduleExpressionTimezone"]) == (
        "rate(12 hours)",
        "America/New_York",
    )
    assert berlin["Target"]["Arn"] == {"Fn::GetAtt": ["SnapshotRotationLambdaFunction", "Arn"]}
    berlin_input = json.loads(berlin["Target"]["Input"])
    assert berlin_input["regions"] == ["eu-central-1"]
    assert berlin_input["policy"]["retention"] == {"keep_last": 3, "timezone": "Europe/Berlin"}
    assert berlin_input["schedule"]["policy"] == "berlin"
    assert json.loads(new_york["Target"]["Input"])["policy"]["period"] == "hour"
    beats = {
        r["Properties"]["Dimensions"][1]["Value"]: r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"]["MetricName"] == "scheduled_runs"
    }
    assert beats["berlin"]["Period"] * beats["berlin"]["EvaluationPeriods"] == 27 * 3600  # a day, plus a margin
    assert beats["new-york"]["Period"] * beats["new-york"]["EvaluationPeriods"] == 14 * 3600  # 12 hours, plus

    # invoke local: the real handler, with the deployed stack's bucket, against the same endpoint
    ec2 = boto3.client("ec2")
    ec2.create_volume(
        AvailabilityZone="eu-west-1a",
        Size=1,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Backup", "Value": "true"}]}],
    )
    out = serverless(
        "invoke",
        "local",
        "-f",
        "snapshotRotation",
        "--stage",
        STAGE,
        "--region",
        "eu-west-1",
        "--data",
        json.dumps({"policy": {"name": "itest"}}),
        env=env,
    )
    # the handler's JSON log lines come first; the response is the last, pretty-printed, document
    report = json.loads(out[("\n" + out).rindex("\n{\n") :])
    assert report["status"] == "succeeded"
    assert report["units"][0]["counts"] == {"created": 1}
    snaps = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert [t["Value"] for t in snaps[0]["Tags"] if t["Key"] == "devops-tasks:policy"] == ["itest"]
    bucket = resources["ReportsBucket"]["PhysicalResourceId"]
    assert report["location"].startswith(f"s3://{bucket}/reports/snapshot-rotation/")

    serverless("remove", "--stage", STAGE, "--region", "eu-west-1", env=env)
    remaining = [s["StackName"] for s in cfn.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"]
    assert f"devops-tasks-{STAGE}" not in remaining
