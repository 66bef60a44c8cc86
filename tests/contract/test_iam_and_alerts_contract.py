"""IAM and alerting of the packaged template: whom the functions may assume, KMS grants, TLS on the log source
bucket, the encrypted alerts topic, and scheduled runs that fail once and land in a queue with an alarm.

moto deploys none of these policies (MOTO_NOTES): the packaged template is what is checked."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from shared.permissions import ASYNC_FAILURES
from tests.contract.test_serverless_contract import actions, functions_of, role_statements
from tests.helpers import ROOT, serverless

pytestmark = pytest.mark.contract

ORG = "o-a1b2c3d4e5"
MEMBERS = "111111111111,222222222222"


def package(tmp_path_factory: pytest.TempPathFactory, *params: str) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("sls-package-params")
    args = [f"--param={p}" for p in params]
    serverless("package", "--stage", "contract", "--region", "eu-west-1", "--package", str(out), *args)
    data: dict[str, Any] = json.loads((Path(out) / "cloudformation-template-update-stack.json").read_text())
    return data


@pytest.fixture(scope="module")
def org_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return package(tmp_path_factory, f"memberOrgId={ORG}")


@pytest.fixture(scope="module")
def members_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return package(tmp_path_factory, f"memberAccountIds={MEMBERS}")


def assume_role_statements(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for logical_id, props in functions_of(template):
        for statement in role_statements(template, props):
            if "sts:AssumeRole" in actions(statement):
                found[logical_id] = statement
    return found


def test_without_configuration_the_functions_may_assume_roles_in_their_own_account_only(
    template: dict[str, Any],
) -> None:
    statements = assume_role_statements(template)
    assert statements, "no function may assume a role"
    for logical_id, statement in statements.items():
        assert actions(statement) == ["sts:AssumeRole"], logical_id
        assert statement["Condition"] == {"StringEquals": {"aws:ResourceAccount": [{"Ref": "AWS::AccountId"}]}}, (
            logical_id
        )


def test_with_an_account_list_the_functions_may_assume_roles_in_those_accounts_only(
    members_template: dict[str, Any],
) -> None:
    for logical_id, statement in assume_role_statements(members_template).items():
        assert statement["Condition"] == {"StringEquals": {"aws:ResourceAccount": MEMBERS.split(",")}}, logical_id


def test_with_an_organization_the_functions_may_assume_roles_in_its_accounts_only(
    org_template: dict[str, Any],
) -> None:
    for logical_id, statement in assume_role_statements(org_template).items():
        assert statement["Condition"] == {"StringEquals": {"aws:ResourceOrgID": ORG}}, logical_id


def test_kms_grants_are_only_for_aws_resources(template: dict[str, Any]) -> None:
    granting = [
        (logical_id, s)
        for logical_id, props in functions_of(template)
        for s in role_statements(template, props)
        if "kms:CreateGrant" in actions(s)
    ]
    assert granting, "the snapshot rotation's DR copies need kms:CreateGrant"
    for logical_id, statement in granting:
        assert actions(statement) == ["kms:CreateGrant"], f"{logical_id}: CreateGrant in a statement of its own"
        assert statement["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}, logical_id


def test_the_log_source_bucket_refuses_requests_without_tls(template: dict[str, Any]) -> None:
    policies = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": "LogEtlSourceBucket"}
    ]
    assert len(policies) == 1
    [deny] = [s for s in policies[0]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Principal"] == "*"
    assert deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [
        {"Fn::GetAtt": ["LogEtlSourceBucket", "Arn"]},
        {"Fn::Sub": "${LogEtlSourceBucket.Arn}/*"},
    ]


def test_the_alerts_topic_is_encrypted_with_a_key_cloudwatch_alarms_and_the_functions_can_use(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    topic = resources["AlertsTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlertsKey"}, "a customer-managed key (alarms cannot use aws/sns)"
    key = resources["AlertsKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    statements = key["KeyPolicy"]["Statement"]
    [alarms] = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert sorted(actions(alarms)) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    for logical_id, props in functions_of(template):
        statements = role_statements(template, props)
        if not any("sns:Publish" in actions(s) for s in statements):
            continue
        using = [s for s in statements if s["Resource"] == {"Fn::GetAtt": ["AlertsKey", "Arn"]}]
        assert {a for s in using for a in actions(s)} == {"kms:Decrypt", "kms:GenerateDataKey"}, logical_id


def scheduled_functions(template: dict[str, Any]) -> set[str]:
    return {
        r["Properties"]["Target"]["Arn"]["Fn::GetAtt"][0]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Scheduler::Schedule"
    }


def test_a_failed_scheduled_run_is_not_retried_and_goes_to_the_failed_runs_queue(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    configs = {
        r["Properties"]["FunctionName"]["Ref"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig"
    }
    scheduled = scheduled_functions(template)
    assert scheduled
    assert scheduled <= set(configs), f"scheduled without an invoke config: {sorted(scheduled - set(configs))}"
    for function_id in scheduled:
        config = configs[function_id]
        assert config["MaximumRetryAttempts"] == 0, function_id
        assert config["Qualifier"] == "$LATEST"
        assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FailedRunsQueue", "Arn"]}
        props = resources[function_id]["Properties"]
        sending = [s for s in role_statements(template, props) if set(actions(s)) & ASYNC_FAILURES]
        # besides the failed-runs queue, only the function's own unit queue (a fanned-out run's units)
        units = [s["Resource"] for s in sending if s["Resource"] != {"Fn::GetAtt": ["FailedRunsQueue", "Arn"]}]
        assert len(sending) - len(units) == 1, function_id
        assert all(r["Fn::GetAtt"][0].endswith("UnitQueue") for r in units), function_id


def test_the_failed_runs_queue_is_encrypted_and_alarmed(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    queue = resources["FailedRunsQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    alarms = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and {"Name": "QueueName", "Value": {"Fn::GetAtt": ["FailedRunsQueue", "QueueName"]}}
        in r["Properties"]["Dimensions"]
    ]
    assert len(alarms) == 1
    alarm = alarms[0]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}]
    assert alarm["OKActions"] == [{"Ref": "AlertsTopic"}]


@pytest.mark.parametrize(
    ("org", "accounts", "message"),
    [
        ("o-short", "", "not an organization id"),
        ("", "111111111111,12345", "not 12-digit account ids: 12345"),
        ("o-a1b2c3d4e5", "111111111111", "not both"),
    ],
)
def test_a_member_setting_that_would_mean_something_else_fails_the_package(
    org: str, accounts: str, message: str
) -> None:
    script = "const m = require('./shared/serverless/members.js'); m.condition(process.argv[1], process.argv[2]);"
    proc = subprocess.run(["node", "-e", script, org, accounts], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
