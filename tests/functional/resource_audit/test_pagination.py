"""Listings that come back in many pages, as AWS serves them (moto serves one page whatever MaxResults says).

A fake service answers every call at ``before-call``, honouring each API's limit and token parameters
(MaxResults/NextToken, MaxBuckets/ContinuationToken, limit/nextToken) and sometimes returning fewer items than
asked, as AWS may. Every item of every page must reach the inventory, and the calls must be exactly the pages.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from functions.resource_audit import inventory
from functions.resource_audit.checks.base import Inventory
from functions.resource_audit.models import ResourceAuditInput
from functions.resource_audit.plan import enabled_checks, sources_needed
from functions.resource_audit.task import bucket_fields
from shared.aws import Clients
from tests.faults import _api_params, _events
from tests.helpers import REGION

ACCOUNT = "123456789012"
HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,"
    "mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,"
    "access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,"
    "access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
    "cert_1_last_rotated,cert_2_active,cert_2_last_rotated"
)


@dataclass(frozen=True)
class Paged:
    items: list[Any]
    result_key: str
    limit: str
    token_in: str
    token_out: str
    server_max: int
    """The most items one page holds, whatever the caller asks (AWS may return fewer than MaxResults)."""

    def page(self, params: dict[str, Any]) -> dict[str, Any]:
        start = int(params.get(self.token_in) or 0)
        size = min(int(params.get(self.limit) or self.server_max), self.server_max)
        out: dict[str, Any] = {self.result_key: self.items[start : start + size]}
        if start + size < len(self.items):
            out[self.token_out] = str(start + size)
        return out

    def calls(self, asked: int) -> int:
        return max(1, math.ceil(len(self.items) / min(asked, self.server_max)))


@dataclass(frozen=True)
class AuthorizationDetails:
    """GetAccountAuthorizationDetails: four lists in one listing, paged together (MaxItems/Marker/IsTruncated)."""

    items: list[tuple[str, dict[str, Any]]]
    server_max: int = 300

    def page(self, params: dict[str, Any]) -> dict[str, Any]:
        start = int(params.get("Marker") or 0)
        size = min(int(params.get("MaxItems") or 100), self.server_max)
        out: dict[str, Any] = {key: [] for key in inventory.DETAIL_LISTS}
        for key, item in self.items[start : start + size]:
            out[key].append(item)
        more = start + size < len(self.items)
        return out | ({"IsTruncated": True, "Marker": str(start + size)} if more else {"IsTruncated": False})

    def calls(self, asked: int) -> int:
        return max(1, math.ceil(len(self.items) / min(asked, self.server_max)))


@dataclass(frozen=True)
class Truncated(Paged):
    """KMS's paging: Limit/Marker in, NextMarker and Truncated out."""

    def page(self, params: dict[str, Any]) -> dict[str, Any]:
        out = super().page(params)
        return out | {"Truncated": self.token_out in out}


def _kms(key: str, items: list[dict[str, Any]], server_max: int) -> Truncated:
    return Truncated(items, key, "Limit", "Marker", "NextMarker", server_max)


def _rds(key: str, items: list[dict[str, Any]], server_max: int = 100) -> Paged:
    return Paged(items, key, "MaxRecords", "Marker", "Marker", server_max)


def _ec2(key: str, items: list[dict[str, Any]], server_max: int = 1000) -> Paged:
    return Paged(items, key, "MaxResults", "NextToken", "NextToken", server_max)


class Error(Exception):
    def __init__(self, code: str, status: int = 404) -> None:
        super().__init__(code)
        self.code, self.status = code, status


class FakeAws:
    """Answers every API call of the audit's inventory; any other call fails the test."""

    def __init__(self, paged: dict[tuple[str, str], Paged], other: dict[tuple[str, str], Callable[..., Any]]):
        self.paged = paged
        self.other = other
        self.calls: Counter[tuple[str, str]] = Counter()
        self.asked: dict[tuple[str, str], set[Any]] = {}
        self.unknown: list[tuple[str, str]] = []
        self.details: AuthorizationDetails | None = None
        self.snapshots: tuple[Paged, Paged] | None = None
        """Own snapshots and public ones: DescribeSnapshots is answered by one or the other (its filter)."""
        self._lock = threading.Lock()

    def attach(self, session: boto3.Session) -> None:
        _events(session).register_first("before-call", self._answer)

    def _answer(self, model: Any, context: dict[str, Any] | None = None, **_: Any) -> tuple[AWSResponse, Any]:
        key = (model.service_model.service_name, model.name)
        params = _api_params(context)
        with self._lock:
            self.calls[key] += 1
        http = AWSResponse("", 200, {}, None)  # type: ignore[arg-type]
        try:
            if key in self.paged:
                spec = self.paged[key]
                with self._lock:
                    self.asked.setdefault(key, set()).add(params.get(spec.limit))
                return http, self.paged[key].page(params) | {"ResponseMetadata": {"HTTPStatusCode": 200}}
            if key in self.other:
                return http, self.other[key](params) | {"ResponseMetadata": {"HTTPStatusCode": 200}}
            with self._lock:
                self.unknown.append(key)
            return _error(Error("UnexpectedCall", 400))
        except Error as exc:
            return _error(exc)


def _error(exc: Error) -> tuple[AWSResponse, Any]:
    error = {"Error": {"Code": exc.code, "Message": ""}, "ResponseMetadata": {"HTTPStatusCode": exc.status}}
    return AWSResponse("", exc.status, {}, None), error  # type: ignore[arg-type]


def _raise(code: str, status: int = 404) -> Callable[[dict[str, Any]], Any]:
    def fail(params: dict[str, Any]) -> Any:
        raise Error(code, status)

    return fail


def _estate() -> FakeAws:
    volumes = [{"VolumeId": f"vol-{i:05d}", "State": "in-use", "Size": 8, "VolumeType": "gp3"} for i in range(1201)]
    for v in volumes[:300]:  # measured in CloudWatch: two metrics each
        v |= {"VolumeType": "io1", "Iops": 1000, "CreateTime": "2025-01-01T00:00:00Z"}
    lbs = [{"LoadBalancerArn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/lb-{i}/{i:016x}",
            "LoadBalancerName": f"lb-{i}", "Type": "application", "CreatedTime": "2025-01-01T00:00:00Z"}
           for i in range(450)]  # fmt: skip
    tgs = [{"TargetGroupArn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/tg-{i}/{i:016x}",
            "LoadBalancerArns": [lbs[i]["LoadBalancerArn"]]} for i in range(450)]  # fmt: skip
    nats = [{"NatGatewayId": f"nat-{i:05d}", "CreateTime": "2025-01-01T00:00:00Z"} for i in range(30)]
    snapshots = [
        {"SnapshotId": f"snap-{i:05d}", "VolumeId": "vol-00001", "StartTime": "2025-01-01T00:00:00Z"}
        for i in range(2001)
    ]
    public = [{"SnapshotId": f"snap-{i:05d}"} for i in range(0, 2001, 200)]
    images = [{"ImageId": f"ami-{i:05d}", "CreationDate": "2025-01-01T00:00:00Z"} for i in range(1500)]
    reservations = [
        {"ReservationId": f"r-{i:05d}", "Instances": [{"InstanceId": f"i-{i:05d}a"}, {"InstanceId": f"i-{i:05d}b"}]}
        for i in range(1001)
    ]
    groups = [{"GroupId": f"sg-{i:05d}", "GroupName": f"g{i}", "IpPermissions": []} for i in range(1001)]
    big_list = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "PrefixListIds": [{"PrefixListId": "pl-big"}]}
    groups[0]["IpPermissions"] = [big_list]
    groups[1]["IpPermissions"] = [big_list]  # named twice, read once
    entries = [{"Cidr": f"10.{i // 256}.{i % 256}.0/24"} for i in range(250)]
    enis = [{"NetworkInterfaceId": f"eni-{i:05d}", "Groups": [{"GroupId": f"sg-{i:05d}"}]} for i in range(1300)]
    log_groups = [{"logGroupName": f"/app/{i}", "retentionInDays": 7} for i in range(120)]
    buckets = [{"Name": f"bucket-{i:03d}", "BucketRegion": REGION} for i in range(25)]
    tagged = [  # every other bucket is tagged; a bucket of another account's listing is not one of ours
        {"ResourceARN": f"arn:aws:s3:::{b['Name']}", "Tags": [{"Key": "Owner", "Value": f"team-{i}"}]}
        for i, b in enumerate(buckets)
        if i % 2 == 0
    ] + [{"ResourceARN": "arn:aws:s3:::not-listed", "Tags": [{"Key": "Owner", "Value": "x"}]}]
    users = [
        f"user-{i:03d},arn:aws:iam::{ACCOUNT}:user/user-{i:03d},2025-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,"
        "false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
        for i in range(250)
    ]
    root = f"<root_account>,arn:aws:iam::{ACCOUNT}:root,2020-01-01T00:00:00+00:00,not_supported,N/A,not_supported,"
    root += "not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
    report = "\n".join([HEADER, root, *users]).encode()
    trail = {"Name": "org", "TrailARN": f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/org", "IsMultiRegionTrail": True}
    all_on = dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True)
    functions = [
        {"FunctionName": f"fn-{i:03d}", "FunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn-{i:03d}",
         "Runtime": "python3.12", "PackageType": "Zip"}
        for i in range(120)
    ]  # fmt: skip
    layers = [
        {"LayerName": f"lib-{i}", "LayerArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:lib-{i}"} for i in range(3)
    ]
    layer_versions = [
        {"Version": v, "LayerVersionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:lib:{v}"} for v in range(1, 61)
    ]
    dbs = [{"DBInstanceIdentifier": f"db-{i:03d}", "PubliclyAccessible": False, "StorageEncrypted": True,
            "BackupRetentionPeriod": 7} for i in range(250)]  # fmt: skip
    db_snapshots = [{"DBSnapshotIdentifier": f"dbsnap-{i:03d}"} for i in range(150)]
    cluster_snapshots = [{"DBClusterSnapshotIdentifier": f"clsnap-{i}"} for i in range(3)]
    details = AuthorizationDetails(
        [("UserDetailList", {"UserName": f"user-{i}"}) for i in range(30)]
        + [("GroupDetailList", {"GroupName": f"group-{i}"}) for i in range(5)]
        + [("RoleDetailList", {"RoleName": f"role-{i}", "AttachedManagedPolicies": []}) for i in range(1200)]
        + [("Policies", {"Arn": f"arn:aws:iam::{ACCOUNT}:policy/p-{i}", "PolicyVersionList": []}) for i in range(40)]
    )
    keys = [{"KeyId": f"key-{i:04d}", "KeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/key-{i:04d}"} for i in range(1100)]
    aliases = [{"AliasName": f"alias/aws/svc-{i}", "TargetKeyId": f"key-{i:04d}"} for i in range(0, 1100, 10)]
    vpcs = [{"VpcId": f"vpc-{i:04d}"} for i in range(1200)]
    flow_logs = [
        {"FlowLogId": f"fl-{i:04d}", "ResourceId": f"vpc-{i:04d}", "FlowLogStatus": "ACTIVE"} for i in range(1200)
    ]
    detectors = [f"det-{i}" for i in range(3)]
    analyzers = [  # ListAnalyzers' shape; two pages: AWS may return fewer than maxResults
        {"arn": f"arn:aws:access-analyzer:{REGION}:{ACCOUNT}:analyzer/{name}", "name": name, "type": kind,
         "createdAt": "2025-01-01T00:00:00Z", "status": status}
        for name, kind, status in (("unused", "ACCOUNT_UNUSED_ACCESS", "ACTIVE"), ("external", "ACCOUNT", "ACTIVE"))
    ]  # fmt: skip
    paged = {
        ("kms", "ListKeys"): _kms("Keys", keys, server_max=1000),
        ("elbv2", "DescribeLoadBalancers"): Paged(lbs, "LoadBalancers", "PageSize", "Marker", "NextMarker", 400),
        ("elbv2", "DescribeTargetGroups"): Paged(tgs, "TargetGroups", "PageSize", "Marker", "NextMarker", 400),
        ("ec2", "DescribeNatGateways"): _ec2("NatGateways", nats, server_max=20),
        ("kms", "ListAliases"): _kms("Aliases", aliases, server_max=40),
        ("ec2", "DescribeVpcs"): _ec2("Vpcs", vpcs),
        ("ec2", "DescribeFlowLogs"): _ec2("FlowLogs", flow_logs),
        ("guardduty", "ListDetectors"): Paged(detectors, "DetectorIds", "MaxResults", "NextToken", "NextToken", 2),
        ("accessanalyzer", "ListAnalyzers"): Paged(analyzers, "analyzers", "maxResults", "nextToken", "nextToken", 1),
        ("rds", "DescribeDBInstances"): _rds("DBInstances", dbs),
        ("rds", "DescribeDBSnapshots"): _rds("DBSnapshots", db_snapshots, server_max=60),
        ("rds", "DescribeDBClusterSnapshots"): _rds("DBClusterSnapshots", cluster_snapshots),
        ("ec2", "DescribeVolumes"): _ec2("Volumes", volumes),
        ("ec2", "DescribeImages"): _ec2("Images", images, server_max=700),
        ("ec2", "DescribeInstances"): _ec2("Reservations", reservations),
        ("ec2", "DescribeSecurityGroups"): _ec2("SecurityGroups", groups),
        ("ec2", "DescribeNetworkInterfaces"): _ec2("NetworkInterfaces", enis, server_max=400),
        ("ec2", "GetManagedPrefixListEntries"): _ec2("Entries", entries, server_max=100),
        ("logs", "DescribeLogGroups"): Paged(log_groups, "logGroups", "limit", "nextToken", "nextToken", 50),
        ("s3", "ListBuckets"): Paged(buckets, "Buckets", "MaxBuckets", "ContinuationToken", "ContinuationToken", 10),
        ("resourcegroupstaggingapi", "GetResources"): Paged(
            tagged, "ResourceTagMappingList", "ResourcesPerPage", "PaginationToken", "PaginationToken", 5
        ),
        ("lambda", "ListFunctions"): Paged(functions, "Functions", "MaxItems", "Marker", "NextMarker", 50),
        ("lambda", "ListLayers"): Paged(layers, "Layers", "MaxItems", "Marker", "NextMarker", 2),
        ("lambda", "ListLayerVersions"): Paged(layer_versions, "LayerVersions", "MaxItems", "Marker", "NextMarker", 50),
    }
    own = _ec2("Snapshots", snapshots)
    only_public = _ec2("Snapshots", public)

    def describe_snapshots(params: dict[str, Any]) -> Any:
        assert params["OwnerIds"] == ["self"]
        spec = only_public if params.get("RestorableByUserIds") == ["all"] else own
        return spec.page(params)

    def metric_data(params: dict[str, Any]) -> Any:
        queries = params["MetricDataQueries"]
        assert len(queries) <= 500
        return {"MetricDataResults": [{"Id": q["Id"], "Values": [7.0], "StatusCode": "Complete"} for q in queries]}

    def restore(kind: str) -> Callable[[dict[str, Any]], Any]:
        return lambda p: {f"{kind}AttributesResult": {f"{kind}Attributes": [
            {"AttributeName": "restore", "AttributeValues": []}]}}  # fmt: skip

    other: dict[tuple[str, str], Callable[..., Any]] = {
        ("ec2", "DescribeSnapshots"): describe_snapshots,
        ("ec2", "DescribeSnapshotAttribute"): lambda p: {"SnapshotId": p["SnapshotId"], "CreateVolumePermissions": []},
        ("rds", "DescribeDBSnapshotAttributes"): restore("DBSnapshot"),
        ("rds", "DescribeDBClusterSnapshotAttributes"): restore("DBClusterSnapshot"),
        ("iam", "GetAccountAuthorizationDetails"): details.page,
        ("guardduty", "GetDetector"): lambda p: {"Status": "ENABLED", "ServiceRole": "r", "CreatedAt": "x"},
        ("kms", "DescribeKey"): lambda p: {
            "KeyMetadata": {"KeyId": p["KeyId"], "KeyManager": "CUSTOMER", "KeyState": "Enabled"}
        },
        ("kms", "GetKeyRotationStatus"): lambda p: {"KeyRotationEnabled": True},
        ("elbv2", "DescribeTargetHealth"): lambda p: {
            "TargetHealthDescriptions": [{"Target": {"Id": "i-1"}, "TargetHealth": {"State": "healthy"}}]
        },
        ("cloudwatch", "GetMetricData"): metric_data,
        ("ec2", "DescribeAddresses"): lambda p: {"Addresses": [{"AllocationId": "eipalloc-1", "PublicIp": "1.2.3.4"}]},
        ("ec2", "GetEbsEncryptionByDefault"): lambda p: {"EbsEncryptionByDefault": True},
        ("s3control", "GetPublicAccessBlock"): lambda p: {"PublicAccessBlockConfiguration": all_on},
        ("s3", "GetBucketTagging"): _raise("NoSuchTagSet"),
        ("s3", "GetBucketPolicy"): _raise("NoSuchBucketPolicy"),
        ("s3", "GetBucketVersioning"): lambda p: {"Status": "Enabled"},
        ("s3", "GetBucketLifecycleConfiguration"): _raise("NoSuchLifecycleConfiguration"),
        ("iam", "GenerateCredentialReport"): lambda p: {"State": "COMPLETE"},
        ("iam", "GetCredentialReport"): lambda p: {"Content": report, "ReportFormat": "text/csv"},
        ("iam", "GetAccountPasswordPolicy"): _raise("NoSuchEntity"),
        ("cloudtrail", "DescribeTrails"): lambda p: {"trailList": [trail]},
        ("cloudtrail", "GetTrailStatus"): lambda p: {"IsLogging": True},
        ("lambda", "GetPolicy"): _raise("ResourceNotFoundException"),
        ("lambda", "ListFunctionUrlConfigs"): lambda p: {"FunctionUrlConfigs": []},
        ("lambda", "ListFunctionEventInvokeConfigs"): lambda p: {"FunctionEventInvokeConfigs": []},
        ("lambda", "GetFunctionConcurrency"): lambda p: {},
        ("lambda", "GetLayerVersionPolicy"): _raise("ResourceNotFoundException"),
        ("lambda", "GetAccountSettings"): lambda p: {
            "AccountLimit": {"TotalCodeSize": 80_530_636_800},
            "AccountUsage": {"TotalCodeSize": 1_000_000},
        },
    }
    fake = FakeAws(paged, other)
    fake.snapshots = (own, only_public)
    fake.details = details
    return fake


def _audit(fake: FakeAws) -> tuple[Inventory, Inventory]:
    session = boto3.Session(region_name=REGION)
    fake.attach(session)
    clients = Clients(session)
    params = ResourceAuditInput(tagged_types=["instance", "volume", "snapshot", "security-group", "bucket"])
    checks = enabled_checks(params)
    organization = {"organization": lambda: {"accounts": frozenset({ACCOUNT})}}
    needs = sources_needed(checks, params, "region")
    regional = inventory.regional(clients, ACCOUNT, REGION, needs, organization, datetime(2025, 6, 30, tzinfo=UTC))
    account = inventory.account_wide(
        clients,
        ACCOUNT,
        REGION,
        sources_needed(checks, params, "account"),
        bucket_fields(params),
        max_workers=4,
        sleep=lambda s: None,
    )
    return regional, account


@pytest.fixture
def audited() -> tuple[FakeAws, Inventory, Inventory]:
    fake = _estate()
    regional, account = _audit(fake)
    return fake, regional, account


def keys_served(fake: FakeAws) -> list[dict[str, Any]]:
    return fake.paged[("kms", "ListKeys")].items


def test_every_item_of_every_page_reaches_the_inventory(audited: tuple[FakeAws, Inventory, Inventory]) -> None:
    fake, regional, account = audited
    assert fake.unknown == []
    assert regional.errors == {}
    assert account.errors == {}

    def ids(items: list[dict[str, Any]], key: str) -> list[str]:
        return [i[key] for i in items]

    def served(op: tuple[str, str], key: str) -> list[str]:
        return ids(fake.paged[op].items, key)

    assert ids(regional["volumes"], "VolumeId") == served(("ec2", "DescribeVolumes"), "VolumeId")
    assert fake.snapshots is not None
    own, public = fake.snapshots
    assert ids(regional["snapshots"], "SnapshotId") == ids(own.items, "SnapshotId")
    assert regional["public_snapshots"] == ids(public.items, "SnapshotId")
    assert ids(regional["images"], "ImageId") == served(("ec2", "DescribeImages"), "ImageId")
    assert len(regional["instances"]) == 2 * 1001
    assert ids(regional["security_groups"], "GroupId") == served(("ec2", "DescribeSecurityGroups"), "GroupId")
    assert len(regional["network_interfaces"]) == 1300
    assert regional["prefix_lists"] == {
        "pl-big": [e["Cidr"] for e in fake.paged[("ec2", "GetManagedPrefixListEntries")].items]
    }
    assert ids(regional["log_groups"], "logGroupName") == served(("logs", "DescribeLogGroups"), "logGroupName")
    assert [b["Name"] for b in account["buckets"]] == served(("s3", "ListBuckets"), "Name")
    tags = {b["Name"]: b["tags"] for b in account["buckets"]}
    assert tags == {f"bucket-{i:03d}": ({"Owner": f"team-{i}"} if i % 2 == 0 else {}) for i in range(25)}
    assert ids(regional["lambda_functions"], "FunctionName") == served(("lambda", "ListFunctions"), "FunctionName")
    assert set(regional["lambda_policies"]) == set(ids(regional["lambda_functions"], "FunctionName"))
    assert set(regional["lambda_policies"].values()) == {None}  # no policy (ResourceNotFoundException)
    assert len(regional["lambda_layers"]) == 3 * 60
    assert {lv["policy"] for lv in regional["lambda_layers"]} == {None}
    assert [d["DBInstanceIdentifier"] for d in regional["db_instances"]] == served(
        ("rds", "DescribeDBInstances"), "DBInstanceIdentifier"
    )
    assert [s["id"] for s in regional["db_snapshots"]] == [f"dbsnap-{i:03d}" for i in range(150)] + [
        f"clsnap-{i}" for i in range(3)
    ]
    assert {tuple(s["restore"]) for s in regional["db_snapshots"]} == {()}
    assert list(regional["snapshot_permissions"]) == ids(own.items, "SnapshotId")
    assert {k: len(v) for k, v in account["authorization_details"].items()} == {
        "UserDetailList": 30, "GroupDetailList": 5, "RoleDetailList": 1200, "Policies": 40}  # fmt: skip
    assert [k["KeyId"] for k in regional["kms_keys"]] == ids(keys_served(fake), "KeyId")
    assert sum(k["aws_managed"] for k in regional["kms_keys"]) == 110  # named by alias/aws/*: not described
    assert ids(regional["vpcs"], "VpcId") == served(("ec2", "DescribeVpcs"), "VpcId")
    assert len(regional["flow_logs"]) == 1200
    assert [d["status"] for d in regional["guardduty_detectors"]] == ["ENABLED"] * 3
    assert [a["name"] for a in regional["access_analyzers"]] == ["unused", "external"]  # both pages
    assert len(regional["load_balancers"]) == len(regional["target_groups"]) == 450
    assert len(regional["target_health"]) == 450
    assert ids(regional["nat_gateways"], "NatGatewayId") == served(("ec2", "DescribeNatGateways"), "NatGatewayId")
    assert len(regional["lb_requests"]) == 450
    assert set(regional["nat_traffic"].values()) == set(regional["volume_iops"].values()) == {7.0}
    assert len(regional["volume_iops"]) == 2 * 300
    assert len(account["credential_report"]) == 251  # and the root row
    assert account["root"] == {"mfa": True, "keys": False, "source": "credential report"}


def test_calls_are_exactly_the_pages_of_one_listing_per_source(audited: tuple[FakeAws, Inventory, Inventory]) -> None:
    fake, _, _ = audited
    page = {
        ("ec2", "DescribeVolumes"): 500,
        ("ec2", "DescribeImages"): 1000,
        ("ec2", "DescribeInstances"): 1000,
        ("ec2", "DescribeSecurityGroups"): 1000,
        ("ec2", "DescribeNetworkInterfaces"): 1000,
        ("ec2", "GetManagedPrefixListEntries"): 100,
        ("logs", "DescribeLogGroups"): 50,
        ("s3", "ListBuckets"): 1000,
        ("resourcegroupstaggingapi", "GetResources"): 100,
        ("lambda", "ListFunctions"): 50,
        ("lambda", "ListLayers"): 50,
        ("lambda", "ListLayerVersions"): 50,
        ("rds", "DescribeDBInstances"): 100,
        ("kms", "ListKeys"): 1000,
        ("kms", "ListAliases"): 100,
        ("ec2", "DescribeVpcs"): 1000,
        ("ec2", "DescribeFlowLogs"): 1000,
        ("guardduty", "ListDetectors"): 50,
        ("accessanalyzer", "ListAnalyzers"): 100,
        ("elbv2", "DescribeLoadBalancers"): 400,
        ("elbv2", "DescribeTargetGroups"): 400,
        ("ec2", "DescribeNatGateways"): 1000,
        ("rds", "DescribeDBSnapshots"): 100,
        ("rds", "DescribeDBClusterSnapshots"): 100,
    }
    for op, asked in page.items():
        assert fake.asked[op] == {asked}, op  # the page size is asked for, server side
        if op != ("lambda", "ListLayerVersions"):
            assert fake.calls[op] == fake.paged[op].calls(asked), op
    assert fake.calls[("lambda", "ListLayerVersions")] == 3 * fake.paged[("lambda", "ListLayerVersions")].calls(50)
    functions = len(fake.paged[("lambda", "ListFunctions")].items)
    for op in ("GetPolicy", "ListFunctionUrlConfigs", "ListFunctionEventInvokeConfigs", "GetFunctionConcurrency"):
        assert fake.calls[("lambda", op)] == functions, op  # one read per function, of each kind
    assert fake.calls[("lambda", "GetLayerVersionPolicy")] == 3 * 60
    assert fake.calls[("lambda", "GetAccountSettings")] == 1
    assert fake.snapshots is not None
    own, public = fake.snapshots
    assert fake.calls[("ec2", "DescribeSnapshots")] == own.calls(1000) + public.calls(1000)
    n = len(fake.paged[("s3", "ListBuckets")].items)
    # account-level Block Public Access is fully on: no per-bucket public-access reads at all; tags come from the
    # Tagging API's pages (one listing for the region), none from GetBucketTagging
    for op in ("GetBucketPolicy", "GetBucketVersioning", "GetBucketLifecycleConfiguration"):
        assert fake.calls[("s3", op)] == n, op
    assert not {op for (svc, op) in fake.calls if svc == "s3"} & {
        "GetPublicAccessBlock",
        "GetBucketPolicyStatus",
        "GetBucketAcl",
        "GetBucketLocation",
        "GetBucketTagging",
    }
    # who may restore or create a volume from a snapshot: no listing says, one read per (manual) snapshot
    assert fake.calls[("ec2", "DescribeSnapshotAttribute")] == len(own.items)
    assert fake.calls[("rds", "DescribeDBSnapshotAttributes")] == 150
    assert fake.calls[("rds", "DescribeDBClusterSnapshotAttributes")] == 3
    # KMS: the keys an alias/aws/* names are AWS managed: no DescribeKey, no rotation status
    assert fake.calls[("kms", "DescribeKey")] == fake.calls[("kms", "GetKeyRotationStatus")] == 1100 - 110
    assert fake.calls[("guardduty", "GetDetector")] == 3
    assert fake.calls[("elbv2", "DescribeTargetHealth")] == 450  # per target group: no listing answers it
    # CloudWatch: 450 load balancers, 30 NAT gateways x 2 and 300 io1 volumes x 2 metrics, 500 queries a call
    assert fake.calls[("cloudwatch", "GetMetricData")] == 1 + 1 + 2
    assert fake.details is not None
    iam = {op: n for (svc, op), n in fake.calls.items() if svc == "iam"}
    assert iam == {"GenerateCredentialReport": 1, "GetCredentialReport": 1, "GetAccountPasswordPolicy": 1,
                   "GetAccountAuthorizationDetails": fake.details.calls(1000)}  # fmt: skip
    assert fake.details.calls(1000) == 5  # 1,275 principals and policies, at most 300 a page
    assert fake.calls[("cloudtrail", "DescribeTrails")] == 1
    assert fake.calls[("cloudtrail", "GetTrailStatus")] == 1


# API operation -> the IAM action that authorises it, where the names differ
ACTION_OF = {
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3control", "GetPublicAccessBlock"): "s3:GetAccountPublicAccessBlock",
}
PREFIX = {
    "ec2": "ec2",
    "s3": "s3",
    "s3control": "s3",
    "iam": "iam",
    "logs": "logs",
    "cloudtrail": "cloudtrail",
    "lambda": "lambda",
    "resourcegroupstaggingapi": "tag",
    "rds": "rds",
    "kms": "kms",
    "guardduty": "guardduty",
    "accessanalyzer": "access-analyzer",
    "elbv2": "elasticloadbalancing",
    "cloudwatch": "cloudwatch",
}


def test_every_call_of_the_inventory_is_granted_to_the_role() -> None:
    """With account-level Block Public Access off, every per-bucket read is made; each maps to a declared action."""
    from functions.resource_audit.task import PERMISSIONS

    fake = _estate()
    fake.other[("s3control", "GetPublicAccessBlock")] = _raise("NoSuchPublicAccessBlockConfiguration")
    fake.other[("s3", "GetPublicAccessBlock")] = _raise("NoSuchPublicAccessBlockConfiguration")
    fake.other[("s3", "GetBucketPolicy")] = lambda p: {"Policy": '{"Statement": []}'}
    fake.other[("s3", "GetBucketPolicyStatus")] = lambda p: {"PolicyStatus": {"IsPublic": False}}
    fake.other[("s3", "GetBucketAcl")] = lambda p: {"Grants": []}
    fake.paged[("s3", "ListBuckets")] = Paged([{"Name": "b", "BucketRegion": REGION}], "Buckets", "MaxBuckets",
                                              "ContinuationToken", "ContinuationToken", 10)  # fmt: skip
    regional, account = _audit(fake)
    assert fake.unknown == []
    assert regional.errors == {}
    assert account.errors == {}
    assert {"GetBucketPolicyStatus", "GetBucketAcl"} <= {op for (svc, op) in fake.calls if svc == "s3"}
    actions = {ACTION_OF.get((svc, op), f"{PREFIX[svc]}:{op}") for svc, op in fake.calls}
    assert actions - PERMISSIONS == set()


PUBLIC_READS = {"GetPublicAccessBlock", "GetBucketPolicyStatus", "GetBucketAcl"}


@pytest.mark.parametrize(
    ("account", "bucket", "reads"),
    [
        ({"IgnorePublicAcls": True, "RestrictPublicBuckets": True}, None, set()),  # the account cancels everything
        (None, {"IgnorePublicAcls": True}, {"GetPublicAccessBlock", "GetBucketPolicyStatus"}),
        ({"IgnorePublicAcls": True}, {"RestrictPublicBuckets": True}, {"GetPublicAccessBlock"}),
        (None, {"RestrictPublicBuckets": True}, {"GetPublicAccessBlock", "GetBucketAcl"}),
        (None, None, PUBLIC_READS),
    ],
)
def test_public_access_reads_are_skipped_where_block_public_access_cancels_those_grants(
    account: dict[str, bool] | None, bucket: dict[str, bool] | None, reads: set[str]
) -> None:
    fake = _estate()
    for service, setting in (("s3control", account), ("s3", bucket)):
        if setting is None:
            fake.other[(service, "GetPublicAccessBlock")] = _raise("NoSuchPublicAccessBlockConfiguration")
        else:
            fake.other[(service, "GetPublicAccessBlock")] = lambda p, s=setting: {"PublicAccessBlockConfiguration": s}
    fake.other[("s3", "GetBucketPolicy")] = lambda p: {"Policy": '{"Statement": []}'}
    fake.other[("s3", "GetBucketPolicyStatus")] = lambda p: {"PolicyStatus": {"IsPublic": True}}
    fake.other[("s3", "GetBucketAcl")] = lambda p: {"Grants": []}
    _, account_inv = _audit(fake)
    n = len(fake.paged[("s3", "ListBuckets")].items)
    made = {op: count for (svc, op), count in fake.calls.items() if svc == "s3" and op in PUBLIC_READS}
    assert made == dict.fromkeys(reads, n)
    assert account_inv.errors == {}


def test_a_bucket_without_a_policy_has_no_policy_status_read() -> None:
    """GetBucketPolicy (for s3-bucket-secure-transport) already said there is none: its status cannot be public."""
    fake = _estate()
    fake.other[("s3control", "GetPublicAccessBlock")] = _raise("NoSuchPublicAccessBlockConfiguration")
    fake.other[("s3", "GetPublicAccessBlock")] = _raise("NoSuchPublicAccessBlockConfiguration")
    fake.other[("s3", "GetBucketAcl")] = lambda p: {"Grants": []}
    _, account_inv = _audit(fake)
    assert fake.calls[("s3", "GetBucketPolicyStatus")] == 0
    assert fake.calls[("s3", "GetBucketPolicy")] == len(fake.paged[("s3", "ListBuckets")].items)
    assert {b["public"]["policy_public"] for b in account_inv["buckets"]} == {False}
