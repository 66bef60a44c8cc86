"""EC2 and EBS checks, per (account, region)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from functions.resource_audit.checks.base import (
    CheckEnv,
    Inventory,
    Outcome,
    OutcomeStatus,
    check,
    money,
    parse_time,
    stopped_at,
    tags_of,
)


def _volume(inv: Inventory, v: dict[str, Any], status: str, evidence: str, saving: float | None = None) -> Outcome:
    return Outcome(
        resource=v["VolumeId"],
        resource_type="volume",
        status=status,  # type: ignore[arg-type]
        evidence=evidence,
        arn=inv.arn("ec2", f"volume/{v['VolumeId']}"),
        saving=saving,
        tags=tags_of(v.get("Tags")),
    )


def _snapshot(inv: Inventory, s: dict[str, Any], status: str, evidence: str, saving: float | None = None) -> Outcome:
    return Outcome(
        resource=s["SnapshotId"],
        resource_type="snapshot",
        status=status,  # type: ignore[arg-type]
        evidence=evidence,
        arn=inv.arn("ec2", f"snapshot/{s['SnapshotId']}", account=False),
        saving=saving,
        tags=tags_of(s.get("Tags")),
    )


def _instance(inv: Inventory, i: dict[str, Any], status: str, evidence: str, saving: float | None = None) -> Outcome:
    return Outcome(
        resource=i["InstanceId"],
        resource_type="instance",
        status=status,  # type: ignore[arg-type]
        evidence=evidence,
        arn=inv.arn("ec2", f"instance/{i['InstanceId']}"),
        saving=saving,
        tags=tags_of(i.get("Tags")),
    )


@check(
    id="ebs-volume-unattached",
    title="EBS volume not attached to any instance",
    category="cost",
    severity="medium",
    scope="region",
    needs=("volumes",),
    looks_at="DescribeVolumes: volumes in state 'available'",
    remediation="Snapshot the volume if its data matters, then delete it.",
    link="https://docs.aws.amazon.com/ebs/latest/userguide/ebs-deleting-volume.html",
)
def volume_unattached(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for v in inv["volumes"]:
        size, kind, state = int(v.get("Size") or 0), v.get("VolumeType") or "gp2", v.get("State")
        if not state:
            yield _volume(inv, v, "ERROR", "state not reported")
        elif state == "available":
            cost = money(env.prices.volume_month(kind, size))
            yield _volume(inv, v, "FAIL", f"unattached {kind} volume of {size} GiB", cost)
        else:
            yield _volume(inv, v, "PASS", f"state {state}")


@check(
    id="ebs-volume-gp2",
    title="EBS volume is gp2 (gp3 costs 20% less)",
    category="cost",
    severity="low",
    scope="region",
    needs=("volumes",),
    looks_at="DescribeVolumes: VolumeType gp2",
    remediation="Modify the volume to gp3 in place (no downtime); set IOPS/throughput if it needs more than the "
    "gp3 baseline of 3000 IOPS and 125 MiB/s.",
    link="https://docs.aws.amazon.com/ebs/latest/userguide/ebs-modify-volume.html",
)
def volume_gp2(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for v in inv["volumes"]:
        size, kind = int(v.get("Size") or 0), v.get("VolumeType")
        if not kind:
            yield _volume(inv, v, "ERROR", "volume type not reported")
        elif kind == "gp2":
            yield _volume(inv, v, "FAIL", f"gp2, {size} GiB", money(env.prices.gp3_saving(size)))
        else:
            yield _volume(inv, v, "PASS", f"type {kind}")


@check(
    id="ebs-volume-unencrypted",
    title="EBS volume is not encrypted",
    category="security",
    severity="medium",
    scope="region",
    needs=("volumes",),
    looks_at="DescribeVolumes: Encrypted",
    remediation="Snapshot the volume, copy the snapshot with encryption, create a volume from it and swap it in; "
    "turn on EBS encryption by default so new volumes are encrypted.",
    link="https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption.html",
    cis=("2.2.1",),
    prowler=("ec2_ebs_volume_encryption",),
)
def volume_unencrypted(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for v in inv["volumes"]:
        encrypted = v.get("Encrypted")
        if encrypted is True:
            yield _volume(inv, v, "PASS", "encrypted")
        elif encrypted is False:
            yield _volume(inv, v, "FAIL", "not encrypted")
        else:
            yield _volume(inv, v, "ERROR", f"encryption not reported ({encrypted!r})")


@check(
    id="ebs-encryption-by-default",
    title="EBS encryption by default is off in the region",
    category="security",
    severity="medium",
    scope="region",
    needs=("ebs_default_encryption",),
    looks_at="GetEbsEncryptionByDefault",
    remediation="EC2 console > Settings > EBS encryption > Always encrypt new EBS volumes "
    "(aws ec2 enable-ebs-encryption-by-default), in every region in use.",
    link="https://docs.aws.amazon.com/ebs/latest/userguide/encryption-by-default.html",
    cis=("2.2.1",),
    prowler=("ec2_ebs_default_encryption",),
)
def encryption_by_default(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    on = inv["ebs_default_encryption"]
    known = isinstance(on, bool)
    yield Outcome(
        resource="ebs-encryption-by-default",
        resource_type="region-setting",
        status=("PASS" if on else "FAIL") if known else "ERROR",
        evidence=("enabled" if on else "disabled") if known else f"setting not reported ({on!r})",
        arn=None,
    )


@check(
    id="ebs-snapshot-old",
    title="EBS snapshot older than the age threshold",
    category="cost",
    severity="low",
    scope="region",
    needs=("snapshots",),
    looks_at="DescribeSnapshots (OwnerIds=self): StartTime against thresholds.snapshot_max_age_days",
    remediation="Delete snapshots nobody needs, or archive them (standard -> archive tier costs 75% less); "
    "let a rotation policy (the snapshot-rotation task, or DLM) keep the rest in check.",
    link="https://docs.aws.amazon.com/ebs/latest/userguide/snapshot-archive.html",
)
def snapshot_old(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    limit = env.params.thresholds.snapshot_max_age_days
    for s in inv["snapshots"]:
        started = parse_time(s.get("StartTime"))
        if started is None:
            yield _snapshot(inv, s, "ERROR", f"start time not readable ({s.get('StartTime')!r})")
            continue
        age = (env.now - started).days
        if age > limit:
            saving = money(env.prices.snapshot_month(int(s.get("VolumeSize", 0))))
            yield _snapshot(inv, s, "FAIL", f"{age} days old (limit {limit})", saving)
        else:
            yield _snapshot(inv, s, "PASS", f"{age} days old")


def _ami_snapshot_ids(images: list[dict[str, Any]]) -> set[str]:
    return {
        bdm["Ebs"]["SnapshotId"]
        for image in images
        for bdm in image.get("BlockDeviceMappings", [])
        if bdm.get("Ebs", {}).get("SnapshotId")
    }


@check(
    id="ebs-snapshot-orphan",
    title="EBS snapshot of a deleted volume, used by no AMI",
    category="cost",
    severity="low",
    scope="region",
    needs=("snapshots", "volumes", "images"),
    looks_at="DescribeSnapshots, DescribeVolumes, DescribeImages (Owners=self): volume gone, no AMI uses it",
    remediation="Delete the snapshot if nothing will be restored from it; otherwise tag who owns it.",
    link="https://docs.aws.amazon.com/ebs/latest/userguide/ebs-deleting-snapshot.html",
)
def snapshot_orphan(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    volumes = {v["VolumeId"] for v in inv["volumes"]}
    in_ami = _ami_snapshot_ids(inv["images"])
    for s in inv["snapshots"]:
        vid = s.get("VolumeId", "")
        if s["SnapshotId"] in in_ami:
            yield _snapshot(inv, s, "PASS", "used by an AMI")
        elif vid in volumes:
            yield _snapshot(inv, s, "PASS", f"volume {vid} exists")
        else:
            saving = money(env.prices.snapshot_month(int(s.get("VolumeSize", 0))))
            yield _snapshot(inv, s, "FAIL", f"volume {vid or '(none)'} is gone and no AMI uses it", saving)


@check(
    id="ebs-snapshot-public",
    title="EBS snapshot is public",
    category="security",
    severity="critical",
    scope="region",
    needs=("snapshots", "public_snapshots"),
    looks_at="DescribeSnapshots (OwnerIds=self, RestorableByUserIds=all): one server-side filtered listing",
    remediation="Remove the 'all' group from the snapshot's createVolumePermission "
    "(aws ec2 modify-snapshot-attribute --operation-type remove --group-names all); "
    "turn on Block public access for EBS snapshots in the region.",
    link="https://docs.aws.amazon.com/ebs/latest/userguide/ebs-modifying-snapshot-permissions.html",
    prowler=("ec2_ebs_public_snapshot",),
)
def snapshot_public(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    public = set(inv["public_snapshots"])
    for s in inv["snapshots"]:
        if s["SnapshotId"] in public:
            yield _snapshot(inv, s, "FAIL", "anyone can create a volume from it")
        else:
            yield _snapshot(inv, s, "PASS", "not public")


@check(
    id="ebs-snapshot-unencrypted",
    title="EBS snapshot is not encrypted",
    category="security",
    severity="medium",
    scope="region",
    needs=("snapshots",),
    looks_at="DescribeSnapshots: Encrypted",
    remediation="Copy the snapshot with encryption (aws ec2 copy-snapshot --encrypted) and delete the original.",
    link="https://docs.aws.amazon.com/ebs/latest/userguide/ebs-copy-snapshot.html",
    prowler=("ec2_ebs_snapshots_encrypted",),
)
def snapshot_unencrypted(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for s in inv["snapshots"]:
        encrypted = s.get("Encrypted")
        if encrypted is True:
            yield _snapshot(inv, s, "PASS", "encrypted")
        elif encrypted is False:
            yield _snapshot(inv, s, "FAIL", "not encrypted")
        else:
            yield _snapshot(inv, s, "ERROR", f"encryption not reported ({encrypted!r})")


@check(
    id="ebs-volume-no-recent-snapshot",
    title="In-use EBS volume has no recent snapshot",
    category="reliability",
    severity="medium",
    scope="region",
    needs=("volumes", "snapshots"),
    looks_at="DescribeVolumes (in-use) and DescribeSnapshots: newest completed snapshot of each volume against "
    "thresholds.volume_snapshot_max_age_days",
    remediation="Tag the volume for the snapshot-rotation task (Backup=true) or an AWS Backup / DLM policy.",
    link="https://docs.aws.amazon.com/ebs/latest/userguide/snapshot-lifecycle.html",
    prowler=("ec2_ebs_volume_snapshots_exists",),
)
def volume_no_recent_snapshot(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    limit = env.params.thresholds.volume_snapshot_max_age_days
    newest: dict[str, int] = {}
    unknown: set[str] = set()
    """Volumes with a snapshot whose state or start time is unreadable: it may be a recent, completed one."""
    for s in inv["snapshots"]:
        vid, state, started = s.get("VolumeId"), s.get("State"), parse_time(s.get("StartTime"))
        if not vid or state in ("pending", "error", "recoverable", "recovering"):
            continue
        if state != "completed" or started is None:
            unknown.add(vid)
            continue
        age = (env.now - started).days
        newest[vid] = min(age, newest.get(vid, age))
    for v in inv["volumes"]:
        state = v.get("State")
        if not state:
            yield _volume(inv, v, "ERROR", "state not reported")
            continue
        if state != "in-use":
            continue
        newest_age = newest.get(v["VolumeId"])
        if newest_age is not None and newest_age <= limit:
            yield _volume(inv, v, "PASS", f"newest snapshot is {newest_age} days old")
        elif v["VolumeId"] in unknown:
            yield _volume(inv, v, "ERROR", "a snapshot of it has no readable state or start time")
        elif newest_age is None:
            yield _volume(inv, v, "FAIL", "no snapshot at all")
        else:
            yield _volume(inv, v, "FAIL", f"newest snapshot is {newest_age} days old (limit {limit})")


@check(
    id="ec2-eip-unused",
    title="Elastic IP not associated with anything",
    category="cost",
    severity="medium",
    scope="region",
    needs=("addresses",),
    looks_at="DescribeAddresses: no AssociationId",
    remediation="Release the address (aws ec2 release-address) unless it is allow-listed somewhere.",
    link="https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/elastic-ip-addresses-eip.html",
    prowler=("ec2_elastic_ip_unassigned",),
)
def eip_unused(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for a in inv["addresses"]:
        rid = a.get("AllocationId") or a.get("PublicIp", "")
        used = a.get("AssociationId") or a.get("InstanceId") or a.get("NetworkInterfaceId")
        yield Outcome(
            resource=rid,
            resource_type="elastic-ip",
            status="PASS" if used else "FAIL",
            evidence=f"{a.get('PublicIp')} associated" if used else f"{a.get('PublicIp')} not associated",
            arn=inv.arn("ec2", f"elastic-ip/{rid}"),
            saving=None if used else money(env.prices.idle_ip_month()),
            tags=tags_of(a.get("Tags")),
        )


@check(
    id="ec2-instance-stopped-long",
    title="EC2 instance stopped for longer than the threshold",
    category="cost",
    severity="low",
    scope="region",
    needs=("instances", "volumes"),
    looks_at="DescribeInstances (state stopped): stop time from StateTransitionReason against "
    "thresholds.instance_stopped_days; its volumes still cost money",
    remediation="Create an AMI (or snapshots) and terminate the instance, or start using it again.",
    link="https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/terminating-instances.html",
    prowler=("ec2_instance_stopped_older_than_specific_days",),
)
def instance_stopped_long(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    limit = env.params.thresholds.instance_stopped_days
    by_instance: dict[str, float] = {}
    for v in inv["volumes"]:
        for att in v.get("Attachments", []):
            cost = env.prices.volume_month(v.get("VolumeType", "gp2"), int(v.get("Size", 0)))
            by_instance[att.get("InstanceId", "")] = by_instance.get(att.get("InstanceId", ""), 0.0) + cost
    for i in inv["instances"]:
        state = (i.get("State") or {}).get("Name")
        if not state:
            yield _instance(inv, i, "ERROR", "state not reported")
            continue
        if state != "stopped":
            yield _instance(inv, i, "PASS", f"state {state}")
            continue
        since = stopped_at(i.get("StateTransitionReason"))
        if since is None:
            # it stopped after it was last launched, so it cannot have been stopped for longer than that
            launched = parse_time(i.get("LaunchTime"))
            up_to = (env.now - launched).days if launched else None
            if up_to is not None and up_to <= limit:
                yield _instance(inv, i, "PASS", f"stopped at most {up_to} days (last launched then)")
            else:
                reason = i.get("StateTransitionReason") or "empty"
                yield _instance(inv, i, "ERROR", f"stopped; no stop time in StateTransitionReason ({reason})")
            continue
        days = (env.now - since).days
        if days > limit:
            saving = money(by_instance.get(i["InstanceId"], 0.0))
            yield _instance(inv, i, "FAIL", f"stopped {days} days ago (limit {limit})", saving)
        else:
            yield _instance(inv, i, "PASS", f"stopped {days} days ago")


@check(
    id="ec2-instance-imdsv1",
    title="EC2 instance allows IMDSv1",
    category="security",
    severity="high",
    scope="region",
    needs=("instances",),
    looks_at="DescribeInstances: MetadataOptions.HttpTokens is not 'required' while the endpoint is enabled",
    remediation="aws ec2 modify-instance-metadata-options --http-tokens required (check the software on it uses "
    "IMDSv2 first); set the account default with modify-instance-metadata-defaults.",
    link="https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-IMDS-existing-instances.html",
    cis=("5.6",),
    prowler=("ec2_instance_imdsv2_enabled",),
)
def instance_imdsv1(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for i in inv["instances"]:
        meta = i.get("MetadataOptions") or {}
        tokens = meta.get("HttpTokens")
        if meta.get("HttpEndpoint") == "disabled":
            yield _instance(inv, i, "PASS", "metadata endpoint disabled")
        elif tokens == "required":
            yield _instance(inv, i, "PASS", "IMDSv2 required")
        elif tokens:
            yield _instance(inv, i, "FAIL", f"HttpTokens={tokens}")
        else:
            yield _instance(inv, i, "ERROR", "metadata options not reported")


@check(
    id="ec2-ami-old-unused",
    title="AMI older than the threshold and used by no instance",
    category="cost",
    severity="low",
    scope="region",
    needs=("images", "instances"),
    looks_at="DescribeImages (Owners=self) and DescribeInstances: CreationDate against thresholds.ami_max_age_days",
    remediation="Deregister the AMI and delete its snapshots (or disable/deprecate it if it must stay findable).",
    link="https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/deregister-ami.html",
)
def ami_old_unused(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    limit = env.params.thresholds.ami_max_age_days
    used = {i.get("ImageId") for i in inv["instances"]}
    for image in inv["images"]:
        iid = image["ImageId"]
        created = parse_time(image.get("CreationDate"))
        age = None if created is None else (env.now - created).days
        size = sum(int(b.get("Ebs", {}).get("VolumeSize", 0)) for b in image.get("BlockDeviceMappings", []))
        fail = age is not None and age > limit and iid not in used
        status: OutcomeStatus = "FAIL" if fail else "PASS"
        how_old = f"{age} days old" if age is not None else "creation date not readable"
        evidence = f"{how_old}, " + ("used by an instance" if iid in used else "used by no instance")
        if age is None and iid not in used:
            status = "ERROR"
        yield Outcome(
            resource=iid,
            resource_type="image",
            status=status,
            evidence=evidence,
            arn=inv.arn("ec2", f"image/{iid}", account=False),
            saving=money(env.prices.snapshot_month(size)) if fail else None,
            tags=tags_of(image.get("Tags")),
        )
