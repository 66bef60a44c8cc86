"""The optional Security Hub export under moto: at most 100 findings a call, a re-run updates rather than adds,
resolved findings are archived, a partial failure is the run's failure, a dry run sends nothing, and each account
imports its own findings. moto checks only that a finding has resources, so the ASFF rules are held in
tests/unit/resource_audit/test_asff.py, and the batch size here in the requests themselves."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from shared.errors import RunFailed
from tests.faults import CallLog, _api_params, _events
from tests.functional.resource_audit.estate import ACCOUNT, BUCKET, HARDENED, NOW, audit, read_report, session_for
from tests.helpers import REGION

VOLUME_CHECKS = ["ebs-volume-unattached", "ebs-volume-gp2", "ebs-volume-unencrypted", "tags-required-ec2"]
PAYLOAD = {
    "report_bucket": BUCKET,
    "notify_on": "never",
    "regions": [REGION],
    "security_hub": {"enabled": True},
    "checks": VOLUME_CHECKS,  # four findings per volume, and a quick audit
}


def _estate(volumes: int) -> list[str]:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    ec2 = boto3.client("ec2", region_name=REGION)
    return [ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"] for _ in range(volumes)]


def _hub_findings(session: boto3.Session | None = None) -> list[dict[str, Any]]:
    client = (session or boto3.Session(region_name=REGION)).client("securityhub", region_name=REGION)
    return [f for page in client.get_paginator("get_findings").paginate() for f in page["Findings"]]


def _failures(failed: RunFailed) -> list[dict[str, Any]]:
    units: list[dict[str, Any]] = failed.report["units"]  # type: ignore[assignment]
    return [f for u in units for f in u["failures"]]


def _sent(log: CallLog) -> list[list[dict[str, Any]]]:
    return [params["Findings"] for svc, op, params in log.calls if op == "BatchImportFindings"]


def test_findings_go_in_batches_of_at_most_100_and_a_rerun_updates_them(aws: None) -> None:
    _estate(30)
    log = CallLog()
    audit(PAYLOAD, log=log)
    batches = _sent(log)
    failing = [f for f in read_report()["findings"] if f["status"] == "FAIL"]
    assert len(failing) > 100  # more than one batch
    assert [len(b) for b in batches] == [100] * (len(failing) // 100) + [len(failing) % 100]
    first = {f["Id"]: f for f in _hub_findings()}
    assert len(first) == len(failing)
    assert {f["RecordState"] for f in first.values()} == {"ACTIVE"}

    audit(PAYLOAD, now=NOW + timedelta(hours=1))
    again = {f["Id"]: f for f in _hub_findings()}
    assert set(again) == set(first), "the same ids: updated, not duplicated"
    assert {f["UpdatedAt"] for f in again.values()} != {f["UpdatedAt"] for f in first.values()}


def test_resolved_findings_are_archived(aws: None) -> None:
    volumes = _estate(3)
    audit(PAYLOAD)
    boto3.client("ec2", region_name=REGION).delete_volume(VolumeId=volumes[0])
    log = CallLog()
    audit(PAYLOAD, log=log, now=NOW + timedelta(hours=1))
    resolved = read_report()["diff"]["resolved"]
    assert resolved
    assert {f["resource"] for f in resolved} == {volumes[0]}
    hub = _hub_findings()
    gone = [f for f in hub if f["Resources"][0]["Id"].endswith(volumes[0])]
    assert gone
    assert {f["RecordState"] for f in gone} == {"ARCHIVED"}
    assert {f["Compliance"]["Status"] for f in gone} == {"PASSED"}
    others = [f for f in hub if f not in gone]
    assert others
    assert {f["RecordState"] for f in others} == {"ACTIVE"}
    archived_sent = [f for b in _sent(log) for f in b if f["RecordState"] == "ARCHIVED"]
    assert len(archived_sent) == len(resolved)


class PartialFailure:
    """Security Hub's answer to a batch where it refuses some findings (FailedFindings), as AWS sends it."""

    def __init__(self, refuse: int) -> None:
        self.refuse = refuse
        self.refused: list[str] = []

    def attach(self, session: boto3.Session) -> PartialFailure:
        _events(session).register_first("before-call.securityhub.BatchImportFindings", self._answer)
        return self

    def _answer(self, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        findings = _api_params(context)["Findings"]
        bad = [f["Id"] for f in findings[: self.refuse]]
        self.refused += bad
        failed = [{"Id": i, "ErrorCode": "InvalidInput", "ErrorMessage": "Finding too large"} for i in bad]
        body = {"FailedCount": len(bad), "SuccessCount": len(findings) - len(bad), "FailedFindings": failed}
        return AWSResponse("", 200, {}, None), body | {"ResponseMetadata": {"HTTPStatusCode": 200}}  # type: ignore[arg-type]


def test_findings_security_hub_refuses_fail_the_run_after_the_report_is_written(aws: None) -> None:
    _estate(2)
    refusing = PartialFailure(refuse=1)
    with pytest.raises(RunFailed) as failed:
        audit(PAYLOAD, attach=refusing)
    failures = [f for f in _failures(failed.value) if f["operation"] == "securityhub:BatchImportFindings"]
    assert [f["resource"] for f in failures] == refusing.refused
    assert {f["error_code"] for f in failures} == {"InvalidInput"}
    assert read_report()["findings"], "the audit report is written all the same"


def test_security_hub_not_enabled_fails_the_run_and_the_report_is_still_written(aws: None) -> None:
    from tests.faults import ErrorOn

    _estate(1)
    off = ErrorOn(lambda op, params: op == "BatchImportFindings", "InvalidAccessException", status=401)
    with pytest.raises(RunFailed) as failed:
        audit(PAYLOAD, attach=off)
    [failure] = [f for f in _failures(failed.value) if f["operation"].startswith("securityhub")]
    assert failure["error_code"] == "InvalidAccessException"
    assert read_report()["findings"]


def test_a_dry_run_sends_nothing_and_says_what_it_would_send(aws: None) -> None:
    _estate(2)
    log = CallLog()
    response = audit(PAYLOAD | {"dry_run": True}, log=log)
    assert _sent(log) == []
    assert any("Security Hub (dry run" in n for n in response["notes"])
    assert _hub_findings() == []


def test_the_export_is_off_by_default(aws: None) -> None:
    _estate(2)
    log = CallLog()
    audit({k: v for k, v in PAYLOAD.items() if k != "security_hub"}, log=log)
    assert log.operations("securityhub") == {}


def test_each_account_imports_its_own_findings_with_its_own_credentials(aws: None) -> None:
    _estate(0)
    for account in (ACCOUNT, HARDENED):
        session_for(account).client("ec2").create_volume(AvailabilityZone=f"{REGION}a", Size=1)
    accounts = [{"account_id": ACCOUNT, "role": "audit"}, {"account_id": HARDENED, "role": "audit"}]
    audit(PAYLOAD | {"accounts": accounts})
    for account in (ACCOUNT, HARDENED):
        mine = _hub_findings(session_for(account))
        assert len(mine) == 4
        assert {f["AwsAccountId"] for f in mine} == {account}
        assert {f["ProductArn"] for f in mine} == {f"arn:aws:securityhub:{REGION}:{account}:product/{account}/default"}
