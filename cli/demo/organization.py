"""Demo: a small AWS Organization, its snapshot rotation fanned out over the unit queue, the final per-account table.

The management account (the demo's own) holds an organization of three OUs (one nested) and five member accounts,
each with the member role (deploy/member-role.yml, through CloudFormation) and a small estate in two regions. The
rotation runs over ``accounts: {"organization": ...}``: the handler is invoked with the schedule's event as the
dispatcher, then :class:`cli.sqs.SqsPoller` works the unit queue as Lambda's event source mapping would.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.table import Table

from cli import member_role, registry
from cli.demo import DemoEnv
from cli.local import invoke
from cli.sqs import Delivery, SqsPoller, queue_depth
from shared.aws import new_session
from shared.fanout import FanOutSettings
from shared.report import AccountTotals, RunReport, by_account, total_of
from shared.runstore import RunStore

TITLE = "An AWS Organization, fanned out: snapshot rotation and resource audit over 5 member accounts"
TASK = "snapshot-rotation"
AUDIT = "resource-audit"
AUDIT_CHECKS = ["ebs-volume-unattached", "ebs-snapshot-shared", "iam-password-policy"]
"""A few checks, regional and account-wide, that the seeded estates answer (every volume there is unattached)."""
FINDINGS = {f"findings_{s}": s.upper() for s in ("fail", "pass", "suppressed", "error")}
ORG_ID_ROLE = "OrganizationAccountAccessRole"
"""The role Organizations creates in the accounts it creates: the demo deploys and seeds through it."""
MANAGED = [{"Key": "devops-tasks:managed", "Value": "true"}, {"Key": "devops-tasks:policy", "Value": "default"}]
KEEP_DAYS = 3
"""The demo policy keeps the newest snapshot of each of the newest 3 days (and the newest 3): older ones expire."""
FANOUT_ABOVE = 4
MAX_CONCURRENCY = 4
"""The event source mapping's ScalingConfig.MaximumConcurrency in serverless.yml."""
OUS = {"workloads": None, "prod": "workloads", "sandbox": None}
"""The OUs and their parent OU (None: the root)."""
ACCOUNTS = {"platform": "workloads", "prod-a": "prod", "prod-b": "prod", "sandbox-a": "sandbox", "sandbox-b": "sandbox"}
HISTORY = {"platform": [5, 2], "prod-a": [6, 4], "prod-b": [3, 5], "sandbox-a": [4, 0], "sandbox-b": [2, 6]}
"""Per account, the daily snapshots each Backup=true volume already has (one a day, 1..n days old)."""


@dataclass
class Org:
    root: str
    ous: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)
    """Account ids by name."""

    def name_of(self, account: str) -> str:
        return next((n for n, a in self.accounts.items() if a == account), "")

    def ou_path(self, account: str) -> str:
        ou, path = ACCOUNTS.get(self.name_of(account)), list[str]()
        while ou is not None:
            path.insert(0, ou)
            ou = OUS[ou]
        return "/".join(path)


def create_organization(env: DemoEnv) -> Org:
    org: Any = env.client("organizations")
    org.create_organization(FeatureSet="ALL")
    found = Org(root=org.list_roots()["Roots"][0]["Id"])
    for name, parent in OUS.items():
        parent_id = found.ous[parent] if parent else found.root
        found.ous[name] = org.create_organizational_unit(ParentId=parent_id, Name=name)["OrganizationalUnit"]["Id"]
    for name, ou in ACCOUNTS.items():
        made = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
        found.accounts[name] = made["AccountId"]
        org.move_account(AccountId=made["AccountId"], SourceParentId=found.root, DestinationParentId=found.ous[ou])
    return found


def member_session(env: DemoEnv, account: str, role: str = ORG_ID_ROLE) -> Any:
    creds = env.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="demo")
    c = creds["Credentials"]
    return new_session(  # botocore's models loaded once for every session
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
        region_name=env.region,
    )


def deploy_member_role(env: DemoEnv, session: Any, org_id: str) -> str:
    """The member role stack in one account, as the StackSet deploys it; returns the stack's status."""
    stack = member_role.deploy(
        session.client("cloudformation"),
        organization_id=org_id,
        deployment_account=env.account,
        deployment_stack="devops-tasks-demo",
    )
    return str(stack["StackStatus"])


def _age(account: str, region: str, snapshot_id: str, at: datetime) -> None:
    from moto.ec2.models import ec2_backends

    snap = ec2_backends[account][region].snapshots[snapshot_id]
    snap.start_time = at.replace(tzinfo=None)
    snap.status = "completed"


def seed(session: Any, account: str, region: str, history: list[int], now: datetime) -> dict[str, int]:
    """Backup=true volumes with ``history`` daily snapshots each, an untagged volume, a snapshot taken by hand;
    returns what the rotation should do there."""
    ec2 = session.client("ec2", region_name=region)
    expected: Counter[str] = Counter()
    for i, days in enumerate(history):
        tags = [{"Key": "Name", "Value": f"app-{i}"}, {"Key": "Backup", "Value": "true"}]
        vid = ec2.create_volume(
            AvailabilityZone=f"{region}a", Size=8, TagSpecifications=[{"ResourceType": "volume", "Tags": tags}]
        )["VolumeId"]
        for day in range(1, days + 1):
            snap = ec2.create_snapshot(
                VolumeId=vid,
                TagSpecifications=[
                    {"ResourceType": "snapshot", "Tags": [*MANAGED, {"Key": "devops-tasks:volume-id", "Value": vid}]}
                ],
            )
            _age(account, region, snap["SnapshotId"], now - timedelta(days=day, hours=1))
        expected["volumes"] += 1
        expected["snapshots"] += days
        expected["created"] += 1
        expected["kept"] += min(days, KEEP_DAYS)
        expected["deleted"] += max(0, days - KEEP_DAYS)
        expected["copied"] += int(days > 0)
    other = ec2.create_volume(AvailabilityZone=f"{region}a", Size=4)["VolumeId"]
    by_hand = ec2.create_snapshot(VolumeId=other, Description="taken by hand")["SnapshotId"]
    _age(account, region, by_hand, now - timedelta(days=400))
    expected["unmanaged snapshots"] += 1
    expected["unattached volumes"] = len(history) + 1  # what the audit's ebs-volume-unattached finds failing
    return dict(expected)


@contextlib.contextmanager
def function_environment(**values: str) -> Iterator[None]:
    """The function's environment variables, as serverless.yml sets them, while the handler runs here."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def counting_calls() -> Iterator[Counter[str]]:
    """Counts the AWS API calls this process makes meanwhile, by operation (botocore's client, every session)."""
    from botocore.client import BaseClient

    counted: Counter[str] = Counter()
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def counting(self: Any, operation_name: str, api_params: Any) -> Any:
        counted[operation_name] += 1
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = counting  # type: ignore[attr-defined]
    try:
        yield counted
    finally:
        BaseClient._make_api_call = original  # type: ignore[attr-defined]


def scheduled_event(env: DemoEnv, org: Org, info: registry.FunctionInfo, **fields: Any) -> dict[str, Any]:
    """What EventBridge Scheduler sends the task: its first policy's input with the schedule's own fields
    (config/load.js), over the organization's OUs, fanned out above ``FANOUT_ABOVE`` units; ``fields`` on top."""
    policy_name = next(iter(info.policies or {}), "daily")
    return (
        (info.schedule_input() or {})
        | {
            "regions": [env.region, env.other_region],
            "accounts": {"organization": {"include_ous": [org.ous["workloads"], org.ous["sandbox"]]}},
            "fanout_above": FANOUT_ABOVE,
            "continuation_delay_seconds": 0,
            "schedule": {
                "policy": policy_name,
                "scheduled_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "execution_id": str(uuid.uuid4()),
            },
        }
        | fields
    )


def rotation_event(env: DemoEnv, org: Org, info: registry.FunctionInfo, *, dry_run: bool) -> dict[str, Any]:
    """The rotation's scheduled event with the demo's policy: the newest 3 days kept, a DR copy."""
    policy = dict((info.schedule_input() or {}).get("policy", {}))
    policy["retention"] = {"keep_last": KEEP_DAYS, "daily": KEEP_DAYS, "weekly": 0, "monthly": 0, "yearly": 0}
    policy["dr"] = {"region": env.dr_region}
    return scheduled_event(env, org, info, policy=policy, dry_run=dry_run)


def unit_queue(env: DemoEnv, task: str) -> str:
    """The task's unit queue and its dead-letter queue (3 deliveries), as serverless.yml deploys them."""
    sqs = env.client("sqs")
    dlq = sqs.create_queue(QueueName=f"devops-tasks-demo-{task}-units-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url: str = sqs.create_queue(
        QueueName=f"devops-tasks-demo-{task}-units",
        Attributes={
            "VisibilityTimeout": "5400",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
        },
    )["QueueUrl"]
    return url


@dataclass
class FannedOut:
    dispatcher: dict[str, Any]
    sends: int
    final: RunReport
    final_key: str
    location: str
    deliveries: int


def fan_out(
    env: DemoEnv, org: Org, info: registry.FunctionInfo, queue_url: str, event: dict[str, Any], label: str
) -> FannedOut:
    """Dispatch a run with the scheduled ``event``, work its unit queue until the run closes, read its final
    report."""
    with function_environment(DEVOPS_TASKS_UNIT_QUEUE_URL=queue_url):
        return _fan_out(env, org, info, queue_url, event, label)


def _fan_out(
    env: DemoEnv, org: Org, info: registry.FunctionInfo, queue_url: str, event: dict[str, Any], label: str
) -> FannedOut:
    with counting_calls() as calls:
        dispatched = invoke(info, event)
    resp = dispatched.response or {}
    if not dispatched.ok or not resp.get("run_id"):
        raise RuntimeError(f"the dispatcher failed: {dispatched.kind}: {dispatched.error}")
    depth = queue_depth(env.client("sqs"), queue_url)
    units = depth["ApproximateNumberOfMessages"]
    delayed = depth["ApproximateNumberOfMessagesDelayed"]
    env.console.print(
        f"{label}: the scheduled invocation (the dispatcher) sent {units} unit messages in "
        f"{calls['SendMessageBatch']} SendMessageBatch call(s) and its close message, delayed to the run's deadline "
        f"({delayed} delayed on the queue now), and returned; its own report says: {' '.join(resp.get('notes', []))}"
    )
    done: list[Delivery] = []

    def worker(event: dict[str, Any]) -> dict[str, Any]:
        outcome = invoke(info, event)  # the function's real handler, as Lambda invokes it for the mapping
        if not outcome.ok:
            raise RuntimeError(f"{outcome.kind}: {outcome.error}")
        return outcome.response or {}

    def progress(deliveries: list[Delivery]) -> None:
        done.extend(deliveries)
        shown = ", ".join(
            f"{org.name_of(d.body.get('account', ''))} {d.body.get('region')}: {d.outcome}" for d in deliveries
        )
        env.console.print(f"  [{len(done):2d}/{units}] {shown}")

    poller = SqsPoller(env.client("sqs"), queue_url, worker, concurrency=MAX_CONCURRENCY, on_round=progress)
    left = poller.work_visible()
    store = RunStore.of(env.client("s3"), env.report_bucket, "reports", info.task_name, resp["run_id"])
    text = store.get(store.final_key)
    if text is None:
        raise RuntimeError(f"no final report at s3://{env.report_bucket}/{store.final_key} once the queue was worked")
    env.console.print(
        f"{label}: the last unit to report closed the run (s3://{env.report_bucket}/{store.final_key}); the close "
        f"message ({left['ApproximateNumberOfMessagesDelayed']} delayed until the run's deadline) is not needed and "
        "is not waited for: when it comes, it finds the run closed"
    )
    return FannedOut(
        dispatcher=resp,
        sends=calls["SendMessageBatch"],
        final=_report(text),
        final_key=store.final_key,
        location=str(resp.get("location")),
        deliveries=len(done),
    )


def _report(text: str) -> RunReport:
    data = json.loads(text)
    data.pop("status", None)  # computed from the failures and completeness, not an input
    return RunReport.model_validate(data)


COLUMNS = {
    "deleted": "deleted",
    "kept": "kept",
    "copied": "copied",
    "created": "created",
}
PLANNED = {"delete_planned": "to delete", "kept": "kept", "copy_planned": "to copy", "create_planned": "to create"}


def table_rows(report: RunReport, org: Org) -> list[dict[str, Any]]:
    """The final report's per-account rows and the total row, as JSON-ready dicts."""
    rows = by_account(report.units)
    out = [_row(r, org.name_of(r.account), org.ou_path(r.account)) for r in rows]
    out.append(_row(total_of(rows), "", ""))
    return out


def _row(totals: AccountTotals, name: str, ou: str) -> dict[str, Any]:
    return totals.model_dump() | {"name": name, "ou": ou}


def render(title: str, rows: list[dict[str, Any]], columns: dict[str, str]) -> Table:
    table = Table(title=title)
    for col in ("account", "name", "OU", "regions", "units ok", "failed", "incomplete", *columns.values(), "failures"):
        table.add_column(col, justify="left" if col in ("account", "name", "OU", "regions") else "right")
    for row in rows:
        total = row["account"] == "total"
        table.add_row(
            row["account"],
            row["name"],
            row["ou"],
            f"{len(row['regions'])}" if total else ", ".join(row["regions"]),
            str(row["ok"]),
            str(row["failed"]),
            str(row["incomplete"]),
            *[str(row["counts"].get(k, 0)) for k in columns],
            str(row["failures"]),
            style="bold" if total else None,
            end_section=row is rows[-2],
        )
    return table


def run(env: DemoEnv) -> None:
    now = datetime.now(UTC)
    org = create_organization(env)
    org_id = env.client("organizations").describe_organization()["Organization"]["Id"]
    regions = [env.region, env.other_region]
    seeded: dict[str, dict[str, Any]] = {}
    for name, account in org.accounts.items():
        session = member_session(env, account)
        status = deploy_member_role(env, session, org_id)
        per_region = {r: seed(session, account, r, HISTORY[name], now) for r in regions}
        seeded[account] = {"name": name, "ou": org.ou_path(account), "member_role": status, "regions": per_region}
    shown = Table(title=f"organization {org_id}: member accounts (the management account {env.account} is in the root)")
    for col in ("account", "name", "OU", "member role stack", "volumes", "snapshots", "expire by policy"):
        shown.add_column(col)
    for account, s in seeded.items():
        per = s["regions"].values()
        shown.add_row(
            account,
            s["name"],
            s["ou"],
            s["member_role"],
            str(sum(p["volumes"] for p in per)),
            str(sum(p["snapshots"] for p in per)),
            str(sum(p["deleted"] for p in per)),
        )
    env.console.print(shown)
    env.write("organization/seeded.json", seeded)

    queue_url = unit_queue(env, TASK)
    default = FanOutSettings.model_fields["fanout_above"].default
    env.console.print(
        f"{len(org.accounts)} accounts x {len(regions)} regions = {len(org.accounts) * len(regions)} units; "
        f"production's fanout_above is {default} (inline up to {default} units), the demo lowers it to {FANOUT_ABOVE} "
        "to show the fan-out; continuation_delay_seconds 0, so a continuation costs no waiting here"
    )

    info = registry.find(TASK)  # (once: it reads every serverless.yml)
    plan = fan_out(env, org, info, queue_url, rotation_event(env, org, info, dry_run=True), "dry run")
    plan_rows = table_rows(plan.final, org)
    env.console.print(render(f"dry run, final report: the plan per account ({plan.final.status})", plan_rows, PLANNED))
    env.write("organization/dry-run-final-report.json", json.loads(plan.final.to_json()))

    real = fan_out(env, org, info, queue_url, rotation_event(env, org, info, dry_run=False), "run")
    rows = table_rows(real.final, org)
    table = render(f"final report per account ({real.final.status})", rows, COLUMNS)
    env.console.print(table)
    env.console.print(
        f"final report: s3://{env.report_bucket}/{real.final_key} (and at the run's dated key, {real.location}); "
        f"{len(real.final.units)} units, {real.deliveries} deliveries, {real.sends} SendMessageBatch calls"
    )
    env.write("organization/final-report.json", json.loads(real.final.to_json()))
    env.write(
        "organization/accounts.json",
        {"run_id": real.final.run_id, "final_key": real.final_key, "location": real.location, "rows": rows},
    )
    write_table(env, "accounts.txt", table)
    env.console.print(f"written: {env.out}/organization/ (final-report.json, accounts.json, accounts.txt)")
    audit(env, org)


def write_table(env: DemoEnv, name: str, table: Table) -> None:
    from rich.console import Console

    with open(env.out / "organization" / name, "w") as text:
        Console(file=text, width=160, color_system=None).print(table)


def audit(env: DemoEnv, org: Org) -> None:
    """The resource audit over the same organization, fanned out: one audit report, its per-account summary."""
    from cli.demo.resource_audit import moto_audit_shims

    info = registry.find(AUDIT)
    queue_url = unit_queue(env, AUDIT)
    env.console.print(
        f"resource audit over the organization, fanned out the same way (checks: {', '.join(AUDIT_CHECKS)})"
    )
    event = scheduled_event(env, org, info, checks=AUDIT_CHECKS, notify_on="never")
    with moto_audit_shims():
        done = fan_out(env, org, info, queue_url, event, "audit")
    rows = table_rows(done.final, org)
    table = render(f"resource audit, final report per account ({done.final.status})", rows, FINDINGS)
    env.console.print(table)
    dated = env.client("s3").get_object(Bucket=env.report_bucket, Key=done.location.split("/", 3)[3])
    links = json.loads(dated["Body"].read()).get("links", {})
    audit_json = str(links.get("json", ""))
    bucket, _, key = audit_json.removeprefix("s3://").partition("/")
    report = json.loads(env.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    by_account = report["summary"]["by_account"]
    per_account = report.get("per_account", [])
    summary = Table(title="the audit report's per-account summary")
    for col in ("account", "name", "OU", "regions audited", "FAIL", "PASS", "ERROR", "FAIL by severity", "new"):
        summary.add_column(col, justify="right" if col in ("FAIL", "PASS", "ERROR", "new") else "left")
    for row in per_account:
        status, account = row["by_status"], row["account"]
        severities = ", ".join(f"{k.lower()} {n}" for k, n in row["by_severity"].items() if n)
        summary.add_row(
            account,
            org.name_of(account),
            org.ou_path(account),
            ", ".join(row["regions"]),
            *[str(status.get(k, 0)) for k in ("FAIL", "PASS", "ERROR")],
            severities,
            str(row["new"]),
        )
    env.console.print(summary)
    env.console.print(f"one audit report for the organization: {audit_json} (and its CSV and HTML beside it)")
    env.write("organization/audit-final-report.json", json.loads(done.final.to_json()))
    env.write(
        "organization/audit-accounts.json",
        {"rows": rows, "summary_by_account": by_account, "per_account": per_account, "report": audit_json},
    )
    write_table(env, "audit-accounts.txt", table)
