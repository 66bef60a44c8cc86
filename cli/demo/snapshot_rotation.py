"""Demo: EBS snapshot rotation over two regions with a DR copy, through the real handler and schedule input."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.table import Table

from cli import registry
from cli.demo import DemoEnv

TITLE = "EBS snapshot rotation"
MANAGED = [{"Key": "devops-tasks:managed", "Value": "true"}, {"Key": "devops-tasks:policy", "Value": "default"}]


def _history_days() -> list[int]:
    """Ages of the existing managed snapshots: daily for two weeks, weekly for a quarter, monthly past a year."""
    return sorted({*range(1, 15), *range(14, 91, 7), *range(90, 430, 30)})


def _age(env: DemoEnv, region: str, snapshot_id: str, now: datetime, days: int, status: str = "completed") -> None:
    from moto.ec2.models import ec2_backends

    snap = ec2_backends[env.account][region].snapshots[snapshot_id]
    snap.start_time = (now - timedelta(days=days, hours=1)).replace(tzinfo=None)
    snap.status = status


def seed(env: DemoEnv, region: str, now: datetime) -> dict[str, int]:
    ec2 = env.client("ec2", region)
    counts: Counter[str] = Counter()
    az = f"{region}a"
    tagged = []
    for i in range(24):
        backup = i % 3 != 2
        tags = [{"Key": "Name", "Value": f"app-{i:02d}"}, {"Key": "team", "Value": "platform" if i % 2 else "data"}]
        if backup:
            tags.append({"Key": "Backup", "Value": "true"})
        vol = ec2.create_volume(
            AvailabilityZone=az, Size=8 + i, TagSpecifications=[{"ResourceType": "volume", "Tags": tags}]
        )
        counts["volumes tagged Backup=true" if backup else "volumes not selected"] += 1
        if backup:
            tagged.append(vol["VolumeId"])
    for vid in tagged[:8]:
        for days in _history_days():
            snap = ec2.create_snapshot(
                VolumeId=vid,
                TagSpecifications=[
                    {"ResourceType": "snapshot", "Tags": [*MANAGED, {"Key": "devops-tasks:volume-id", "Value": vid}]}
                ],
            )
            _age(env, region, snap["SnapshotId"], now, days)
            counts["managed snapshots (history)"] += 1
    for vid in tagged[8:11]:
        snap = ec2.create_snapshot(VolumeId=vid, Description="taken by hand")
        _age(env, region, snap["SnapshotId"], now, 400)
        counts["unmanaged snapshots"] += 1
    # An AMI whose (old, managed-looking) snapshot must survive any rotation.
    image = ec2.register_image(Name=f"golden-{region}", RootDeviceName="/dev/xvda")
    desc = ec2.describe_images(ImageIds=[image["ImageId"]])["Images"][0]
    ami_snap = desc["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    ec2.create_tags(Resources=[ami_snap], Tags=[*MANAGED, {"Key": "devops-tasks:volume-id", "Value": tagged[0]}])
    _age(env, region, ami_snap, now, 300)
    counts["snapshots used by an AMI"] += 1
    # A snapshot still pending: its volume is skipped this run.
    pending = ec2.create_snapshot(
        VolumeId=tagged[-1],
        TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": [*MANAGED, {"Key": "devops-tasks:volume-id", "Value": tagged[-1]}]}
        ],
    )
    _age(env, region, pending["SnapshotId"], now, 0, status="pending")
    counts["pending snapshots"] += 1
    return dict(counts)


def run(env: DemoEnv) -> None:
    now = datetime.now(UTC)
    regions = [env.region, env.other_region]
    seeded = {region: seed(env, region, now) for region in regions}
    table = Table(title="seeded estate")
    table.add_column("what")
    for region in regions:
        table.add_column(region, justify="right")
    for key in seeded[env.region]:
        table.add_row(key, *[str(seeded[r].get(key, 0)) for r in regions])
    env.console.print(table)

    event: dict[str, Any] = registry.find("snapshot-rotation").schedule_input() or {}
    event |= {"regions": regions}
    event["policy"] = dict(event.get("policy", {})) | {"dr": {"region": env.dr_region}}
    env.console.print(f"invoking the handler with the schedule's input (+ regions {regions}, DR {env.dr_region})")
    first = env.invoke("snapshot-rotation", event)
    # Snapshots created by the first run complete; the second run copies them to the DR region.
    from moto.ec2.models import ec2_backends

    for region in regions:
        for snap in ec2_backends[env.account][region].snapshots.values():
            snap.status = "completed"
    second = env.invoke("snapshot-rotation", event)
    for label, outcome in (("first run", first), ("second run", second)):
        _show(env, label, outcome.response or {})
    if second.response:
        env.write("snapshot-rotation/report.json", second.response)
        env.write("snapshot-rotation/first-run.json", first.response or {})
        env.console.print(f"reports: {env.out}/snapshot-rotation/ and {second.response.get('location')}")


def _general(reason: str) -> str:
    """A reason without ids and dates, to group by."""
    reason = re.sub(r"\b(snap|vol)-[0-9a-f]+", "<id>", reason)
    return re.sub(r"\b\d{4}(-W?\d{2})?(-\d{2})?(T\d{2})?\b", "<period>", reason)


def _show(env: DemoEnv, label: str, resp: dict[str, Any]) -> None:
    units = resp.get("units", [])
    table = Table(title=f"{label}: {resp.get('status')}")
    for col in ("region", "created", "deleted", "copied", "kept", "skipped", "failed"):
        table.add_column(col, justify="right" if col != "region" else "left")
    for u in units:
        c = u.get("counts", {})
        label_u = u["region"]
        table.add_row(
            label_u, *[str(c.get(k, 0)) for k in ("created", "deleted", "copied", "kept", "skipped", "failed")]
        )
    env.console.print(table)
    reasons: Counter[str] = Counter()
    for u in units:
        for a in u.get("actions", []):
            if a["action"] in ("keep", "skip"):
                reasons[f"{a['action']}: {_general(a['reason'])}"] += 1
    why = Table(title=f"{label}: kept and skipped, by reason")
    why.add_column("reason")
    why.add_column("snapshots/volumes", justify="right")
    for reason, n in reasons.most_common():
        why.add_row(reason, str(n))
    env.console.print(why)
