"""One check that raises (here: on data AWS returned in a shape it does not expect) is an ERROR finding of that
check naming the exception, counted in ``check_errors``; every other finding of the unit is kept."""

from __future__ import annotations

from typing import Any

import boto3

from tests.functional.resource_audit.estate import BUCKET, audit, read_report, shims
from tests.helpers import REGION

PAYLOAD = {"report_bucket": BUCKET, "notify_on": "never", "regions": [REGION]}


class StripVolumeIds:
    """Takes ``VolumeId`` out of every volume DescribeVolumes returns (after parsing, before the code sees it)."""

    def attach(self, session: boto3.Session) -> None:
        session.events.register("after-call.ec2.DescribeVolumes", self._strip)

    @staticmethod
    def _strip(parsed: dict[str, Any], **_: Any) -> None:
        for volume in parsed.get("Volumes", []):
            volume.pop("VolumeId", None)


def _estate() -> None:
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    boto3.client("ec2", region_name=REGION).create_volume(AvailabilityZone=f"{REGION}a", Size=1)
    boto3.client("iam").create_user(UserName="carol")


def test_a_check_that_raises_is_an_error_finding_and_the_unit_keeps_its_other_findings(aws: None) -> None:
    _estate()
    with shims():
        response = audit(PAYLOAD, attach=StripVolumeIds())
    findings = read_report()["findings"]
    errors = {f["check_id"]: f for f in findings if f["status"] == "ERROR"}
    assert "ebs-volume-unattached" in errors
    assert errors["ebs-volume-unattached"]["resource"] == "*"
    assert "KeyError" in errors["ebs-volume-unattached"]["evidence"]
    assert "VolumeId" in errors["ebs-volume-unattached"]["evidence"]
    kept = {f["check_id"] for f in findings if f["status"] != "ERROR"}
    # the account-wide checks of the same unit, and the regional checks that do not read volumes
    assert {"iam-user-console-no-mfa", "s3-bucket-versioning", "cloudtrail-multi-region-logging"} <= kept
    assert {"ec2-sg-open-admin-ports", "ebs-encryption-by-default"} <= kept
    assert response["status"] == "succeeded"
    check_errors = sum(u["counts"].get("check_errors", 0) for u in response["units"])
    assert check_errors == len([f for f in findings if f["status"] == "ERROR"]) >= 1
    assert read_report()["summary"]["checks_in_error"] == sorted(errors)


class GarbleCredentialReport:
    """GetCredentialReport answers with bytes that are not UTF-8 text."""

    def attach(self, session: boto3.Session) -> None:
        session.events.register("after-call.iam.GetCredentialReport", self._garble)

    @staticmethod
    def _garble(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Content"] = b"\xff\xfe\x00garbled"


def test_a_response_the_inventory_cannot_read_errors_only_the_checks_that_need_it(aws: None) -> None:
    _estate()
    with shims():
        response = audit(PAYLOAD, attach=GarbleCredentialReport())
    findings = read_report()["findings"]
    errored = {f["check_id"] for f in findings if f["status"] == "ERROR"}
    assert errored == {
        "iam-user-console-no-mfa",
        "iam-access-key-old",
        "iam-credentials-unused",
        "iam-root-used-recently",
    }
    assert all("UnicodeDecodeError" in f["evidence"] for f in findings if f["status"] == "ERROR")
    assert {"s3-bucket-versioning", "iam-root-mfa", "ebs-volume-unattached"} <= {
        f["check_id"] for f in findings if f["status"] in ("PASS", "FAIL")
    }
    assert response["status"] == "succeeded"
