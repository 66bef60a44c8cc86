"""ChatOps in the packaged template: a Function URL (Slack signs, AWS does not authenticate), a role that may invoke
the task functions and read its two parameters and nothing of the tasks' own permissions, and a package that
carries Bolt and the Slack SDK at the versions requirements.txt pins."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.contract.test_serverless_contract import actions, role_statements
from tests.helpers import ROOT

pytestmark = pytest.mark.contract

FN = "ChatopsLambdaFunction"


def _statements(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in role_statements(template, template["Resources"][FN]["Properties"])}


def test_chatops_is_behind_a_function_url_whose_auth_is_the_slack_signature(template: dict[str, Any]) -> None:
    urls = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Url"]
    assert urls == [{"AuthType": "NONE", "TargetFunctionArn": {"Fn::GetAtt": [FN, "Arn"]}}]


def test_chatops_may_invoke_exactly_the_deployed_task_functions_and_itself(template: dict[str, Any]) -> None:
    invoke = _statements(template)["InvokeTasks"]
    assert actions(invoke) == ["lambda:InvokeFunction"]
    targets = {r["Fn::GetAtt"][0] for r in invoke["Resource"] if "Fn::GetAtt" in r}
    scheduled = {
        r["Properties"]["Target"]["Arn"]["Fn::GetAtt"][0]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Scheduler::Schedule"
    }
    assert targets == scheduled, "the scheduled task functions, no other"
    assert FN not in targets
    (own,) = [r["Fn::Sub"] for r in invoke["Resource"] if "Fn::Sub" in r]
    assert own.endswith(":function:devops-tasks-contract-chatops")
    names = json.loads(
        template["Resources"][FN]["Properties"]["Environment"]["Variables"]["DEVOPS_TASKS_CHATOPS_FUNCTIONS"]
    )
    assert {
        f"devops-tasks-contract-{t[0].lower()}{t[1:]}" for t in (x.removesuffix("LambdaFunction") for x in targets)
    } == set(names.values())


def test_chatops_reads_only_its_two_parameters_and_decrypts_only_through_ssm(template: dict[str, Any]) -> None:
    found = _statements(template)
    secrets = found["Secrets"]
    assert actions(secrets) == ["ssm:GetParameter"]
    assert [r["Fn::Sub"].rsplit(":parameter", 1)[1] for r in secrets["Resource"]] == [
        "/devops-tasks/contract/chatops/signing-secret",
        "/devops-tasks/contract/chatops/bot-token",
    ]
    key = found["SecretsKey"]
    assert actions(key) == ["kms:Decrypt"]
    assert key["Condition"] == {"StringEquals": {"kms:ViaService": {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}}}


def test_chatops_holds_none_of_the_tasks_permissions(template: dict[str, Any]) -> None:
    statements = _statements(template)
    granted = {a for s in statements.values() for a in actions(s)}
    assert {a.split(":")[0] for a in granted} == {"logs", "xray", "lambda", "ssm", "kms", "scheduler", "s3"}
    assert [a for a in granted if a.startswith("lambda:")] == ["lambda:InvokeFunction"]
    assert {a for a in granted if a.startswith("scheduler:")} == {"scheduler:GetSchedule", "scheduler:ListSchedules"}
    for statement in statements.values():
        if any(a.startswith("s3:") for a in actions(statement)):
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            assert all("ReportsBucket" in json.dumps(r) for r in resources), statement["Sid"]
    assert statements["WritePlansAndDecisions"]["Resource"] == {"Fn::Sub": "${ReportsBucket.Arn}/chatops/*"}, (
        "it writes its own records only"
    )
    assert statements["ListReports"]["Condition"] == {"StringLike": {"s3:prefix": ["reports/*"]}}


def test_chatops_receives_the_alerts_topic(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    assert resources["ChatopsAlerts"]["Properties"] == {
        "TopicArn": {"Ref": "AlertsTopic"},
        "Protocol": "lambda",
        "Endpoint": {"Fn::GetAtt": [FN, "Arn"]},
    }
    permission = resources["ChatopsAlertsPermission"]["Properties"]
    assert permission["Principal"] == "sns.amazonaws.com"
    assert permission["SourceArn"] == {"Ref": "AlertsTopic"}


def _pins() -> dict[str, str]:
    text = (ROOT / "requirements.txt").read_text()
    return dict(re.findall(r"^(slack_bolt|slack_sdk)==(\S+)$", text, re.M))


def test_the_chatops_package_carries_bolt_and_the_sdk_at_the_pinned_versions(package_dir: Path) -> None:
    pins = _pins()
    assert set(pins) == {"slack_bolt", "slack_sdk"}
    with zipfile.ZipFile(package_dir / "chatops.zip") as zf:
        files = set(zf.namelist())
        bolt = zf.read("slack_bolt/version.py").decode()
        sdk = zf.read("slack_sdk/version.py").decode()
    assert f'"{pins["slack_bolt"]}"' in bolt
    assert f'"{pins["slack_sdk"]}"' in sdk
    assert "slack_bolt/adapter/aws_lambda/handler.py" in files
    assert "functions/chatops/handler.py" in files
    assert not (ROOT / "slack_bolt").exists(), "the copies made for packaging are removed after it"


def test_no_other_package_carries_the_slack_libraries(package_dir: Path) -> None:
    for zipped in package_dir.glob("*.zip"):
        if zipped.name == "chatops.zip":
            continue
        with zipfile.ZipFile(zipped) as zf:
            assert not [f for f in zf.namelist() if f.startswith(("slack_bolt/", "slack_sdk/"))], zipped.name
