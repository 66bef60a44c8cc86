"""The member role (deploy/member-role.yml) against the code: generated from the tasks' declared member
permissions with their function roles' statements, trusting only this deployment's function roles inside the
organization, cfn-lint clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli import member_role, registry
from shared.inputs import DEFAULT_MEMBER_ROLE
from shared.permissions import MEMBER_RUNNER
from tests.contract.test_serverless_contract import actions, functions_of, role_id, role_statements, task_module

pytestmark = pytest.mark.contract


@pytest.fixture(scope="module")
def generated() -> dict[str, Any]:
    return member_role.template()


@pytest.fixture(scope="module")
def role(generated: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = generated["Resources"]["MemberRole"]["Properties"]
    return props


def policy_of(role: dict[str, Any], task: str) -> list[dict[str, Any]]:
    [policy] = [p for p in role["Policies"] if p["PolicyName"] == task]
    statements: list[dict[str, Any]] = policy["PolicyDocument"]["Statement"]
    return statements


def test_the_file_is_what_the_code_generates() -> None:
    assert member_role.PATH.read_text() == member_role.render(member_role.template()), "run make member-role"


def test_the_committed_file_is_valid_yaml_of_the_same_template(generated: dict[str, Any]) -> None:
    assert yaml.safe_load(member_role.PATH.read_text()) == generated


def test_each_tasks_policy_grants_exactly_its_member_permissions(role: dict[str, Any]) -> None:
    tasks = {
        i.task_name: i.task_module() for i in registry.functions() if hasattr(i.task_module(), "MEMBER_PERMISSIONS")
    }
    assert set(tasks) == {"snapshot-rotation", "resource-audit", "lambda-housekeeping"}
    assert {p["PolicyName"] for p in role["Policies"]} == set(tasks)
    for name, module in tasks.items():
        granted = {a for s in policy_of(role, name) for a in actions(s)}
        assert granted == set(module.MEMBER_PERMISSIONS) | MEMBER_RUNNER, name
        assert all("*" not in a for a in granted), name


def test_the_audit_reads_its_previous_report_with_its_own_role_not_in_member_accounts(role: dict[str, Any]) -> None:
    granted = {a for s in policy_of(role, "resource-audit") for a in actions(s)}
    assert not granted & {"s3:GetObject", "s3:ListBucket", "s3:PutObject", "sns:Publish", "sts:AssumeRole"}


def test_member_statements_keep_the_function_roles_conditions(role: dict[str, Any]) -> None:
    snapshots = policy_of(role, "snapshot-rotation")
    [delete] = [s for s in snapshots if "ec2:DeleteSnapshot" in actions(s)]
    assert delete["Condition"] == {"StringEquals": {"aws:ResourceTag/devops-tasks:managed": "true"}}
    [grant] = [s for s in snapshots if "kms:CreateGrant" in actions(s)]
    assert grant["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
    tag = [s for s in snapshots if "ec2:CreateTags" in actions(s)]
    assert [s["Condition"] for s in tag] == [{"StringEquals": {"ec2:CreateAction": ["CreateSnapshot", "CopySnapshot"]}}]
    [functions] = [s for s in policy_of(role, "lambda-housekeeping") if "lambda:DeleteFunction" in actions(s)]
    # a version (name:qualifier) of the functions the stage parameter allows, never the function itself
    assert functions["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:lambda:*:${AWS::AccountId}:function:${LambdaHousekeepingFunctions}:*"
    }


def test_a_member_permission_without_a_statement_of_its_own_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    module = task_module({"Handler": "functions/snapshot_rotation/handler.handler"})
    monkeypatch.setattr(module, "MEMBER_PERMISSIONS", module.MEMBER_PERMISSIONS | {"ec2:DeleteVolume"})
    with pytest.raises(member_role.MemberRoleError, match="ec2:DeleteVolume"):
        member_role.template()


def test_a_statement_on_the_deployments_own_resources_is_not_carried_into_member_accounts(role: dict[str, Any]) -> None:
    # kms:Decrypt is a member permission of the snapshot rotation (DR keys) and is also granted on the alerts
    # key: only the first statement may reach the member role.
    statements = policy_of(role, "snapshot-rotation")
    decrypting = [s for s in statements if "kms:Decrypt" in actions(s)]
    assert [s["Sid"] for s in decrypting] == ["EncryptDrCopies"]


def test_the_role_trusts_only_this_deployments_function_roles_inside_the_organization(
    generated: dict[str, Any], role: dict[str, Any], template: dict[str, Any]
) -> None:
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Effect"] == "Allow"
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${DeploymentAccountId}:root"}}
    condition, with_external_id, without = trust["Condition"]["Fn::If"]
    assert condition == "HasExternalId"
    member_roles = sorted(
        role_id(props) for _, props in functions_of(template) if getattr(task_module(props), "MEMBER_PERMISSIONS", None)
    )
    patterns = [
        {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::${{DeploymentAccountId}}:role/${{DeploymentStackName}}-{r}-*"}
        for r in member_roles
    ]
    for branch in (with_external_id, without):
        assert branch["StringEquals"]["aws:PrincipalOrgID"] == {"Ref": "OrganizationId"}
        assert branch["ArnLike"] == {"aws:PrincipalArn": patterns}
    assert with_external_id["StringEquals"]["sts:ExternalId"] == {"Ref": "ExternalId"}
    assert "sts:ExternalId" not in without["StringEquals"]
    assert generated["Conditions"]["HasExternalId"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExternalId"}, ""]}]}


def test_the_role_name_is_the_one_the_function_roles_may_assume(
    generated: dict[str, Any], template: dict[str, Any]
) -> None:
    params = yaml.load((registry.ROOT / "serverless.yml").read_text(), Loader=registry._CfnLoader)["params"]
    assert generated["Parameters"]["RoleName"]["Default"] == params["default"]["crossAccountRoleName"]
    assert params["default"]["crossAccountRoleName"] == DEFAULT_MEMBER_ROLE
    for logical_id, props in functions_of(template):
        for statement in role_statements(template, props):
            if "sts:AssumeRole" in actions(statement):
                assert statement["Resource"] == {
                    "Fn::Sub": f"arn:${{AWS::Partition}}:iam::*:role/{DEFAULT_MEMBER_ROLE}"
                }, logical_id


def test_the_member_role_passes_cfn_lint() -> None:
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--", str(member_role.PATH)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
