"""Read-only inventory of RDS and of what EC2 shares with other accounts, per (account, region).

RDS: one paginated DescribeDBInstances; one paginated DescribeDBSnapshots and DescribeDBClusterSnapshots (manual
ones: only those can be shared) and, per manual snapshot, its restore attribute (no listing returns who may
restore it). EBS: per own snapshot, DescribeSnapshotAttribute createVolumePermission (no listing returns the
accounts a snapshot is shared with; RestorableByUserIds needs the account ids in advance). A per-snapshot read
that fails is that snapshot's SourceError: its check reports ERROR for it alone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from functions.resource_audit import metrics
from functions.resource_audit.checks import usage as usage_checks
from functions.resource_audit.checks.base import Inventory
from functions.resource_audit.checks.detection import rotatable
from shared.aws import Clients

RDS_PAGE = 100

DERIVED = {
    "snapshot_permissions": "snapshots",
    "target_health": "target_groups",
    "lb_requests": "load_balancers",
    "nat_traffic": "nat_gateways",
    "volume_iops": "volumes",
}
"""Sources read item by item from another source's listing, after it."""


def listers(clients: Clients, region: str, inv: Inventory, now: datetime) -> dict[str, Callable[[], Any]]:
    """The sources of this module for one region, by name; clients are made when a source is read; ``now`` ends
    the metrics' window."""
    from functions.resource_audit.inventory import _catch, _pages

    def elbv2() -> Any:
        return clients.client("elbv2", region)

    def target_health() -> dict[str, Any]:
        lb = elbv2()

        def read(arn: str) -> list[dict[str, Any]]:
            got = lb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
            return [{"Id": t.get("Target", {}).get("Id"), "State": t.get("TargetHealth", {}).get("State")} for t in got]

        return {g["TargetGroupArn"]: _catch(partial(read, g["TargetGroupArn"])) for g in inv.data["target_groups"]}

    def usage(queries: Callable[[], list[metrics.Query]]) -> Callable[[], Any]:
        return lambda: metrics.read(clients.client("cloudwatch", region), queries(), now)

    def lb_queries() -> list[metrics.Query]:
        return [
            metrics.Query(lb["LoadBalancerArn"], *usage_checks.LB_METRIC[lb["Type"]],
                          (("LoadBalancer", usage_checks.lb_dimension(lb["LoadBalancerArn"])),), "Sum", 86400)
            for lb in inv.data["load_balancers"]
            if lb.get("Type") in usage_checks.LB_METRIC
        ]  # fmt: skip

    def nat_queries() -> list[metrics.Query]:
        return [
            metrics.Query(g["NatGatewayId"], "AWS/NATGateway", m, (("NatGatewayId", g["NatGatewayId"]),), "Sum", 86400)
            for g in inv.data["nat_gateways"]
            for m in usage_checks.NAT_METRICS
        ]

    def iops_queries() -> list[metrics.Query]:
        return [
            metrics.Query(v["VolumeId"], "AWS/EBS", m, (("VolumeId", v["VolumeId"]),), "Maximum", 3600)
            for v in inv.data["volumes"]
            if v.get("VolumeType") in ("io1", "io2") and v.get("State") == "in-use"
            for m in usage_checks.IOPS_METRICS
        ]

    def rds() -> Any:
        return clients.client("rds", region)

    def db_snapshots() -> list[dict[str, Any]]:
        client = rds()
        out = []
        for op, key, id_key, attrs, result in (
            ("describe_db_snapshots", "DBSnapshots", "DBSnapshotIdentifier", "describe_db_snapshot_attributes",
             "DBSnapshotAttributesResult"),
            ("describe_db_cluster_snapshots", "DBClusterSnapshots", "DBClusterSnapshotIdentifier",
             "describe_db_cluster_snapshot_attributes", "DBClusterSnapshotAttributesResult"),
        ):  # fmt: skip
            for snap in _pages(client, op, key, SnapshotType="manual", PaginationConfig={"PageSize": RDS_PAGE}):
                read = partial(_read_restore, getattr(client, attrs), result, **{id_key: snap[id_key]})
                restore = _catch(read)
                out.append(
                    {
                        "id": snap[id_key],
                        "arn": snap.get(f"{id_key.removesuffix('Identifier')}Arn"),
                        "kind": "cluster" if "Cluster" in key else "instance",
                        "restore": restore,
                    }
                )
        return out

    def snapshot_permissions() -> dict[str, Any]:
        ec2 = clients.client("ec2", region)

        def read(sid: str) -> list[dict[str, str]]:
            got = ec2.describe_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission")
            perms: list[dict[str, str]] = got["CreateVolumePermissions"]
            return perms

        return {s["SnapshotId"]: _catch(partial(read, s["SnapshotId"])) for s in inv.data["snapshots"]}

    def guardduty() -> list[dict[str, Any]]:
        gd = clients.client("guardduty", region)
        ids = _pages(gd, "list_detectors", "DetectorIds", PaginationConfig={"PageSize": 50})
        return [{"id": i, "status": _catch(partial(_detector_status, gd, i))} for i in ids]

    def kms_keys() -> list[dict[str, Any]]:
        kms = clients.client("kms", region)
        keys = _pages(kms, "list_keys", "Keys", PaginationConfig={"PageSize": 1000})
        aliases = _pages(kms, "list_aliases", "Aliases", PaginationConfig={"PageSize": 100})
        aws_managed = {a.get("TargetKeyId") for a in aliases if str(a.get("AliasName", "")).startswith("alias/aws/")}
        out = []
        for k in keys:
            key: dict[str, Any] = {
                "KeyId": k["KeyId"],
                "KeyArn": k.get("KeyArn"),
                "aws_managed": k["KeyId"] in aws_managed,
            }
            if not key["aws_managed"]:
                key["meta"] = _catch(partial(_describe_key, kms, k["KeyId"]))
                meta = key["meta"]
                if isinstance(meta, dict) and rotatable(meta):
                    key["rotation"] = _catch(partial(_rotation, kms, k["KeyId"]))
            out.append(key)
        return out

    ec2 = clients.client("ec2", region)
    live = [{"Name": "state", "Values": ["pending", "available"]}]
    return {
        "load_balancers": lambda: _pages(
            elbv2(), "describe_load_balancers", "LoadBalancers", PaginationConfig={"PageSize": 400}
        ),
        "target_groups": lambda: _pages(
            elbv2(), "describe_target_groups", "TargetGroups", PaginationConfig={"PageSize": 400}
        ),
        "target_health": target_health,
        "nat_gateways": lambda: _pages(
            ec2, "describe_nat_gateways", "NatGateways", Filter=live, PaginationConfig={"PageSize": 1000}
        ),
        "lb_requests": usage(lb_queries),
        "nat_traffic": usage(nat_queries),
        "volume_iops": usage(iops_queries),
        "guardduty_detectors": guardduty,
        "access_analyzers": lambda: _pages(
            clients.client("accessanalyzer", region), "list_analyzers", "analyzers", PaginationConfig={"PageSize": 100}
        ),
        "kms_keys": kms_keys,
        "vpcs": lambda: _pages(ec2, "describe_vpcs", "Vpcs", PaginationConfig={"PageSize": 1000}),
        "flow_logs": lambda: _pages(ec2, "describe_flow_logs", "FlowLogs", PaginationConfig={"PageSize": 1000}),
        "db_instances": lambda: _pages(
            rds(), "describe_db_instances", "DBInstances", PaginationConfig={"PageSize": RDS_PAGE}
        ),
        "db_snapshots": db_snapshots,
        "snapshot_permissions": snapshot_permissions,
    }


def _detector_status(gd: Any, detector: str) -> str:
    return str(gd.get_detector(DetectorId=detector)["Status"])


def _describe_key(kms: Any, key_id: str) -> dict[str, Any]:
    meta: dict[str, Any] = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    return meta


def _rotation(kms: Any, key_id: str) -> bool:
    return bool(kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"])


def _read_restore(call: Callable[..., Any], result: str, **params: str) -> list[str]:
    return _restore(call(**params)[result])


def _restore(result: dict[str, Any]) -> list[str]:
    """Who may restore the snapshot: account ids, or ``all``; ValueError when the answer has no restore attribute
    (AWS always returns it, empty when the snapshot is not shared)."""
    for attr in result.get("DBSnapshotAttributes") or result.get("DBClusterSnapshotAttributes") or []:
        if attr.get("AttributeName") == "restore":
            return [str(v) for v in attr.get("AttributeValues") or []]
    raise ValueError("no restore attribute in the answer")
