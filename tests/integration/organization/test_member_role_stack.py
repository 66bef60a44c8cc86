"""The member role template deployed with CloudFormation in two member accounts (moto server over HTTP), then a
snapshot rotation over the organization reaching them through it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cli import member_role
from functions.snapshot_rotation.task import TASK
from shared.aws import Clients, new_session
from shared.runner import execute
from tests.functional.shared import organization
from tests.helpers import REGION, FakeContext

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 27, 3, 15, tzinfo=UTC)
ORG_ID = "o-a1b2c3d4e5"


def deploy(session: Any, external_id: str) -> dict[str, Any]:
    return member_role.deploy(
        session.client("cloudformation"),
        organization_id=ORG_ID,
        deployment_account=organization.MANAGEMENT,
        deployment_stack="devops-tasks-prod",
        external_id=external_id,
    )


@pytest.mark.usefixtures("moto_server")
def test_the_member_role_deploys_in_each_account_and_the_rotation_works_there_through_it() -> None:
    org = organization.create()
    members = {"prod-a": "ext-1234", "prod-b": ""}  # with and without an external id
    for name, external_id in members.items():
        session = organization.member_session(org.accounts[name])
        stack = deploy(session, external_id)
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack
        role = session.client("iam").get_role(RoleName="devops-tasks-member")["Role"]
        # moto does not evaluate trust policies: the deployed document is what is checked
        [trust] = role["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"AWS": f"arn:aws:iam::{organization.MANAGEMENT}:root"}
        expected = {"aws:PrincipalOrgID": ORG_ID} | ({"sts:ExternalId": external_id} if external_id else {})
        assert trust["Condition"]["StringEquals"] == expected
        assert len(trust["Condition"]["ArnLike"]["aws:PrincipalArn"]) == 3
        policies = session.client("iam").list_role_policies(RoleName="devops-tasks-member")["PolicyNames"]
        assert sorted(policies) == ["lambda-housekeeping", "resource-audit", "snapshot-rotation"]
        session.client("ec2").create_volume(
            AvailabilityZone=f"{REGION}a",
            Size=1,
            TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Backup", "Value": "true"}]}],
        )

    event = {
        "regions": [REGION],
        "accounts": {"organization": {"include_ous": [org.ous["prod"]], "external_id": "ext-1234"}},
    }
    report = execute(TASK, event, FakeContext(), clients=Clients(new_session()), clock=lambda: NOW)
    assert sorted(u["account"] for u in report["units"]) == org.ids(*members)
    assert all(u["counts"] == {"created": 1} for u in report["units"])
