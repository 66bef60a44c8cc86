"""``serverless deploy``, ``invoke local`` and ``remove`` against moto server: the stack really comes up."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import boto3
import pytest

from tests.helpers import serverless

pytestmark = pytest.mark.integration

STAGE = "itest"


def sls_env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "NODE_NO_WARNINGS": "1",
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
        # invoke local runs the handler with the project's Python
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    return env


def test_deploy_creates_the_stack_then_invoke_local_runs_and_remove_deletes_it(moto_server: str) -> None:
    env = sls_env(moto_server)
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
    assert function["Concurrency"]["ReservedConcurrentExecutions"] == 1
    assert (
        function["Configuration"]["Role"]
        == boto3.client("iam").get_role(RoleName=resources["SnapshotRotationRole"]["PhysicalResourceId"])["Role"]["Arn"]
    )
    assert function["Configuration"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "snapshot-rotation"

    events = boto3.client("events")
    rule = events.describe_rule(Name=f"devops-tasks-{STAGE}-snapshot-rotation")
    assert rule["ScheduleExpression"] == "cron(15 3 * * ? *)"
    target = events.list_targets_by_rule(Rule=rule["Name"])["Targets"][0]
    assert target["Arn"].endswith(f"function:devops-tasks-{STAGE}-snapshotRotation")
    assert json.loads(target["Input"])["policy"]["retention"]["keep_last"] == 7

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
