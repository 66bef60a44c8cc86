"""Demo: a resource audit of an estate with something for every check (failing, passing, suppressed), run twice.

The estate is seeded through boto3 against the embedded AWS; ages (old snapshots, AMIs, keys, long-stopped
instances) are set on moto's backend objects, as the server runs in this process. The tests seed the same estate.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.httpsession import URLLib3Session
from rich.table import Table

from cli import registry
from cli.demo import DemoEnv
from cli.local import cli_option

TITLE = "Resource audit (cost and security hygiene)"
OWNER = [{"Key": "Owner", "Value": "platform"}]
IGNORE = "devops-tasks:audit-ignore"
BLOCK_ALL = dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True)
ClientFactory = Callable[[str, str], Any]
_LOCAL_ACCOUNT_HOST = re.compile(r"^(https?://)\d{12}\.(?=(?:127\.0\.0\.1|localhost)[:/])")


def _old(now: datetime, days: int) -> datetime:
    return (now - timedelta(days=days)).replace(tzinfo=None)


def seed_region(client: ClientFactory, account: str, region: str, now: datetime) -> dict[str, str]:
    """A failing and a passing resource for every regional check; returns their ids by role."""
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[account][region]
    ec2, logs = client("ec2", region), client("logs", region)
    az = f"{region}a"
    ids: dict[str, str] = {}

    web = ec2.create_security_group(GroupName="web", Description="https only")["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=web,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    wide = ec2.create_security_group(GroupName="wide-open", Description="ssh and everything")["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=wide,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 20, "ToPort": 25, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        ],
    )
    ids |= {"sg_pass": web, "sg_fail": wide}

    builder = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    base = ec2.create_image(InstanceId=builder, Name=f"base-{region}")["ImageId"]
    stale = ec2.create_image(InstanceId=builder, Name=f"stale-{region}")["ImageId"]
    backend.amis[stale].creation_date = _old(now, 400)
    ec2.modify_image_attribute(ImageId=stale, LaunchPermission={"Add": [{"Group": "all"}]})
    ec2.terminate_instances(InstanceIds=[builder])
    ids |= {"ami_pass": base, "ami_fail": stale}

    good = ec2.run_instances(
        ImageId=base,
        MinCount=1,
        MaxCount=1,
        SecurityGroupIds=[web],
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": OWNER}],
    )["Instances"][0]["InstanceId"]
    parked = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[parked])
    backend.get_instance(parked)._reason = f"User initiated ({_old(now, 90):%Y-%m-%d %H:%M:%S} GMT)"
    ids |= {"instance_pass": good, "instance_fail": parked}

    encrypted = {"AvailabilityZone": az, "VolumeType": "gp3", "Encrypted": True}
    kept = ec2.create_volume(Size=50, TagSpecifications=[{"ResourceType": "volume", "Tags": OWNER}], **encrypted)[
        "VolumeId"
    ]
    ec2.attach_volume(VolumeId=kept, InstanceId=good, Device="/dev/sdf")
    loose = ec2.create_volume(AvailabilityZone=az, Size=100, VolumeType="gp2")["VolumeId"]
    waiver = [*OWNER, {"Key": IGNORE, "Value": "ebs-volume-unattached"}]
    waived = ec2.create_volume(Size=20, TagSpecifications=[{"ResourceType": "volume", "Tags": waiver}], **encrypted)[
        "VolumeId"
    ]
    ids |= {"volume_pass": kept, "volume_fail": loose, "volume_tag_suppressed": waived}

    fresh = ec2.create_snapshot(VolumeId=kept, Description="nightly")["SnapshotId"]
    aged = ec2.create_snapshot(VolumeId=loose, Description="before the upgrade")["SnapshotId"]
    backend.snapshots[aged].start_time = _old(now, 500)
    ec2.modify_snapshot_attribute(
        SnapshotId=aged, Attribute="createVolumePermission", OperationType="add", GroupNames=["all"]
    )
    gone = ec2.create_volume(AvailabilityZone=az, Size=8)["VolumeId"]
    orphan = ec2.create_snapshot(VolumeId=gone, Description="of a deleted volume")["SnapshotId"]
    ec2.delete_volume(VolumeId=gone)
    ec2.modify_snapshot_attribute(
        SnapshotId=orphan, Attribute="createVolumePermission", OperationType="add", UserIds=[OUTSIDER]
    )
    ids |= {"snapshot_pass": fresh, "snapshot_fail": aged, "snapshot_orphan": orphan}

    used_ip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=used_ip, InstanceId=good)
    idle_ip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ids |= {"eip_pass": used_ip, "eip_fail": idle_ip}

    ids |= seed_rds(client, region)
    ids |= seed_keys_and_flow_logs(client, account, region)
    ids |= seed_usage(client, account, region, now, good)

    logs.create_log_group(logGroupName=f"/app/{region}/kept")
    logs.put_retention_policy(logGroupName=f"/app/{region}/kept", retentionInDays=30)
    logs.create_log_group(logGroupName=f"/app/{region}/forever")
    ids |= {"log_pass": f"/app/{region}/kept", "log_fail": f"/app/{region}/forever"}
    return ids | seed_lambda(client, region)


def seed_keys_and_flow_logs(client: ClientFactory, account: str, region: str) -> dict[str, str]:
    """KMS keys: one rotated, one not, one scheduled for deletion; a VPC with a flow log (the default VPC has none)."""
    kms, ec2 = client("kms", region), client("ec2", region)
    rotated = kms.create_key(Description="orders data")["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=rotated)
    unrotated = kms.create_key(Description="legacy data")["KeyMetadata"]["KeyId"]
    doomed = kms.create_key(Description="retired")["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    ec2.create_flow_logs(
        ResourceIds=[vpc],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="cloud-watch-logs",
        LogGroupName=f"/vpc/{region}/flow-logs",
        DeliverLogsPermissionArn=f"arn:aws:iam::{account}:role/flow-logs",
    )
    default = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    return {"key_pass": rotated, "key_fail": unrotated, "key_doomed": doomed, "vpc_pass": vpc, "vpc_fail": default}


def seed_usage(client: ClientFactory, account: str, region: str, now: datetime, instance: str) -> dict[str, str]:
    """Created 60 days ago: a load balancer serving a healthy target and one serving nothing, a NAT gateway with
    traffic and one without, an io1 volume near its provisioned IOPS and one far below; their CloudWatch metrics."""
    from moto.ec2.models import ec2_backends
    from moto.elbv2.models import elbv2_backends

    ec2, elb, cw = client("ec2", region), client("elbv2", region), client("cloudwatch", region)
    backend = ec2_backends[account][region]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s.get("DefaultForAz")][:2]
    vpc = ec2.describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["VpcId"]
    ago = _old(now, 60)
    recent = (now - timedelta(days=2)).replace(tzinfo=None)

    def metric(namespace: str, name: str, dimension: str, value: str, amount: float) -> None:
        point = {"MetricName": name, "Timestamp": recent, "Value": amount}
        cw.put_metric_data(
            Namespace=namespace, MetricData=[point | {"Dimensions": [{"Name": dimension, "Value": value}]}]
        )

    lbs = {}
    for role in ("serving", "idle"):
        lb = elb.create_load_balancer(Name=f"{role}-{region}", Subnets=subnets, Type="application")["LoadBalancers"][0]
        elbv2_backends[account][region].load_balancers[lb["LoadBalancerArn"]].created_time = ago.isoformat() + "Z"
        lbs[role] = lb
    group = elb.create_target_group(Name=f"web-{region}", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]
    forward = [{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}]
    elb.create_listener(LoadBalancerArn=lbs["serving"]["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=forward)  # fmt: skip
    elb.register_targets(TargetGroupArn=group["TargetGroupArn"], Targets=[{"Id": instance, "Port": 80}])
    dimension = lbs["serving"]["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
    metric("AWS/ApplicationELB", "RequestCount", "LoadBalancer", dimension, 1200)

    nats = {}
    for role in ("busy", "idle"):
        ip = ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat = ec2.create_nat_gateway(SubnetId=subnets[0], AllocationId=ip)["NatGateway"]["NatGatewayId"]
        backend.nat_gateways[nat]._created_at = ago
        nats[role] = nat
    metric("AWS/NATGateway", "BytesOutToDestination", "NatGatewayId", nats["busy"], 5e9)

    volumes = {}
    for role, device in (("busy", "/dev/sdg"), ("idle", "/dev/sdh")):
        vol = ec2.create_volume(AvailabilityZone=f"{region}a", Size=100, VolumeType="io1", Iops=2000, Encrypted=True,
                                TagSpecifications=[{"ResourceType": "volume", "Tags": OWNER}])["VolumeId"]  # fmt: skip
        ec2.attach_volume(VolumeId=vol, InstanceId=instance, Device=device)
        backend.volumes[vol].create_time = ago
        volumes[role] = vol
    metric("AWS/EBS", "VolumeReadOps", "VolumeId", volumes["busy"], 60 * 1500)  # 1,500 IOPS at its peak minute
    return {
        "lb_pass": lbs["serving"]["LoadBalancerName"], "lb_fail": lbs["idle"]["LoadBalancerName"],
        "nat_pass": nats["busy"], "nat_fail": nats["idle"], "io_pass": volumes["busy"], "io_fail": volumes["idle"],
    }  # fmt: skip


OUTSIDER = "999988887777"
"""An account outside the organization (and outside the audit)."""


def seed_rds(client: ClientFactory, region: str) -> dict[str, str]:
    """A private, encrypted, backed-up database with an unshared snapshot; a public, unencrypted one without
    backups whose snapshot is shared outside the organization."""
    rds = client("rds", region)
    base = {"DBInstanceClass": "db.t4g.micro", "Engine": "postgres", "AllocatedStorage": 20,
            "MasterUsername": "app", "MasterUserPassword": "not-a-real-secret-1"}  # fmt: skip
    good, bad = f"orders-{region}", f"legacy-{region}"
    rds.create_db_instance(DBInstanceIdentifier=good, StorageEncrypted=True, PubliclyAccessible=False,
                           BackupRetentionPeriod=7, **base)  # fmt: skip
    rds.create_db_instance(DBInstanceIdentifier=bad, StorageEncrypted=False, PubliclyAccessible=True,
                           BackupRetentionPeriod=0, **base)  # fmt: skip
    rds.create_db_snapshot(DBSnapshotIdentifier=f"{good}-manual", DBInstanceIdentifier=good)
    rds.create_db_snapshot(DBSnapshotIdentifier=f"{bad}-manual", DBInstanceIdentifier=bad)
    rds.modify_db_snapshot_attribute(
        DBSnapshotIdentifier=f"{bad}-manual", AttributeName="restore", ValuesToAdd=[OUTSIDER]
    )
    return {"db_pass": good, "db_fail": bad, "db_snapshot_pass": f"{good}-manual", "db_snapshot_fail": f"{bad}-manual"}


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return 'ok'\n")
    return buf.getvalue()


def seed_lambda(client: ClientFactory, region: str) -> dict[str, str]:
    """A tidy function and a neglected one (public policy and URL, deprecated runtime, failures dropped, reserved
    concurrency 0), and a layer with a public and a private version."""
    from cli.moto_lambda import teach_moto

    teach_moto()
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    role = client("iam", region).create_role(RoleName=f"fn-{region}", AssumeRolePolicyDocument=json.dumps(trust))
    lam = client("lambda", region)
    code = {"Role": role["Role"]["Arn"], "Handler": "index.handler", "Code": {"ZipFile": _zip()}}
    tidy, neglected = f"orders-api-{region}", f"legacy-hook-{region}"
    lam.create_function(FunctionName=tidy, Runtime="python3.12", **code)
    lam.create_function(FunctionName=neglected, Runtime="python3.9", **code)
    lam.add_permission(
        FunctionName=tidy,
        StatementId="s3-uploads",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::uploads",
    )
    lam.add_permission(FunctionName=neglected, StatementId="anyone", Action="lambda:InvokeFunction", Principal="*")
    lam.create_function_url_config(FunctionName=tidy, AuthType="AWS_IAM")
    lam.create_function_url_config(FunctionName=neglected, AuthType="NONE")
    failures = f"arn:aws:sqs:{region}:{role['Role']['Arn'].split(':')[4]}:failed-orders"
    lam.put_function_event_invoke_config(FunctionName=tidy, DestinationConfig={"OnFailure": {"Destination": failures}})
    lam.put_function_concurrency(FunctionName=neglected, ReservedConcurrentExecutions=0)
    layer = f"shared-lib-{region}"
    for _ in range(2):
        lam.publish_layer_version(LayerName=layer, Content={"ZipFile": _zip()})
    lam.add_layer_version_permission(
        LayerName=layer, VersionNumber=1, StatementId="everyone", Action="lambda:GetLayerVersion", Principal="*"
    )
    return {"lambda_pass": tidy, "lambda_fail": neglected, "layer_pass": f"{layer}:2", "layer_fail": f"{layer}:1"}


def _tls_only(bucket: str) -> str:
    """A bucket policy that denies every request over plain HTTP."""
    deny = {
        "Sid": "TlsOnly",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [deny]})


def seed_account(client: ClientFactory, account: str, region: str, now: datetime, *, hardened: bool) -> dict[str, str]:
    """Account-wide resources. ``hardened``: account settings pass (BPA, password policy, trail); else they fail."""
    from moto.iam.models import iam_backends

    s3, iam = client("s3", region), client("iam", region)
    where = {"CreateBucketConfiguration": {"LocationConstraint": region}} if region != "us-east-1" else {}
    good, bad = f"tidy-{account}", f"messy-{account}"
    for name in (good, bad):
        s3.create_bucket(Bucket=name, **where)
    s3.put_bucket_encryption(
        Bucket=good,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_policy(Bucket=good, Policy=_tls_only(good))
    s3.put_bucket_versioning(Bucket=good, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(
        Bucket=good,
        LifecycleConfiguration={
            "Rules": [{"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 7}}]
        },
    )
    s3.put_bucket_tagging(Bucket=good, Tagging={"TagSet": OWNER})
    block = BLOCK_ALL
    s3.put_public_access_block(Bucket=good, PublicAccessBlockConfiguration=block)
    if hardened:
        client("s3control", region).put_public_access_block(AccountId=account, PublicAccessBlockConfiguration=block)
        iam.update_account_password_policy(MinimumPasswordLength=16, PasswordReusePrevention=24)
        trail_bucket = f"trail-{account}"
        s3.create_bucket(Bucket=trail_bucket, **where)
        trails = client("cloudtrail", region)
        trails.create_trail(Name="org", S3BucketName=trail_bucket, IsMultiRegionTrail=True)
        trails.start_logging(Name="org")
    else:
        s3.put_bucket_acl(Bucket=bad, ACL="public-read")

    iam.create_user(UserName="alice")
    iam.create_login_profile(UserName="alice", Password="Correct-Horse-Battery-9")
    key = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    user = iam_backends[account]["global"].users["alice"]
    for k in user.access_keys:
        if k.access_key_id == key:
            k.create_date = _old(now, 200)
    iam.create_user(UserName="bob")
    iam.create_access_key(UserName="bob")
    admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.create_group(GroupName="ops")
    iam.put_group_policy(GroupName="ops", PolicyName="everything", PolicyDocument=json.dumps(admin))
    return {"bucket_pass": good, "bucket_fail": bad, "user_fail": "alice", "user_pass": "bob", "group_fail": "ops"}


ROOT_ROW = (
    "<root_account>,arn:aws:iam::{account}:root,2020-01-01T00:00:00+00:00,not_supported,{used},"
    "not_supported,not_supported,{mfa},{keys},2020-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,"
    "false,N/A,false,N/A\n"
)


@contextmanager
def moto_audit_shims(
    root: dict[str, tuple[bool, bool]] | None = None, root_used: dict[str, datetime] | None = None
) -> Iterator[None]:
    """Make moto answer two calls as AWS does (production code stays as it is for real AWS):

    - ``DescribeSnapshots(RestorableByUserIds=['all'])`` lists only public snapshots (moto ignores the filter);
    - the credential report has a ``<root_account>`` row (moto's has none): ``root[account] = (mfa, keys)``, its
      password last used ``root_used[account]`` (else never: ``no_information``);
    - S3 Control calls reach a local endpoint: botocore puts the account id in front of the host
      (``123456789012.127.0.0.1``), which only resolves on AWS; it is taken off again for local hosts.
    """
    from moto.ec2.models.elastic_block_store import EBSBackend

    from cli.moto_lambda import teach_moto

    teach_moto()  # ListFunctionUrlConfigs and GetAccountSettings, which moto does not answer
    from moto.ec2.responses.elastic_block_store import ElasticBlockStore
    from moto.iam.models import IAMBackend

    original_describe = ElasticBlockStore.describe_snapshots
    original_report = IAMBackend.get_credential_report

    def describe_snapshots(self: Any) -> Any:
        if "all" not in self._get_param("RestorableByUserIds", []):
            return original_describe(self)
        backend: EBSBackend = self.ec2_backend
        public = [s for s in backend.snapshots.values() if "all" in s.create_volume_permission_groups]
        from moto.core.responses import ActionResult

        return ActionResult({"Snapshots": public})

    def get_credential_report(self: Any) -> str:
        report: str = original_report(self)
        if root is None or self.account_id not in root:
            return report
        mfa, keys = root[self.account_id]
        header, rest = report.split("\n", 1)
        when = (root_used or {}).get(self.account_id)
        used = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00") if when else "no_information"
        row = ROOT_ROW.format(account=self.account_id, mfa=str(mfa).lower(), keys=str(keys).lower(), used=used)
        return f"{header}\n{row}{rest}"

    original_send = URLLib3Session.send

    def send(self: Any, request: Any) -> Any:
        request.url = _LOCAL_ACCOUNT_HOST.sub(r"\1", request.url)
        return original_send(self, request)

    ElasticBlockStore.describe_snapshots = describe_snapshots  # type: ignore[method-assign]
    IAMBackend.get_credential_report = get_credential_report  # type: ignore[method-assign]
    URLLib3Session.send = send  # type: ignore[method-assign]
    try:
        yield
    finally:
        ElasticBlockStore.describe_snapshots = original_describe  # type: ignore[method-assign]
        IAMBackend.get_credential_report = original_report  # type: ignore[method-assign]
        URLLib3Session.send = original_send  # type: ignore[method-assign]


def audit_event(env: DemoEnv, regions: list[str]) -> dict[str, Any]:
    """The schedule's input, with the demo's regions and a configured suppression (and an expired one)."""
    event: dict[str, Any] = registry.find("resource-audit").schedule_input() or {}
    return event | {
        "regions": regions,
        "suppressions": [
            {"check": "ebs-volume-gp2", "resource": "vol-*", "reason": "gp3 migration planned for Q3",
             "expires": "2099-12-31"},
            {"check": "s3-bucket-versioning", "resource": "messy-*", "reason": "scratch data, waived last year",
             "expires": "2020-12-31"},
        ],
    }  # fmt: skip


def run(env: DemoEnv) -> None:
    now = datetime.now(UTC)
    regions = [env.region, env.other_region]

    def client(service: str, region: str) -> Any:
        return env.client(service, region)

    with moto_audit_shims({env.account: (False, False)}), cli_option("local_dir", str(env.out / "resource-audit")):
        for region in regions:
            seed_region(client, env.account, region, now)
        client("ec2", env.region).enable_ebs_encryption_by_default()
        client("guardduty", env.region).create_detector(Enable=True)
        seed_account(client, env.account, env.region, now, hardened=False)
        env.console.print(f"seeded an estate in {', '.join(regions)}: a failing and a passing resource per check")

        event = audit_event(env, regions)
        first = env.invoke("resource-audit", event)
        _show(env, "first run", first.response or {})
        # Fix a few things and break one, then audit again: the diff shows what changed.
        ec2 = client("ec2", env.region)
        for vol in ec2.describe_volumes(Filters=[{"Name": "status", "Values": ["available"]}])["Volumes"]:
            if not any(t["Key"] == IGNORE for t in vol.get("Tags", [])):
                ec2.delete_volume(VolumeId=vol["VolumeId"])
        client("s3control", env.region).put_public_access_block(
            AccountId=env.account,
            PublicAccessBlockConfiguration=BLOCK_ALL,
        )
        client("logs", env.other_region).create_log_group(logGroupName="/app/new/forever")
        second = env.invoke("resource-audit", event)
        _show(env, "second run (after fixing some findings)", second.response or {})
    links = (second.response or {}).get("links", {})
    for name in ("local html", "local csv", "local json", "html"):
        if name in links:
            env.console.print(f"{name}: {links[name]}")


def _show(env: DemoEnv, label: str, resp: dict[str, Any]) -> None:
    env.console.print(f"[bold]{label}[/bold]: {resp.get('status')}")
    for line in resp.get("notes", []):
        env.console.print(f"  {line}")
    table = Table(title=f"{label}: findings by region")
    for col in ("unit", "FAIL", "PASS", "SUPPRESSED", "ERROR"):
        table.add_column(col, justify="left" if col == "unit" else "right")
    for u in resp.get("units", []):
        c = u.get("counts", {})
        table.add_row(
            f"{u['account']}/{u['region']}",
            *[str(c.get(f"findings_{k}", 0)) for k in ("fail", "pass", "suppressed", "error")],
        )
    env.console.print(table)
