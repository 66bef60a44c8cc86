"""Read-only inventory of RDS and of what EC2 shares with other accounts, per (account, region).

RDS: one paginated DescribeDBInstances; one paginated DescribeDBSnapshots and DescribeDBClusterSnapshots (manual
ones: only those can be shared) and, per manual snapshot, its restore attribute (no listing returns who may
restore it). EBS: per own snapshot, DescribeSnapshotAttribute createVolumePermission (no listing returns the
accounts a snapshot is shared with; RestorableByUserIds needs the account ids in advance). A per-snapshot read
that fails is that snapshot's SourceError: its check reports ERROR for it alone.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from functions.resource_audit.checks.base import Inventory
from functions.resource_audit.checks.detection import rotatable
from shared.aws import Clients

RDS_PAGE = 100

DERIVED = {"snapshot_permissions": "snapshots"}
"""Sources read item by item from another source's listing, after it."""


def listers(clients: Clients, region: str, inv: Inventory) -> dict[str, Callable[[], Any]]:
    """The sources of this module for one region, by name; clients are made when a source is read."""
    from functions.resource_audit.inventory import _catch, _pages

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
    return {
        "guardduty_detectors": guardduty,
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
