"""An audited estate under in-process moto: two accounts (one hardened), one region, something for every check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from cli.demo.resource_audit import moto_audit_shims, seed_account, seed_region
from cli.moto_lambda import set_code_quota
from shared.aws import Clients
from shared.runner import execute
from tests.faults import CallLog
from tests.helpers import REGION, FakeContext

ACCOUNT = "123456789012"
HARDENED = "111122223333"
BUCKET = "devops-tasks-reports"
NOW = datetime.now(UTC).replace(microsecond=0)


def session_for(account: str) -> boto3.Session:
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/audit", RoleSessionName="seed"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )


def seed(now: datetime = NOW) -> dict[str, dict[str, str]]:
    """Both accounts: regional resources, account-wide ones; EBS encryption by default on in the hardened one."""
    ids = {}
    for account, hardened in ((ACCOUNT, False), (HARDENED, True)):
        session = session_for(account)

        def client(service: str, region: str, s: boto3.Session = session) -> Any:
            return s.client(service, region_name=region)  # type: ignore[call-overload]

        ids[account] = seed_region(client, account, REGION, now)
        ids[account] |= seed_account(client, account, REGION, now, hardened=hardened)
        if hardened:
            client("ec2", REGION).enable_ebs_encryption_by_default()
            client("guardduty", REGION).create_detector(Enable=True)
        else:  # code storage at 90% of a quota this small
            used = client("lambda", REGION).get_account_settings()["AccountUsage"]["TotalCodeSize"]
            set_code_quota(account, REGION, int(used / 0.9))
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return ids


def event(**extra: Any) -> dict[str, Any]:
    return {
        "regions": [REGION],
        "accounts": [{"account_id": ACCOUNT, "role": "audit"}, {"account_id": HARDENED, "role": "audit"}],
        "report_bucket": BUCKET,
        "notify_on": "never",
    } | extra


@contextmanager
def shims() -> Iterator[None]:
    """Root rows: the plain account has root keys and no MFA, and its root signed in 3 days ago; the hardened one
    has MFA and no keys, and its root has not signed in."""
    with moto_audit_shims({ACCOUNT: (False, True), HARDENED: (True, False)}, {ACCOUNT: NOW - timedelta(days=3)}):
        yield


def audit(payload: dict[str, Any], *, log: CallLog | None = None, now: datetime = NOW, attach: Any = None) -> Any:
    """Run the task through the shared runner with clients whose calls can be counted or faulted."""
    from functions.resource_audit.task import TASK

    session = boto3.Session(region_name=REGION)
    if log is not None:
        log.attach(session)
    if attach is not None:
        attach.attach(session)
    return execute(TASK, payload, FakeContext(), clients=Clients(session), clock=lambda: now)


def read_report(key: str = "reports/resource-audit/latest.json") -> dict[str, Any]:
    import json

    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    data: dict[str, Any] = json.loads(body)
    return data
