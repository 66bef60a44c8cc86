"""Database ports open to the internet, public AMIs, recent root use and policies allowing * on *: pure checks over
hand-made inventories, and the credential report that cannot be read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.resource_audit import inventory
from functions.resource_audit.checks import BY_ID
from functions.resource_audit.checks.base import CheckEnv, Inventory
from functions.resource_audit.checks.network import DATA_PORTS
from functions.resource_audit.models import ResourceAuditInput

NOW = datetime(2025, 6, 30, tzinfo=UTC)
DB = "ec2-sg-open-database-ports"


def _run(check_id: str, data: dict[str, Any]) -> list[tuple[str, str, str]]:
    inv = Inventory(account="123456789012", region="eu-west-1", data=data)
    return [(o.resource, o.status, o.evidence) for o in BY_ID[check_id].run(inv, CheckEnv(ResourceAuditInput(), NOW))]


def _group(*perms: dict[str, Any], lists: dict[str, Any] | None = None) -> tuple[str, str]:
    data = {"security_groups": [{"GroupId": "sg-1", "IpPermissions": list(perms)}], "prefix_lists": lists or {}}
    [(_, status, evidence)] = _run(DB, data)
    return status, evidence


def _rule(proto: str, lo: int | None, hi: int | None, cidr: str = "0.0.0.0/0", **more: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"IpProtocol": proto}
    if lo is not None:
        rule |= {"FromPort": lo, "ToPort": hi}
    key = ("Ipv6Ranges", "CidrIpv6") if ":" in cidr else ("IpRanges", "CidrIp")
    return rule | {key[0]: [{key[1]: cidr}]} | more


@pytest.mark.parametrize(
    ("rule", "status", "named"),
    [
        (_rule("tcp", 3306, 3306), "FAIL", "MySQL tcp 3306"),
        (_rule("tcp", 5000, 6000), "FAIL", "PostgreSQL tcp 5432"),  # a range covering it
        (_rule("6", 6379, 6379, "::/0"), "FAIL", "Redis tcp 6379"),  # IPv6, protocol by number
        (_rule("-1", None, None, "::/0"), "FAIL", "MongoDB tcp 27017"),  # all traffic
        (_rule("udp", 11211, 11211), "FAIL", "Memcached udp 11211"),
        (_rule("tcp", 9200, 9300), "FAIL", "Elasticsearch/OpenSearch transport tcp 9300"),
        (_rule("tcp", 1521, 1521, "0.0.0.0/1"), "PASS", ""),  # half the internet is not the internet
        (_rule("tcp", 3306, 3306, "10.0.0.0/8"), "PASS", ""),
        (_rule("udp", 3306, 3306), "PASS", ""),  # MySQL listens on TCP
        (_rule("tcp", 443, 443), "PASS", ""),
    ],
)
def test_a_database_port_open_to_the_internet_fails_naming_it(rule: dict[str, Any], status: str, named: str) -> None:
    got, evidence = _group(rule)
    assert got == status
    assert named in evidence


def test_sources_that_together_cover_the_internet_open_the_port() -> None:
    halves = [_rule("tcp", 1433, 1433, "0.0.0.0/1"), _rule("tcp", 1433, 1433, "128.0.0.0/1")]
    assert _group(*halves)[0] == "FAIL"


def test_an_unreadable_prefix_list_on_a_database_port_is_error_not_pass() -> None:
    from functions.resource_audit.checks.base import SourceError

    rule = {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "PrefixListIds": [{"PrefixListId": "pl-1"}]}
    status, evidence = _group(rule, lists={"pl-1": SourceError("AccessDenied", "")})
    assert (status, "pl-1" in evidence) == ("ERROR", True)


@settings(max_examples=80, deadline=None)
@given(lo=st.integers(0, 65535), width=st.integers(0, 3000))
def test_a_tcp_range_from_anywhere_fails_exactly_when_it_covers_a_database_port(lo: int, width: int) -> None:
    hi = min(lo + width, 65535)
    expected = any(proto == "tcp" and lo <= port <= hi for proto, port, _ in DATA_PORTS)
    assert _group(_rule("tcp", lo, hi))[0] == ("FAIL" if expected else "PASS")


@pytest.mark.parametrize(("public", "status"), [(True, "FAIL"), (False, "PASS"), (None, "ERROR"), ("yes", "ERROR")])
def test_a_public_ami_fails_and_an_unreported_flag_is_error(public: object, status: str) -> None:
    image: dict[str, Any] = {"ImageId": "ami-1"}
    if public is not None:
        image["Public"] = public
    assert [s for _, s, _ in _run("ec2-ami-public", {"images": [image]})] == [status]


def _root(**fields: str) -> dict[str, Any]:
    row = {"user": "<root_account>", "arn": "arn:aws:iam::1:root", "password_last_used": "no_information",
           "access_key_1_last_used_date": "N/A", "access_key_2_last_used_date": "N/A"}  # fmt: skip
    return {"credential_report": [row | fields]}


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (_root(password_last_used="2025-06-27T10:00:00+00:00"), "FAIL"),
        (_root(access_key_2_last_used_date="2025-04-10T10:00:00+00:00"), "FAIL"),  # 81 days: within 90
        (_root(password_last_used="2025-03-01T10:00:00+00:00"), "PASS"),  # 121 days ago
        (_root(), "PASS"),  # never used
        (_root(password_last_used="yesterday"), "ERROR"),
        (_root(password_last_used=""), "ERROR"),
        ({"credential_report": [{"user": "alice", "arn": "arn:aws:iam::1:user/alice"}]}, "ERROR"),  # no root row
    ],
)
def test_root_used_within_90_days_fails_and_what_cannot_be_read_is_error(data: dict[str, Any], status: str) -> None:
    assert [s for _, s, _ in _run("iam-root-used-recently", data)] == [status]


ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
READ = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": ["s3:Get*"], "Resource": "*"}}


def _details(**lists: list[dict[str, Any]]) -> dict[str, Any]:
    base: dict[str, list[dict[str, Any]]] = {k: [] for k in inventory.DETAIL_LISTS}
    return {"authorization_details": base | lists}


def _policy(arn: str, default: dict[str, Any], other: dict[str, Any] | None = None) -> dict[str, Any]:
    versions = [{"VersionId": "v2", "IsDefaultVersion": True, "Document": default}]
    if other is not None:
        versions.append({"VersionId": "v1", "IsDefaultVersion": False, "Document": other})
    return {"PolicyName": arn.rsplit("/", 1)[-1], "Arn": arn, "PolicyVersionList": versions}


CUSTOM = "arn:aws:iam::123456789012:policy/custom"


@pytest.mark.parametrize(
    ("entity", "policies", "status"),
    [
        ({"UserPolicyList": [{"PolicyName": "p", "PolicyDocument": ADMIN}]}, [], "FAIL"),
        ({"UserPolicyList": [{"PolicyName": "p", "PolicyDocument": quote(json.dumps(ADMIN))}]}, [], "FAIL"),
        ({"UserPolicyList": [{"PolicyName": "p", "PolicyDocument": READ}]}, [], "PASS"),
        ({"UserPolicyList": [{"PolicyName": "p", "PolicyDocument": "{not json"}]}, [], "ERROR"),
        ({"AttachedManagedPolicies": [{"PolicyName": "AdministratorAccess",
                                        "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}]}, [], "FAIL"),
        ({"AttachedManagedPolicies": [{"PolicyName": "ReadOnlyAccess",
                                        "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]}, [], "PASS"),
        ({"AttachedManagedPolicies": [{"PolicyName": "custom", "PolicyArn": CUSTOM}]}, [_policy(CUSTOM, ADMIN)],
         "FAIL"),
        # only the default version applies
        ({"AttachedManagedPolicies": [{"PolicyName": "custom", "PolicyArn": CUSTOM}]},
         [_policy(CUSTOM, READ, other=ADMIN)], "PASS"),
        ({"AttachedManagedPolicies": [{"PolicyName": "custom", "PolicyArn": CUSTOM}]}, [], "ERROR"),
    ],
)  # fmt: skip
def test_a_user_with_a_policy_allowing_everything_fails(
    entity: dict[str, Any], policies: list[dict[str, Any]], status: str
) -> None:
    user = {"UserName": "u", "Arn": "arn:aws:iam::123456789012:user/u"} | entity
    got = _run("iam-admin-policy-attached", _details(UserDetailList=[user], Policies=policies))
    assert [(r, s) for r, s, _ in got] == [("user/u", status)]


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::bucket/*"},
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
    ],
)
def test_statements_short_of_everything_on_everything_pass(statement: dict[str, Any]) -> None:
    role = {"RoleName": "r", "RolePolicyList": [{"PolicyName": "p", "PolicyDocument": {"Statement": [statement]}}]}
    assert [s for _, s, _ in _run("iam-admin-policy-attached", _details(RoleDetailList=[role]))] == ["PASS"]


def test_groups_and_roles_are_judged_apart_from_users_of_the_same_name() -> None:
    inline = [{"PolicyName": "p", "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": ["*"],
                                                                    "Resource": ["*"]}]}}]  # fmt: skip
    data = _details(
        UserDetailList=[{"UserName": "ops"}],
        GroupDetailList=[{"GroupName": "ops", "GroupPolicyList": inline}],
        RoleDetailList=[{"RoleName": "ops"}],
    )
    got = {(r, s) for r, s, _ in _run("iam-admin-policy-attached", data)}
    assert got == {("user/ops", "PASS"), ("group/ops", "FAIL"), ("role/ops", "PASS")}


def _report_client(content: bytes) -> Any:
    iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(iam)
    stub.add_response("generate_credential_report", {"State": "COMPLETE"})
    stub.add_response("get_credential_report", {"Content": content, "ReportFormat": "text/csv", "GeneratedTime": NOW})
    stub.activate()
    return iam


@pytest.mark.parametrize(
    "content",
    [
        b"<html><body>Service Unavailable</body></html>",
        b"user,arn\n<root_account>,arn:aws:iam::1:root\n",  # columns the checks read are missing
        ",".join(inventory.REPORT_COLUMNS).encode() + b"\nalice,arn:aws:iam::1:user/alice,true\n",  # a short row
    ],
)
def test_a_credential_report_that_cannot_be_read_is_an_error_not_an_empty_account(content: bytes) -> None:
    with pytest.raises(ValueError, match="not a credential report"):
        inventory.credential_report(_report_client(content), sleep=lambda s: None)


def test_a_credential_report_is_read_into_rows() -> None:
    header = ",".join(inventory.REPORT_COLUMNS)
    row = "alice,arn:aws:iam::1:user/alice,true,N/A,false,false,N/A,false,N/A"
    rows = inventory.credential_report(_report_client(f"{header}\n{row}\n".encode()), sleep=lambda s: None)
    assert [(r["user"], r["password_enabled"]) for r in rows] == [("alice", "true")]
