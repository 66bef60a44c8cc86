"""An audited estate under in-process moto: two accounts (one hardened), one region, something for every check."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.handlers import BUILTIN_HANDLERS

from cli.demo.resource_audit import moto_audit_shims, seed_account, seed_region
from cli.moto_lambda import set_code_quota
from shared.aws import Clients
from shared.runner import execute
from tests.faults import UNROUTABLE, CallLog, _Raw
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


def analyzer(name: str, kind: str = "ACCOUNT", status: str = "ACTIVE") -> dict[str, Any]:
    return {"arn": f"arn:aws:access-analyzer:{REGION}:{ACCOUNT}:analyzer/{name}", "name": name, "type": kind,
            "createdAt": "2025-01-01T00:00:00Z", "status": status}  # fmt: skip


class AccessAnalyzers:
    """Serves ListAnalyzers, which moto does not implement, as AWS does: JSON pages of ``page`` analyzers with a
    nextToken while more remain, botocore parsing the body as it would AWS's. Registered for every session made
    while serving (the task's assumed-role sessions too); ``accounts`` answers per account (moto's account of the
    request's access key), ``analyzers`` every other account."""

    def __init__(
        self,
        analyzers: list[dict[str, Any]],
        page: int = 100,
        accounts: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        self.analyzers, self.page, self.accounts = analyzers, page, accounts or {}
        self.requests: list[dict[str, list[str]]] = []

    @contextmanager
    def serving(self) -> Iterator[AccessAnalyzers]:
        handler = ("before-send.accessanalyzer.ListAnalyzers", self._send)
        BUILTIN_HANDLERS.append(handler)
        try:
            yield self
        finally:
            BUILTIN_HANDLERS.remove(handler)

    def _send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        from moto.iam.models import get_account_id_from

        query = parse_qs(urlsplit(request.url).query)
        self.requests.append(query)
        key = re.search(r"Credential=([^/]+)/", request.headers.get("Authorization", b"").decode())
        served = self.accounts.get(get_account_id_from(key.group(1)) if key else "", self.analyzers)
        start = int(query.get("nextToken", ["0"])[0])
        size = min(int(query.get("maxResults", [str(self.page)])[0]), self.page)
        body: dict[str, Any] = {"analyzers": served[start : start + size]}
        if start + size < len(served):
            body["nextToken"] = str(start + size)
        url, request.url = request.url, UNROUTABLE
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": "r"}
        return AWSResponse(url, 200, headers, _Raw(json.dumps(body).encode()))  # type: ignore[arg-type]


ANALYZERS = AccessAnalyzers([], accounts={HARDENED: [analyzer("external")]})
"""The estate's: an active analyzer in the hardened account only."""


def audit(
    payload: dict[str, Any],
    *,
    log: CallLog | None = None,
    now: datetime = NOW,
    attach: Any = None,
    analyzers: AccessAnalyzers | None = None,
) -> Any:
    """Run the task through the shared runner with clients whose calls can be counted or faulted; ListAnalyzers
    answers as in ``ANALYZERS`` unless ``analyzers`` says otherwise."""
    from functions.resource_audit.task import TASK

    with (analyzers or ANALYZERS).serving():
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
