"""Client plumbing: shared API models, one retry configuration, error codes, role ARNs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import freezegun
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from shared.aws import BOTO_CONFIG, Clients, error_code, new_session, role_arn_for
from shared.partitions import partition_of


def test_sessions_share_the_loaded_api_models_but_not_their_credentials() -> None:
    one = new_session(aws_access_key_id="a", aws_secret_access_key="a")
    two = new_session(aws_access_key_id="b", aws_secret_access_key="b")
    assert one._session.get_component("data_loader") is two._session.get_component("data_loader")
    assert one.get_credentials().access_key != two.get_credentials().access_key


def test_clients_are_created_once_per_service_and_region_with_the_project_config() -> None:
    clients = Clients(new_session(region_name="eu-west-1"))
    ec2 = clients.client("ec2", "eu-west-1")
    assert clients.client("ec2", "eu-west-1") is ec2
    assert clients.client("ec2", "us-east-1") is not ec2
    assert ec2.meta.config.retries == {"mode": "standard", "total_max_attempts": 8}
    assert "devops-tasks/" in ec2.meta.config.user_agent_extra
    assert BOTO_CONFIG.connect_timeout == 5


def test_error_code_reads_aws_codes_and_falls_back_to_the_exception_class() -> None:
    exc = ClientError({"Error": {"Code": "InvalidSnapshot.NotFound", "Message": "gone"}}, "DeleteSnapshot")
    assert error_code(exc) == "InvalidSnapshot.NotFound"
    assert error_code(TimeoutError("slow")) == "TimeoutError"


def test_role_names_become_arns_and_arns_pass_through() -> None:
    assert role_arn_for("123456789012", "member") == "arn:aws:iam::123456789012:role/member"
    arn = "arn:aws-cn:iam::123456789012:role/x"
    assert role_arn_for("123456789012", arn) == arn


class FakeSts:
    """Answers AssumeRole without a network: a new key per call, each valid for ``lifetime`` from the (frozen) now."""

    def __init__(self, lifetime: timedelta) -> None:
        self.lifetime = lifetime
        self.calls: list[dict[str, Any]] = []

    def attach(self, clients: Clients) -> FakeSts:
        clients.session.events.register("provide-client-params.sts.AssumeRole", self._record)
        clients.session.events.register("before-call.sts.AssumeRole", self._answer)
        return self

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.calls.append(dict(params))

    def _answer(self, **_: Any) -> tuple[Any, dict[str, Any]]:
        params = self.calls[-1]
        n = len(self.calls)
        return SimpleNamespace(status_code=200), {
            "Credentials": {
                "AccessKeyId": f"ASIAKEY{n}",
                "SecretAccessKey": f"secret{n}",
                "SessionToken": f"token{n}",
                "Expiration": datetime.now(UTC) + self.lifetime,
            },
            "AssumedRoleUser": {
                "AssumedRoleId": "AROAEXAMPLE:x",
                "Arn": f"arn:aws:sts::222222222222:assumed-role/member/{params['RoleSessionName']}",
            },
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }


def _signing_key(clients: Clients) -> str:
    """The access key a request of these clients is signed with (the request itself never leaves the process)."""
    seen: list[str] = []

    def capture(request: Any, **_: Any) -> AWSResponse:
        seen.append(request.headers["Authorization"].decode().split("Credential=")[1].split("/")[0])
        return AWSResponse(request.url, 200, {}, SimpleNamespace(stream=lambda **_: iter([b""]), read=lambda: b""))

    s3 = clients.client("s3", "eu-west-1")
    s3.meta.events.register("before-send.s3.ListBuckets", capture)
    try:
        s3.list_buckets()
    except Exception:  # noqa: BLE001 - the empty answer may not parse; the signature is what is checked
        pass
    finally:
        s3.meta.events.unregister("before-send.s3.ListBuckets", capture)
    return seen[0]


def test_assumed_role_credentials_are_refreshed_before_they_expire() -> None:
    base = Clients(new_session(region_name="eu-west-1", aws_access_key_id="base", aws_secret_access_key="base"))
    sts = FakeSts(lifetime=timedelta(minutes=60)).attach(base)
    base.name_sessions("run-1")
    with freezegun.freeze_time("2026-11-27T12:00:00Z") as clock:
        member = base.assume("arn:aws:iam::222222222222:role/member", external_id="ext-id")
        assert _signing_key(member) == "ASIAKEY1"
        clock.tick(timedelta(minutes=40))  # 20 minutes left: still used as they are
        assert _signing_key(member) == "ASIAKEY1"
        clock.tick(timedelta(minutes=6))  # 14 minutes left: inside botocore's 15-minute refresh window
        assert _signing_key(member) == "ASIAKEY2"
        clock.tick(timedelta(minutes=10))
        assert _signing_key(member) == "ASIAKEY2"  # fresh for 50 more minutes: no new AssumeRole
    assert len(sts.calls) == 2
    assert {c["RoleSessionName"] for c in sts.calls} == {"devops-tasks-run-1"}
    assert {c["ExternalId"] for c in sts.calls} == {"ext-id"}
    assert member.account_id() == "222222222222"


def test_a_role_that_cannot_be_assumed_fails_at_assume_not_at_a_later_call() -> None:
    base = Clients(new_session(region_name="eu-west-1", aws_access_key_id="base", aws_secret_access_key="base"))

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not trusted"}}, "AssumeRole")

    base.session.events.register("before-call.sts.AssumeRole", refuse)
    with pytest.raises(ClientError, match="AccessDenied"):
        base.assume("arn:aws:iam::222222222222:role/member")


@pytest.mark.parametrize(
    ("run_id", "name"),
    [
        ("0f8fad5b-d9cb-469f-a165-70867728950e", "devops-tasks-0f8fad5b-d9cb-469f-a165-70867728950e"),
        ("a b/c", "devops-tasks-a-b-c"),
        ("x" * 80, "devops-tasks-" + "x" * 51),
    ],
)
def test_the_role_session_name_is_the_run_id_within_sts_rules(run_id: str, name: str) -> None:
    base = Clients(new_session(region_name="eu-west-1", aws_access_key_id="base", aws_secret_access_key="base"))
    sts = FakeSts(lifetime=timedelta(hours=1)).attach(base)
    base.name_sessions(run_id)
    base.assume("arn:aws:iam::222222222222:role/member").session.get_credentials()
    assert sts.calls[0]["RoleSessionName"] == name
    assert len(name) <= 64


@pytest.mark.parametrize(
    ("region", "partition"), [("eu-west-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]
)
def test_role_arns_built_from_a_name_are_in_the_partition_of_the_region(region: str, partition: str) -> None:
    assert role_arn_for("123456789012", "member", partition_of(region) or "") == (
        f"arn:{partition}:iam::123456789012:role/member"
    )
