"""A check that cannot run is ERROR (never PASS) and the others go on; the API calls stay within the design."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from functions.resource_audit.checks import CHECKS
from shared.errors import RunFailed
from tests.faults import CallLog, ErrorOn
from tests.functional.resource_audit.estate import BUCKET, audit, shims
from tests.helpers import REGION

# (service, operation) denied -> the inventory source it feeds
DENIED_SOURCES = {
    ("ec2", "DescribeVolumes"): {"volumes"},
    ("ec2", "DescribeSnapshots"): {"snapshots", "public_snapshots"},
    ("ec2", "DescribeImages"): {"images"},
    ("ec2", "DescribeInstances"): {"instances"},
    ("ec2", "DescribeAddresses"): {"addresses"},
    ("ec2", "DescribeSecurityGroups"): {"security_groups"},
    ("ec2", "DescribeNetworkInterfaces"): {"network_interfaces"},
    ("ec2", "GetEbsEncryptionByDefault"): {"ebs_default_encryption"},
    ("logs", "DescribeLogGroups"): {"log_groups"},
    ("rds", "DescribeDBInstances"): {"db_instances"},
    ("guardduty", "ListDetectors"): {"guardduty_detectors"},
    ("accessanalyzer", "ListAnalyzers"): {"access_analyzers"},
    ("kms", "ListKeys"): {"kms_keys"},
    ("ec2", "DescribeVpcs"): {"vpcs"},
    ("ec2", "DescribeFlowLogs"): {"flow_logs"},
    ("ec2", "DescribeNatGateways"): {"nat_gateways"},
    ("elbv2", "DescribeLoadBalancers"): {"load_balancers"},
    ("elbv2", "DescribeTargetGroups"): {"target_groups"},
    ("rds", "DescribeDBSnapshots"): {"db_snapshots"},
    ("s3control", "GetPublicAccessBlock"): {"account_public_access_block"},
    ("s3", "ListBuckets"): {"buckets"},
    ("iam", "GenerateCredentialReport"): {"credential_report"},
    ("iam", "GetAccountPasswordPolicy"): {"password_policy"},
    ("iam", "GetAccountAuthorizationDetails"): {"authorization_details"},
    ("cloudtrail", "DescribeTrails"): {"trails"},
    ("lambda", "ListFunctions"): {"lambda_functions"},
    ("lambda", "ListLayers"): {"lambda_layers"},
    ("lambda", "GetAccountSettings"): {"lambda_account"},
}
# per-bucket reads -> the check whose outcome for that bucket becomes ERROR
DENIED_BUCKET_READS = {
    "GetBucketPolicy": "s3-bucket-secure-transport",
    "GetBucketVersioning": "s3-bucket-versioning",
    "GetBucketLifecycleConfiguration": "s3-bucket-lifecycle",
    "GetBucketTagging": "tags-required-s3",  # with the Tagging API denied too: it is read per bucket then
    "GetBucketAcl": "s3-bucket-public",  # (GetBucketPolicyStatus is not read: these buckets have no policy)
}


class Deny(ErrorOn):
    """AccessDenied on one (service, operation); ``when`` alone cannot see the service."""

    def __init__(self, service: str, operation: str) -> None:
        super().__init__(lambda op, params: op == operation, "AccessDenied", status=403)
        self.service = service

    def _before_call(self, model: Any, params: dict[str, Any], **kw: Any) -> Any:
        if model.service_model.service_name != self.service:
            return None
        return super()._before_call(model=model, params=params, **kw)


def _small_estate() -> None:
    s3 = boto3.client("s3", region_name=REGION)
    for name in (BUCKET, "data"):
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    boto3.client("ec2", region_name=REGION).create_volume(AvailabilityZone=f"{REGION}a", Size=1)
    boto3.client("iam").create_user(UserName="carol")


def _findings(key: str = "reports/resource-audit/latest.json") -> list[dict[str, Any]]:
    import json

    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    findings: list[dict[str, Any]] = json.loads(body)["findings"]
    return findings


PAYLOAD = {"report_bucket": BUCKET, "notify_on": "never", "regions": [REGION]}


@pytest.mark.parametrize(("service", "operation"), sorted(DENIED_SOURCES))
def test_a_denied_listing_makes_its_checks_error_and_the_others_still_run(
    aws: None, service: str, operation: str
) -> None:
    _small_estate()
    with shims():
        response = audit(PAYLOAD, attach=Deny(service, operation))
    findings = _findings()
    sources = DENIED_SOURCES[(service, operation)]
    from functions.resource_audit.models import ResourceAuditInput
    from shared.inputs import parse_input

    params = parse_input(PAYLOAD, ResourceAuditInput, env={})
    expected = {c.id for c in CHECKS if sources & set(c.sources(params))}
    if sources == {"account_public_access_block"}:
        expected = {"s3-account-public-access-block", "s3-bucket-public"}
    errored = {f["check_id"] for f in findings if f["status"] == "ERROR"}
    assert errored == expected
    for f in findings:
        if f["check_id"] in expected:
            assert f["status"] == "ERROR"
            assert "AccessDenied" in f["evidence"]
    assert {f["check_id"] for f in findings} - expected, "the other checks ran"
    assert response["status"] == "succeeded"
    assert sum(u["counts"].get("check_errors", 0) for u in response["units"]) == sum(
        f["status"] == "ERROR" for f in findings
    )


class DenyAll:
    """Every one of several denials at once."""

    def __init__(self, *denials: Deny) -> None:
        self.denials = denials

    def attach(self, target: Any) -> None:
        for denial in self.denials:
            denial.attach(target)


TAGGING = Deny("resourcegroupstaggingapi", "GetResources")


@pytest.mark.parametrize("operation", sorted(DENIED_BUCKET_READS))
def test_a_denied_bucket_read_makes_that_bucket_error_for_its_check(aws: None, operation: str) -> None:
    _small_estate()
    denied = DenyAll(Deny("s3", operation), TAGGING) if operation == "GetBucketTagging" else Deny("s3", operation)
    with shims():
        audit(PAYLOAD, attach=denied)
    check_id = DENIED_BUCKET_READS[operation]
    mine = [f for f in _findings() if f["check_id"] == check_id]
    assert {f["resource"] for f in mine} == {BUCKET, "data"}
    assert {f["status"] for f in mine} == {"ERROR"}
    others = [f for f in _findings() if f["resource_type"] == "bucket" and f["check_id"] != check_id]
    assert others
    assert "ERROR" not in {f["status"] for f in others}


# per-function and per-layer-version reads -> the check whose outcome for that function (or version) becomes ERROR
DENIED_LAMBDA_READS = {
    "GetPolicy": "lambda-policy-public",
    "ListFunctionUrlConfigs": "lambda-url-auth-none",
    "ListFunctionEventInvokeConfigs": "lambda-async-no-failure-destination",
    "GetFunctionConcurrency": "lambda-reserved-concurrency-zero",
    "GetLayerVersionPolicy": "lambda-layer-version-public",
}


@pytest.mark.parametrize("operation", sorted(DENIED_LAMBDA_READS))
def test_a_denied_lambda_read_makes_that_function_error_for_its_check_only(aws: None, operation: str) -> None:
    from cli.demo.resource_audit import seed_lambda

    _small_estate()
    with shims():
        seed_lambda(lambda service, region: boto3.client(service, region_name=region), REGION)
        audit(PAYLOAD, attach=Deny("lambda", operation))
    check_id = DENIED_LAMBDA_READS[operation]
    mine = [f for f in _findings() if f["check_id"] == check_id]
    assert len(mine) == 2
    assert {f["status"] for f in mine} == {"ERROR"}
    assert all("AccessDenied" in f["evidence"] for f in mine)
    others = [f for f in _findings() if f["check_id"].startswith("lambda-") and f["check_id"] != check_id]
    assert {f["status"] for f in others} >= {"PASS", "FAIL"}
    assert "ERROR" not in {f["status"] for f in others}


def test_every_check_has_a_tested_error_path() -> None:
    from functions.resource_audit.models import ResourceAuditInput

    params = ResourceAuditInput()
    covered = (
        {c.id for c in CHECKS for sources in DENIED_SOURCES.values() if sources & set(c.sources(params))}
        | set(DENIED_BUCKET_READS.values())
        | set(DENIED_LAMBDA_READS.values())
        | {"iam-root-mfa", "iam-root-access-keys", "s3-account-public-access-block"}
    )
    assert covered == {c.id for c in CHECKS}


def test_root_checks_error_when_neither_the_report_nor_the_summary_can_be_read(aws: None) -> None:
    _small_estate()

    both = ErrorOn(lambda op, params: op in ("GenerateCredentialReport", "GetAccountSummary"), "AccessDenied")
    audit(PAYLOAD, attach=both)
    root = [f for f in _findings() if f["check_id"] in ("iam-root-mfa", "iam-root-access-keys")]
    assert [f["status"] for f in root] == ["ERROR", "ERROR"]


def test_fail_on_check_error_fails_the_invocation_after_writing_the_report(aws: None) -> None:
    _small_estate()
    with shims(), pytest.raises(RunFailed) as failed:
        audit(PAYLOAD | {"fail_on_check_error": True}, attach=Deny("ec2", "DescribeVolumes"))
    assert "check ebs-volume-unattached" in str(failed.value) or failed.value.report["status"] == "failed"
    assert any(f["status"] == "ERROR" for f in _findings())


def test_api_calls_stay_within_the_design_with_200_users_and_40_buckets(aws: None) -> None:
    """IAM: generate + get credential report + password policy (3, however many users); S3: one listing, the
    account setting, and per bucket only the reads the checks need (public-access reads skipped when the account
    setting settles them); EC2 and Logs: one call per listing."""
    iam = boto3.client("iam")
    for i in range(200):
        iam.create_user(UserName=f"user-{i:03d}")
    s3 = boto3.client("s3", region_name=REGION)
    buckets = [BUCKET] + [f"bucket-{i:02d}" for i in range(39)]
    for name in buckets:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    account = boto3.client("sts").get_caller_identity()["Account"]
    boto3.client("s3control", region_name=REGION).put_public_access_block(
        AccountId=account,
        PublicAccessBlockConfiguration=dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
        ),
    )
    log = CallLog()
    with shims():
        audit(PAYLOAD, log=log)
    assert log.operations("iam") == {
        "GenerateCredentialReport": 1,
        "GetCredentialReport": 1,
        "GetAccountPasswordPolicy": 1,
        "GetAccountAuthorizationDetails": 1,  # 200 users and their policies: one listing (pages: test_pagination)
    }
    n = len(buckets)
    reads = log.operations("s3")
    # moto's ListBuckets carries no BucketRegion, so one GetBucketLocation per bucket here (none on AWS); tags
    # come from one Tagging API listing (one page of up to 100 buckets), not a GetBucketTagging per bucket
    assert log.operations("resourcegroupstaggingapi") == {"GetResources": 1}
    assert reads == {
        "ListBuckets": 1,
        "GetBucketLocation": n,
        "GetBucketPolicy": n,  # and no GetBucketPolicyStatus: these buckets have no policy
        "GetBucketVersioning": n,
        "GetBucketLifecycleConfiguration": n,
        "GetObject": 1,
        "PutObject": 10,  # four formats, dated and latest, and the run report (before the work and at the end)
    }
    assert log.operations("s3control") == {"GetPublicAccessBlock": 1}
    ec2 = log.operations("ec2")
    assert ec2["DescribeSnapshots"] == 2  # own snapshots, and public ones (server-side filter)
    assert all(count == 1 for op, count in ec2.items() if op != "DescribeSnapshots")
    assert log.operations("logs") == {"DescribeLogGroups": 1}
    assert log.operations("rds") == {
        "DescribeDBInstances": 1,
        "DescribeDBSnapshots": 1,
        "DescribeDBClusterSnapshots": 1,
    }
    assert log.operations("kms") == {"ListKeys": 1, "ListAliases": 1}  # no key: nothing described
    assert log.operations("guardduty") == {"ListDetectors": 1}
    assert log.operations("accessanalyzer") == {"ListAnalyzers": 1}
    assert log.operations("elbv2") == {"DescribeLoadBalancers": 1, "DescribeTargetGroups": 1}
    assert log.operations("cloudwatch") == {}  # nothing to measure: no load balancer, NAT gateway or io volume
    assert log.operations("organizations") == {"ListAccounts": 1}  # once per run
    assert log.operations("cloudtrail") == {"DescribeTrails": 1}


def test_a_failed_price_refresh_uses_the_shipped_table_and_the_report_says_so(aws: None) -> None:
    _small_estate()
    denied = ErrorOn(lambda op, params: op == "GetProducts", "AccessDeniedException")
    with shims():
        response = audit(PAYLOAD | {"refresh_prices": True}, attach=denied)
    report = json.loads(
        boto3.client("s3", region_name=REGION)
        .get_object(Bucket=BUCKET, Key="reports/resource-audit/latest.json")["Body"]
        .read()
    )
    assert report["prices"]["as_of"] == "2025-01"
    assert "AccessDeniedException" in report["prices"]["refresh_problem"]
    assert any(n.startswith("prices: the Price List refresh failed") for n in response["notes"])
    assert [op for op, _ in denied.hits] == ["GetProducts"]  # tried once per run, not once per region
    assert response["status"] == "succeeded"
