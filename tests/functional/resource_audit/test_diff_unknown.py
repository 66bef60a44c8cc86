"""After one run that could not see part of the estate (a listing error, an account it could not reach), the
findings open for months neither resolve in that run nor come back as "new" in the next: they are unknown."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest

from shared.errors import RunFailed
from tests.faults import ErrorOn
from tests.functional.resource_audit.estate import ACCOUNT, BUCKET, HARDENED, NOW, audit, read_report, shims
from tests.functional.resource_audit.test_errors_and_budget import Deny
from tests.helpers import REGION


def _estate() -> None:
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    boto3.client("ec2", region_name=REGION).create_volume(AvailabilityZone=f"{REGION}a", Size=1)


def _keys(findings: list[dict[str, Any]], **where: str) -> set[tuple[str, str, str]]:
    return {(f["check_id"], f["account"], f["resource"]) for f in findings if all(f[k] == v for k, v in where.items())}


def test_findings_of_a_listing_that_failed_once_are_unknown_then_and_not_new_after(aws: None) -> None:
    _estate()
    payload = {"report_bucket": BUCKET, "notify_on": "never", "regions": [REGION]}
    with shims():
        audit(payload)
        first = read_report()
        volumes = _keys(first["findings"], check_id="ebs-volume-unattached", status="FAIL")
        assert volumes
        audit(payload, attach=Deny("ec2", "DescribeVolumes"), now=NOW + timedelta(days=1))
        denied = read_report()
        audit(payload, now=NOW + timedelta(days=2))
        after = read_report()
    assert not volumes & _keys(denied["diff"]["resolved"])
    assert volumes <= _keys(denied["diff"]["unknown"])
    assert not volumes & _keys(after["diff"]["new"])
    assert volumes <= _keys(after["diff"]["unknown"])
    assert after["diff"]["new"] == []


def test_findings_of_an_account_that_could_not_be_reached_once_are_not_new_after(aws: None) -> None:
    _estate()
    payload = {
        "report_bucket": BUCKET,
        "notify_on": "never",
        "regions": [REGION],
        "accounts": [{"account_id": ACCOUNT, "role": "audit"}, {"account_id": HARDENED, "role": "audit"}],
    }
    unreachable = ErrorOn(lambda op, params: op == "AssumeRole" and HARDENED in params["RoleArn"], "AccessDenied")
    with shims():
        audit(payload)
        other = _keys(read_report()["findings"], account=HARDENED, status="FAIL")
        assert other
        with pytest.raises(RunFailed):
            audit(payload, attach=unreachable, now=NOW + timedelta(days=1))
        missed = read_report()
        audit(payload, now=NOW + timedelta(days=2))
        after = read_report()
    assert f"*|{HARDENED}|*" in missed["unaudited"]
    assert not other & _keys(missed["diff"]["resolved"])
    assert other <= _keys(missed["diff"]["unknown"])
    assert after["diff"]["new"] == []
    assert other <= _keys(after["diff"]["unknown"])
    assert after["diff"]["still_open"] == len(_keys(after["findings"], account=ACCOUNT, status="FAIL"))
