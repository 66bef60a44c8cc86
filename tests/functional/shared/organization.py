"""An AWS Organizations organization under in-process moto: the management account, 3 nested OUs, member accounts.

```
root ─┬─ management account (123456789012)
      ├─ sandbox account
      └─ workloads ─┬─ platform account
                    ├─ prod ─┬─ prod-a, prod-b, prod-closed (closed: SUSPENDED)
                    └─ dev  ─── dev-a
```
moto keeps each account's resources apart under the credentials of a role assumed in it (MOTO_NOTES): a member
account's estate is seeded through :func:`member_session`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3

from shared.aws import new_session
from tests.helpers import REGION

MANAGEMENT = "123456789012"
ROLE = "devops-tasks-member"


@dataclass
class Organization:
    root: str
    ous: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)
    """Account ids by name (the management account is "management")."""

    def ids(self, *names: str) -> list[str]:
        return sorted(self.accounts[n] for n in names)


def create() -> Organization:
    """The organization of the module docstring (call it inside ``mock_aws``)."""
    org: Any = boto3.client("organizations", region_name=REGION)
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    found = Organization(root=root, accounts={"management": MANAGEMENT})
    found.ous["workloads"] = org.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    for name in ("prod", "dev"):
        made = org.create_organizational_unit(ParentId=found.ous["workloads"], Name=name)
        found.ous[name] = made["OrganizationalUnit"]["Id"]
    placed = {
        "sandbox": None,
        "platform": "workloads",
        "prod-a": "prod",
        "prod-b": "prod",
        "prod-closed": "prod",
        "dev-a": "dev",
    }
    for name, ou in placed.items():
        status = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
        account = status["AccountId"]
        found.accounts[name] = account
        if ou is not None:
            org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=found.ous[ou])
    org.close_account(AccountId=found.accounts["prod-closed"])
    return found


def member_session(account: str, region: str = REGION) -> boto3.Session:
    """A session in ``account`` through the member role, as the functions reach it."""
    creds = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="seed"
    )["Credentials"]
    return new_session(  # botocore's models loaded once for every session, as the functions do
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )
