"""The resource audit fanned out under in-process moto: two accounts (assumed roles) x two regions, four units on
the unit queue worked by the event source mapping (tests/sqs_mapping.py). One final audit report per run, equal to
an inline run's; account-wide findings once per account whatever SQS does; a unit that never reports leaves its
scopes unaudited; the organization listed once per run."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from freezegun import freeze_time
from moto import mock_aws

from functions.resource_audit.task import TASK
from shared import fanout
from shared.aws import Clients
from tests.faults import CallLog, Crash
from tests.functional.snapshot_rotation import estate
from tests.helpers import FakeContext
from tests.sqs_mapping import EventSourceMapping

D0 = datetime(2026, 3, 2, 5, 30, tzinfo=UTC)
ACCOUNTS = ["123456789012", "111122223333"]
REGIONS = ["eu-west-1", "eu-west-2"]
CHECKS = [
    "ebs-volume-unattached",  # regional, a FAIL in every unit
    "ebs-snapshot-shared",  # regional, needs the organization's accounts
    "s3-bucket-versioning",  # account-wide, a FAIL per account
    "iam-password-policy",  # account-wide
]
BUCKET = estate.BUCKET
LATEST = "reports/resource-audit/latest.json"


@pytest.fixture
def frozen() -> Iterator[Any]:
    with mock_aws(), freeze_time(D0) as clock:
        yield clock


def session_for(account: str) -> boto3.Session:
    creds = (
        estate.session()
        .client("sts")
        .assume_role(RoleArn=f"arn:aws:iam::{account}:role/audit", RoleSessionName="seed")["Credentials"]
    )
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGIONS[0],
    )


@pytest.fixture
def organization(frozen: Any) -> None:
    """Per account: an unattached volume in each region, a bucket without versioning; the reports bucket."""
    for account in ACCOUNTS:
        session = session_for(account)
        for region in REGIONS:
            session.client("ec2", region_name=region).create_volume(Size=1, AvailabilityZone=f"{region}a")
        session.client("s3").create_bucket(
            Bucket=f"data-{account}", CreateBucketConfiguration={"LocationConstraint": REGIONS[0]}
        )
    estate.reports_bucket()


def queues() -> str:
    sqs = estate.session().client("sqs")
    dlq = sqs.create_queue(QueueName="audit-units-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})
    attrs = {"VisibilityTimeout": "900", "RedrivePolicy": redrive}
    url: str = sqs.create_queue(QueueName="audit-units", Attributes=attrs)["QueueUrl"]
    return url


def the_input(queue: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "regions": REGIONS,
        "accounts": [{"account_id": a, "role": "audit"} for a in ACCOUNTS],
        "report_bucket": BUCKET,
        "notify_on": "never",
        "checks": CHECKS,
        "unit_queue_url": queue,
        "fanout_above": 2,
    } | extra


def handler_with(
    calls: CallLog, hooks: Callable[[Any, dict[str, Any]], None] = lambda _s, _b: None
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The function's handler, a fresh session per invocation (a new container), every call logged."""

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        session = estate.session()
        calls.attach(session)
        body = json.loads(event["Records"][0]["body"]) if "Records" in event else {}
        hooks(session, body)
        return fanout.handle(TASK, event, context, clients=Clients(session))

    return handler


def latest() -> dict[str, Any]:
    body = estate.session().client("s3").get_object(Bucket=BUCKET, Key=LATEST)["Body"].read()
    data: dict[str, Any] = json.loads(body)
    return data


def audit_reports() -> list[str]:
    listed = estate.session().client("s3").list_objects_v2(Bucket=BUCKET, Prefix="reports/resource-audit/")
    return [o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith(".audit.html")]


def run_inline(calls: CallLog | None = None) -> dict[str, Any]:
    response = handler_with(calls or CallLog())(the_input(), FakeContext())
    assert len(response["units"]) == 4
    return latest()


def run_fanned_out(
    frozen: Any, calls: CallLog, hooks: Callable[[Any, dict[str, Any]], None] = lambda _s, _b: None, **mapping: Any
) -> tuple[dict[str, Any], EventSourceMapping]:
    queue = queues()
    handler = handler_with(calls, hooks)
    dispatched = handler(the_input(queue, **mapping.pop("extra", {})), FakeContext())
    assert dispatched["units"] == []  # fanned out: no unit ran inline
    esm = EventSourceMapping(
        estate.session().client("sqs"), queue, handler, tick=lambda s: frozen.tick(timedelta(seconds=s)), **mapping
    )
    esm.drain()
    return dispatched, esm


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """What an inline and a fanned-out run of one estate must agree on."""
    keep = ("complete", "accounts", "regions", "summary", "findings", "unaudited")
    # "new" is left out: the inline run is the first report, the fanned-out run is diffed against it
    per_account = [{k: v for k, v in row.items() if k != "new"} for row in report["per_account"]]
    return {k: report.get(k) for k in keep} | {"per_account": per_account}


def account_wide(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The account-wide findings, each as (check, account, resource): a duplicate would show twice."""
    return sorted(
        (f["check_id"], f["account"], f["resource"]) for f in report["findings"] if f["check_id"] in CHECKS[2:]
    )


ACCOUNT_WIDE = [
    ("iam-password-policy", "111122223333", "111122223333"),
    ("iam-password-policy", "123456789012", "123456789012"),
    ("s3-bucket-versioning", "111122223333", "data-111122223333"),
    ("s3-bucket-versioning", "123456789012", "data-123456789012"),
    ("s3-bucket-versioning", "123456789012", BUCKET),
]


def test_a_fanned_out_audit_writes_one_report_equal_to_an_inline_run_and_lists_the_organization_once(
    frozen: Any, organization: None
) -> None:
    inline = run_inline()
    assert {f["status"] for f in inline["findings"] if f["check_id"] == "ebs-volume-unattached"} == {"FAIL"}
    calls = CallLog()
    dispatched, esm = run_fanned_out(frozen, calls)

    fanned = latest()
    assert esm.outcomes == {"ok": 6}, esm.outcomes
    assert fanned["run_id"] == dispatched["run_id"]
    assert comparable(fanned) == comparable(inline)
    assert fanned["unaudited"] == []
    per_account = [(r["account"], r["regions"], r["by_status"]["FAIL"], r["new"]) for r in fanned["per_account"]]
    assert per_account == [("111122223333", REGIONS, 4, 0), ("123456789012", REGIONS, 5, 0)]  # none new since inline
    assert account_wide(fanned) == account_wide(inline) == ACCOUNT_WIDE
    assert len(audit_reports()) == 2  # one per run (dated), the fanned-out run's once
    assert esm.outcomes == {"ok": 6}  # four units, the run-wide step in its own invocation, the close message
    assert calls.operations("organizations") == {"ListAccounts": 1}  # by the dispatcher, for the whole run


def test_duplicates_reordering_and_a_killed_worker_still_give_the_account_wide_findings_once_per_account(
    frozen: Any, organization: None
) -> None:
    inline = run_inline()
    killed: list[str] = []

    def die_before_reporting_the_account_wide_audit(session: Any, body: dict[str, Any]) -> None:
        """The first worker of a unit that audits its account's account-wide services dies after the audit,
        as it writes the unit's result (the member accounts' calls go through sessions of their own)."""

        def crash(params: dict[str, Any], **_: Any) -> None:
            if "/units/" in params["Key"] and not killed:
                killed.append(body["region"])
                raise Crash

        if body.get("kind") == "unit" and body.get("leads"):
            session.events.register("provide-client-params.s3.PutObject", crash)

    _, esm = run_fanned_out(
        frozen,
        CallLog(),
        die_before_reporting_the_account_wide_audit,
        duplicate=lambda body: body["kind"] == "unit",
        reverse=True,
    )
    assert killed
    assert esm.outcomes["killed"] == 1
    fanned = latest()
    assert account_wide(fanned) == account_wide(inline) == ACCOUNT_WIDE
    assert comparable(fanned) == comparable(inline)


def test_a_unit_that_never_reports_leaves_its_scopes_unaudited_and_the_run_incomplete(
    frozen: Any, organization: None
) -> None:
    inline = run_inline()
    queue = queues()
    calls = CallLog()
    handler = handler_with(calls)
    handler(the_input(queue, run_deadline_seconds=3600), FakeContext())
    sqs = estate.session().client("sqs")
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    lost_account, lost_region = ACCOUNTS[1], REGIONS[1]  # not its account's first unit
    [lost] = [m for m in got if (json.loads(m["Body"])["account"], json.loads(m["Body"])["region"]) == (
        lost_account, lost_region)]  # fmt: skip
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=lost["ReceiptHandle"])
    EventSourceMapping(sqs, queue, handler, tick=lambda s: frozen.tick(timedelta(seconds=s))).drain()

    fanned = latest()
    assert fanned["complete"] is False
    assert fanned["unaudited"] == sorted(f"{c}|{lost_account}|{lost_region}" for c in CHECKS[:2])
    [row] = [r for r in fanned["per_account"] if r["account"] == lost_account]
    assert (row["regions"], row["unaudited"]) == ([REGIONS[0]], 2)
    # its volume failed last time; now it is neither resolved nor still failing: unknown
    unknown = [(f["check_id"], f["account"], f["region"]) for f in fanned["diff"]["unknown"]]
    assert ("ebs-volume-unattached", lost_account, lost_region) in unknown
    assert all(f["region"] != lost_region or f["account"] != lost_account for f in fanned["diff"]["resolved"])
    assert {(f["account"], f["region"]) for f in fanned["findings"]} == {
        (f["account"], f["region"]) for f in inline["findings"] if (f["account"], f["region"]) != (
            lost_account, lost_region)}  # fmt: skip


class RunningOut(FakeContext):
    """A context whose time runs out after ``calls`` reads of the remaining time (the lease's end and the unit's
    start have it; the account-wide audit's check does not)."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.left = calls

    def get_remaining_time_in_millis(self) -> int:
        self.left -= 1
        return 900_000 if self.left >= 0 else 0


def test_a_unit_out_of_time_before_its_account_wide_audit_continues_and_counts_once(
    frozen: Any, organization: None
) -> None:
    inline = run_inline()
    queue = queues()
    handler = handler_with(CallLog())
    first = {"account": ACCOUNTS[0], "region": REGIONS[0], "continuation": 0}

    def worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
        body = json.loads(event["Records"][0]["body"])
        short = all(body.get(k) == v for k, v in first.items())
        return handler(event, RunningOut(2) if short else context)

    handler(the_input(queue), FakeContext())
    esm = EventSourceMapping(
        estate.session().client("sqs"), queue, worker, tick=lambda s: frozen.tick(timedelta(seconds=s))
    ).drain()

    mine = [b["continuation"] for b in esm.bodies if (b.get("account"), b.get("region")) == (ACCOUNTS[0], REGIONS[0])]
    delivered = [(b.get("kind"), b.get("account"), b.get("region"), b.get("continuation")) for b in esm.bodies]
    assert mine == [0, 1], (esm.outcomes, delivered)
    fanned = latest()
    # the continuation audited the region again and the account-wide services: what it found counts, once
    assert comparable(fanned) == comparable(inline)
    assert account_wide(fanned) == ACCOUNT_WIDE


def test_workers_that_all_see_the_run_unclosed_build_the_audit_report_once(frozen: Any, organization: None) -> None:
    """Every worker's look at final.json answers 404 (as for workers that look at once, before any writes it): the
    conditional write of final.json still lets one of them finalize, and only after winning it."""
    run_inline()
    tries: list[str] = []

    def final_never_seen(session: Any, _body: dict[str, Any]) -> None:
        def not_found(params: dict[str, Any], **_: Any) -> Any:
            if params["url_path"].endswith("/final.json"):  # before-call: the request, not the API parameters
                tries.append(params["url_path"])
                return SimpleNamespace(status_code=404, headers={}), {
                    "Error": {"Code": "404", "Message": "Not Found"},
                    "ResponseMetadata": {"HTTPStatusCode": 404},
                }
            return None

        session.events.register("before-call.s3.HeadObject", not_found)

    calls = CallLog()
    run_fanned_out(
        frozen,
        calls,
        final_never_seen,
        duplicate=lambda body: body["kind"] == "unit",
        extra={"run_deadline_seconds": 900},
    )
    assert tries  # the last unit (and its duplicate, when it comes before the close) looked; once the run is
    # finished the close message looks at finished.json, not final.json
    written = [p["Key"] for svc, op, p in calls.calls if op == "PutObject" and p["Key"].endswith(".audit.html")]
    assert len(written) == 1  # dated; latest is another key
    assert len(audit_reports()) == 2  # the inline run's and the fanned-out run's


def _finished(run_id: str) -> list[str]:
    listed = estate.session().client("s3").list_objects_v2(Bucket=BUCKET, Prefix="reports/resource-audit/runs/")
    return [o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith(f"{run_id}/finished.json")]


def test_the_run_wide_step_has_an_invocation_of_its_own_and_a_worker_killed_in_it_is_delivered_again(
    frozen: Any, organization: None
) -> None:
    """The last unit to report only closes the run: the audit report is built by the finalize message's own
    invocation (a whole time budget); when that worker dies while writing it, SQS delivers the message again, the
    lease it left expires with its invocation, and the next delivery (or the close message) writes the report."""
    writers: list[str] = []

    def record_and_die_once(session: Any, body: dict[str, Any]) -> None:
        def put(params: dict[str, Any], **_: Any) -> None:
            if params["Key"].endswith(".audit.html"):
                writers.append(body.get("kind", "schedule"))
                if len(writers) == 1:
                    raise Crash

        session.events.register("before-parameter-build.s3.PutObject", put)

    dispatched, esm = run_fanned_out(frozen, CallLog(), record_and_die_once)
    assert writers[0] == "finalize", "never the last unit's worker"
    # after the killed invocation's lease expired: the finalize message delivered again, or the close message
    # (due at the same time here), whichever came first; the other finds the run completed
    assert len(writers) == 2
    assert writers[1] in ("finalize", "close")
    assert esm.outcomes["killed"] == 1
    assert len(audit_reports()) == 1
    assert latest()["run_id"] == dispatched["run_id"]
    assert len(_finished(dispatched["run_id"])) == 1


def test_a_run_whose_finalize_message_is_lost_is_completed_by_its_close_message(
    frozen: Any, organization: None
) -> None:
    writers: list[str] = []

    def lose_the_finalize_message(session: Any, body: dict[str, Any]) -> None:
        finalizing: list[bool] = []

        def look(params: dict[str, Any], **_: Any) -> None:
            finalizing[:] = [json.loads(params["MessageBody"]).get("kind") == "finalize"]

        def send(**_: Any) -> Any:
            if finalizing == [True]:  # SQS answers, and the message is never delivered
                return SimpleNamespace(status_code=200, headers={}), {"MessageId": "lost", "MD5OfMessageBody": ""}
            return None

        def put(params: dict[str, Any], **_: Any) -> None:
            if params["Key"].endswith(".audit.html"):
                writers.append(body.get("kind", "schedule"))

        session.events.register("before-parameter-build.sqs.SendMessage", look)
        session.events.register("before-call.sqs.SendMessage", send)
        session.events.register("before-parameter-build.s3.PutObject", put)

    dispatched, esm = run_fanned_out(frozen, CallLog(), lose_the_finalize_message, extra={"run_deadline_seconds": 900})
    assert writers == ["close"]
    assert esm.outcomes == {"ok": 5}  # four units and the close message
    assert latest()["run_id"] == dispatched["run_id"]
    assert len(_finished(dispatched["run_id"])) == 1


def test_a_finalize_message_delivered_twice_side_by_side_builds_the_audit_report_once(
    frozen: Any, organization: None
) -> None:
    calls = CallLog()
    dispatched, esm = run_fanned_out(frozen, calls, duplicate=lambda body: body["kind"] == "finalize")
    written = [p["Key"] for svc, op, p in calls.calls if op == "PutObject" and p["Key"].endswith(".audit.html")]
    assert len(written) == 1, (esm.outcomes, [b["kind"] for b in esm.bodies])
    assert esm.outcomes["item failures"] == 1, (esm.outcomes, [b["kind"] for b in esm.bodies])
    assert latest()["run_id"] == dispatched["run_id"]
    assert len(_finished(dispatched["run_id"])) == 1
