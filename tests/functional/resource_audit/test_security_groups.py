"""Managed prefix lists in security group rules are expanded under moto: one GetManagedPrefixListEntries per
distinct list whatever the number of rules naming it; a list that cannot be read makes its groups ERROR."""

from __future__ import annotations

from typing import Any

import boto3

from tests.faults import CallLog, ErrorOn
from tests.functional.resource_audit.estate import BUCKET, audit, read_report, shims
from tests.helpers import REGION

PAYLOAD = {
    "report_bucket": BUCKET,
    "notify_on": "never",
    "regions": [REGION],
    "checks": ["ec2-sg-open-admin-ports", "ec2-sg-open-all-ports"],
}


def _estate() -> dict[str, str]:
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    ec2 = boto3.client("ec2", region_name=REGION)

    def plist(name: str, *cidrs: str) -> str:
        entries = [{"Cidr": c} for c in cidrs]
        made = ec2.create_managed_prefix_list(PrefixListName=name, MaxEntries=5, AddressFamily="IPv4", Entries=entries)
        return str(made["PrefixList"]["PrefixListId"])

    anyone, office = plist("anyone", "0.0.0.0/1", "128.0.0.0/1"), plist("office", "203.0.113.0/24")
    ids = {}
    for name, lists, lo, hi in (("ssh-anyone", [anyone], 22, 22), ("all-anyone", [anyone], 0, 65535),
                                ("ssh-office", [office], 22, 22), ("both", [anyone, office], 443, 443)):  # fmt: skip
        gid = ec2.create_security_group(GroupName=name, Description=name)["GroupId"]
        refs = [{"PrefixListId": pl} for pl in lists]
        ec2.authorize_security_group_ingress(
            GroupId=gid, IpPermissions=[{"IpProtocol": "tcp", "FromPort": lo, "ToPort": hi, "PrefixListIds": refs}]
        )
        ids[name] = gid
    return ids | {"anyone": anyone, "office": office}


def _status(check_id: str, group: str) -> str:
    [found] = [f for f in read_report()["findings"] if f["check_id"] == check_id and f["resource"] == group]
    status: str = found["status"]
    return status


def test_prefix_lists_are_expanded_once_per_list(aws: None) -> None:
    ids = _estate()
    log = CallLog()
    with shims():
        audit(PAYLOAD, log=log)
    assert _status("ec2-sg-open-admin-ports", ids["ssh-anyone"]) == "FAIL"
    assert _status("ec2-sg-open-all-ports", ids["all-anyone"]) == "FAIL"
    assert _status("ec2-sg-open-admin-ports", ids["ssh-office"]) == "PASS"
    assert _status("ec2-sg-open-all-ports", ids["both"]) == "PASS"
    asked = [p["PrefixListId"] for svc, op, p in log.calls if op == "GetManagedPrefixListEntries"]
    assert sorted(asked) == sorted([ids["anyone"], ids["office"]])


def test_a_prefix_list_that_cannot_be_read_makes_its_groups_error_not_pass(aws: None) -> None:
    ids = _estate()
    denied = ErrorOn(
        lambda op, params: op == "GetManagedPrefixListEntries" and params.get("PrefixListId") == ids["office"],
        "AccessDenied",
    )
    with shims():
        response = audit(PAYLOAD, attach=denied)
    assert _status("ec2-sg-open-admin-ports", ids["ssh-office"]) == "ERROR"
    assert _status("ec2-sg-open-admin-ports", ids["ssh-anyone"]) == "FAIL"
    findings: list[dict[str, Any]] = read_report()["findings"]
    error = next(f for f in findings if f["status"] == "ERROR")
    assert ids["office"] in error["evidence"]
    assert "AccessDenied" in error["evidence"]
    assert sum(u["counts"].get("check_errors", 0) for u in response["units"]) == sum(
        f["status"] == "ERROR" for f in findings
    )
