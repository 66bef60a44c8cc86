"""A snapshot rotation of an organization fanned out over moto server: 3 nested OUs holding 30 member accounts (one
unit each, above the default threshold of 20), worked by the event source mapping helper at concurrency 4 with
every unit message delivered twice, each round in reverse order, a worker killed mid-unit, a unit that raises and
a unit whose every delivery dies. One final report, every unit once with the right status, no duplicate snapshot.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from freezegun import freeze_time

from functions.snapshot_rotation.task import TASK
from shared import fanout
from shared.aws import Clients, new_session
from shared.runner import Task
from tests.faults import CrashAfter
from tests.helpers import REGION, FakeContext
from tests.sqs_mapping import EventSourceMapping

pytestmark = pytest.mark.integration

D0 = datetime(2024, 3, 1, 3, 15, tzinfo=UTC)
BUCKET = "devops-tasks-reports"
ROLE = "devops-tasks-member"


def member(account: str) -> boto3.Session:
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="seed"
    )["Credentials"]
    return new_session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )


def organization() -> tuple[str, list[str]]:
    """root - a - b - c, ten member accounts in each OU; returns the top OU and the accounts."""
    org: Any = boto3.client("organizations", region_name=REGION)
    org.create_organization(FeatureSet="ALL")
    parent = org.list_roots()["Roots"][0]["Id"]
    top, accounts = "", []
    for depth in ("a", "b", "c"):
        parent = org.create_organizational_unit(ParentId=parent, Name=depth)["OrganizationalUnit"]["Id"]
        top = top or parent
        for n in range(10):
            made = org.create_account(Email=f"{depth}{n}@example.com", AccountName=f"{depth}{n}")
            account = made["CreateAccountStatus"]["AccountId"]
            root = org.list_roots()["Roots"][0]["Id"]
            org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=parent)
            accounts.append(account)
    return top, accounts


def test_an_organization_of_30_accounts_fans_out_and_closes_with_every_unit_once(moto_server: str) -> None:
    with freeze_time(D0) as frozen:
        top, accounts = organization()
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        sqs = boto3.client("sqs", region_name=REGION)
        dlq = sqs.create_queue(QueueName="units-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})
        queue = sqs.create_queue(QueueName="units", Attributes={"VisibilityTimeout": "900", "RedrivePolicy": redrive})
        queue_url = queue["QueueUrl"]
        volumes = {}
        for account in accounts:
            ec2 = member(account).client("ec2")
            tags = [{"Key": "Backup", "Value": "true"}]
            made = ec2.create_volume(
                AvailabilityZone=f"{REGION}a", Size=1, TagSpecifications=[{"ResourceType": "volume", "Tags": tags}]
            )
            volumes[account] = made["VolumeId"]
        raising, killed_once, never = accounts[3], accounts[14], accounts[25]
        crashed: list[str] = []

        def work(params: Any, unit: Any, result: Any, ctx: Any) -> None:
            if unit.account == raising:
                raise RuntimeError("this unit raises")
            if unit.account == killed_once and not crashed:
                crashed.append(unit.account)
                CrashAfter(0).attach(unit.clients.session)  # dies at its first mutation
            TASK.work(params, unit, result, ctx)

        task = Task(name=TASK.name, params_model=TASK.params_model, work=work)

        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return fanout.handle(task, event, context, clients=Clients(new_session(region_name=REGION)))

        event = {
            "regions": [REGION],
            "report_bucket": BUCKET,
            "unit_queue_url": queue_url,
            "run_deadline_seconds": 3600,
            "accounts": {"organization": {"include_ous": [top], "role": ROLE}},
        }
        dispatched = handler(event, FakeContext())
        assert any("fanned out: 30 of 30 units" in note for note in dispatched["notes"])
        esm = EventSourceMapping(
            sqs,
            queue_url,
            handler,
            tick=lambda s: frozen.tick(timedelta(seconds=s)),
            duplicate=lambda body: body["kind"] == "unit",
            reverse=True,
            kill=lambda body, _n: body.get("account") == never,
        ).drain()

        prefix = f"reports/snapshot-rotation/runs/{dispatched['run_id']}/"
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]]
        assert [k for k in keys if k.endswith("final.json")] == [prefix + "final.json"]
        final = json.loads(s3.get_object(Bucket=BUCKET, Key=prefix + "final.json")["Body"].read())
        by_account = {u["account"]: u for u in final["units"]}
        assert sorted(by_account) == sorted(accounts)
        assert len(final["units"]) == 30
        assert [f["operation"] for f in by_account[raising]["failures"]] == ["unit"]
        assert [f["operation"] for f in by_account[never]["failures"]] == ["lost"]  # killed before it started
        assert crashed == [killed_once]
        assert esm.outcomes["killed"] >= 4  # the crash once, and each delivery of the unit that never reports
        succeeded = [a for a in accounts if a not in (raising, never)]
        assert all(by_account[a]["complete"] and not by_account[a]["failures"] for a in succeeded)
        assert sum(u["counts"].get("created", 0) for u in final["units"]) == 28
        assert final["status"] == "failed"
        for account in succeeded:
            snaps = member(account).client("ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]
            assert [s["VolumeId"] for s in snaps] == [volumes[account]], account  # one snapshot: no duplicate
