"""Client plumbing: shared API models, one retry configuration, error codes, role ARNs."""

from __future__ import annotations

from botocore.exceptions import ClientError

from shared.aws import BOTO_CONFIG, Clients, error_code, new_session, role_arn_for


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
