"""The runner and its units under in-process moto: accounts, regions, report, notification, failure at the end."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from shared.aws import Clients, enabled_regions, new_session
from shared.errors import InputError, RunFailed
from shared.inputs import TaskSettings
from shared.report import Action, UnitResult
from shared.runner import RunContext, Task, execute
from shared.units import Unit

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def visit(params: TaskSettings, unit: Unit, result: UnitResult, ctx: RunContext) -> None:
    result.add(Action(action="visit", resource=unit.label, reason="test", status="done"))
    result.count("visited")
    if unit.region == "eu-south-1":
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DescribeVolumes")


VISIT = Task(name="visit", params_model=TaskSettings, work=visit)
COUNT = Task(name="count", params_model=TaskSettings, work=lambda params, unit, result, ctx: result.count("seen"))


@pytest.mark.usefixtures("aws")
def test_every_unit_runs_one_failing_unit_is_recorded_and_the_run_fails_at_the_end() -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="reports", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    sns = boto3.client("sns")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    event = {"regions": ["eu-west-1", "us-east-1", "eu-south-1"], "report_bucket": "reports", "notify_topic_arn": topic}
    with pytest.raises(RunFailed) as failed:
        execute(VISIT, event, clock=lambda: NOW)

    report = failed.value.report
    assert sorted(u["region"] for u in report["units"]) == ["eu-south-1", "eu-west-1", "us-east-1"]
    assert report["status"] == "failed"
    bad = next(u for u in report["units"] if u["region"] == "eu-south-1")
    assert bad["failures"][0]["error_code"] == "UnauthorizedOperation"
    assert bad["complete"] is False
    key = "reports/visit/2026/11/27/120000Z-" + report["run_id"] + ".json"
    stored = json.loads(s3.get_object(Bucket="reports", Key=key)["Body"].read())
    assert stored["status"] == "failed"
    message = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])
    assert message["Subject"] == "devops-tasks visit: failed"
    assert "UnauthorizedOperation" in message["Message"]


@pytest.mark.usefixtures("aws")
def test_a_successful_run_returns_its_report_and_notifies_nobody_by_default() -> None:
    report = execute(VISIT, {"regions": ["eu-west-1"]}, clock=lambda: NOW)
    assert report["status"] == "succeeded"
    assert report["units"][0]["counts"] == {"visited": 1}
    assert report["location"] is None


@pytest.mark.usefixtures("aws")
def test_other_accounts_are_reached_by_assume_role_and_an_unreachable_one_is_a_failed_unit() -> None:
    session = boto3.Session()

    def refuse_one(params: dict[str, str], **_: object) -> None:
        if ":333333333333:" in params["RoleArn"]:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not trusted"}}, "AssumeRole")

    session.events.register("provide-client-params.sts.AssumeRole", refuse_one)
    event = {
        "regions": ["eu-west-1", "us-east-1"],
        "accounts": [
            {"account_id": "111111111111", "role": "member"},
            {"account_id": "222222222222", "role": "arn:aws:iam::222222222222:role/member", "external_id": "ext-id"},
            {"account_id": "333333333333", "role": "member"},
        ],
    }
    with pytest.raises(RunFailed) as failed:
        execute(COUNT, event, clients=Clients(session), clock=lambda: NOW)
    units = {(u["account"], u["region"]): u for u in failed.value.report["units"]}
    assert set(units) == {
        ("111111111111", "eu-west-1"),
        ("111111111111", "us-east-1"),
        ("222222222222", "eu-west-1"),
        ("222222222222", "us-east-1"),
        ("333333333333", "*"),
    }
    assert units[("333333333333", "*")]["failures"][0]["error_code"] == "AccessDenied"
    assert all(u["counts"] == {"seen": 1} for key, u in units.items() if key[0] != "333333333333")


@pytest.mark.usefixtures("aws")
def test_all_regions_means_every_enabled_region() -> None:
    regions = enabled_regions(Clients())
    assert "eu-west-1" in regions
    assert regions == sorted(regions)
    # moto lists the cn- and us-gov- regions to any caller; AWS answers with the caller's partition only
    assert [r for r in regions if r.startswith(("cn-", "us-gov-"))] == []
    report = execute(COUNT, {"regions": ["all"]}, clock=lambda: NOW)
    assert sorted(u["region"] for u in report["units"]) == regions


def test_regions_outside_the_credentials_partition_are_left_out_of_all_regions() -> None:
    session = new_session(aws_access_key_id="x", aws_secret_access_key="x", region_name="cn-north-1")
    clients = Clients(session)
    ec2 = clients.client("ec2", "cn-north-1")
    answer = {"Regions": [{"RegionName": r} for r in ("cn-northwest-1", "eu-west-1", "cn-north-1", "xx-new-1")]}
    with Stubber(ec2) as stub:
        stub.add_response("describe_regions", answer)
        assert enabled_regions(clients) == ["cn-north-1", "cn-northwest-1", "xx-new-1"]


@pytest.mark.usefixtures("aws")
def test_invalid_input_fails_before_any_aws_call() -> None:
    session = boto3.Session()
    calls: list[str] = []
    session.events.register("before-call", lambda model, **_: calls.append(model.name))
    with pytest.raises(ValueError, match="max_workers"):
        execute(VISIT, {"max_workers": 0}, clients=Clients(session))
    assert calls == []


class ClosingContext:
    """A Lambda context whose remaining time drops under the margin once the work is done."""

    aws_request_id = "req-1"

    def __init__(self) -> None:
        self.calls = 0

    def get_remaining_time_in_millis(self) -> int:
        self.calls += 1
        return 600_000 if self.calls <= 1 else 1_000


@pytest.mark.usefixtures("aws")
def test_a_run_that_did_all_its_work_is_complete_even_if_the_clock_ran_low_afterwards() -> None:
    context = ClosingContext()
    report = execute(COUNT, {"regions": ["eu-west-1"]}, context, clock=lambda: NOW)
    assert report["complete"] is True
    assert report["status"] == "succeeded"


@pytest.mark.usefixtures("aws")
def test_units_not_started_for_lack_of_time_make_the_run_incomplete() -> None:
    class Late:
        aws_request_id = "req-2"

        def get_remaining_time_in_millis(self) -> int:
            return 1_000

    report = execute(COUNT, {"regions": ["eu-west-1", "us-east-1"]}, Late(), clock=lambda: NOW)
    assert report["complete"] is False
    assert report["status"] == "incomplete"
    assert all(u["counts"] == {} for u in report["units"])


@pytest.mark.usefixtures("aws")
def test_regions_in_the_input_are_enough_when_no_default_region_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION")
    report = execute(COUNT, {"regions": ["eu-west-1"]}, clients=Clients(), clock=lambda: NOW)
    assert report["status"] == "succeeded"
    assert [u["region"] for u in report["units"]] == ["eu-west-1"]
    assert report["units"][0]["account"] == "123456789012"


@pytest.mark.usefixtures("aws")
def test_without_any_region_the_failure_says_which_setting_boto3_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION")
    with pytest.raises(RunFailed) as failed:
        execute(COUNT, {}, clients=Clients(), clock=lambda: NOW)
    assert "AWS_DEFAULT_REGION" in failed.value.report["units"][0]["failures"][0]["message"]


@pytest.mark.usefixtures("aws")
def test_all_regions_never_runs_a_region_botocore_does_not_know_and_says_so() -> None:
    # moto (and an account enabled for a region newer than this botocore) can list a region botocore has no data
    # for: it is a failed unit with the reason, never worked in and never silently dropped.
    session = boto3.Session()

    def with_unknown_region(parsed: dict[str, Any], **_: object) -> None:
        parsed["Regions"].append({"RegionName": "xx-fake-9", "OptInStatus": "opted-in"})

    session.events.register("after-call.ec2.DescribeRegions", with_unknown_region)
    seen: list[str] = []
    task = Task(name="seen", params_model=TaskSettings, work=lambda params, unit, result, ctx: seen.append(unit.region))
    with pytest.raises(RunFailed) as failed:
        execute(task, {"regions": ["all"]}, clients=Clients(session), clock=lambda: NOW)
    assert "xx-fake-9" not in seen
    assert "eu-west-1" in seen
    bad = [u for u in failed.value.report["units"] if u["region"] == "xx-fake-9"]
    assert len(bad) == 1
    assert "botocore" in bad[0]["failures"][0]["message"]


@pytest.mark.usefixtures("aws")
def test_regions_of_another_partition_than_the_credentials_are_refused_before_any_call() -> None:
    session = boto3.Session(region_name="eu-west-1")
    calls: list[str] = []
    session.events.register("before-call", lambda model, **_: calls.append(model.name))
    with pytest.raises(InputError, match=r"cn-north-1.*aws-cn.*eu-west-1.*aws"):
        execute(COUNT, {"regions": ["cn-north-1"]}, clients=Clients(session), clock=lambda: NOW)
    assert calls == []


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize(("region", "partition"), [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")])
def test_roles_named_by_name_are_assumed_in_the_partition_of_the_run_with_the_run_id_as_session_name(
    region: str, partition: str
) -> None:
    session = boto3.Session(region_name=region)
    asked: list[dict[str, Any]] = []
    session.events.register("provide-client-params.sts.AssumeRole", lambda params, **_: asked.append(dict(params)))

    class Context:  # one invocation per case: its own request id
        aws_request_id = f"5b1f0d3e-{partition}"

        def get_remaining_time_in_millis(self) -> int:
            return 600_000

    event = {"regions": [region], "accounts": [{"account_id": "111111111111", "role": "member"}]}
    report = execute(COUNT, event, Context(), clients=Clients(session), clock=lambda: NOW)
    assert report["status"] == "succeeded"
    assert [a["RoleArn"] for a in asked] == [f"arn:{partition}:iam::111111111111:role/member"]
    assert asked[0]["RoleSessionName"] == f"devops-tasks-5b1f0d3e-{partition}"
