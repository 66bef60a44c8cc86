"""The work of one (account, region): inventory, plan, then carry out the plan."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from functions.snapshot_rotation import inventory
from functions.snapshot_rotation.execute import Mutator, copier, creator, deleter
from functions.snapshot_rotation.models import SOURCE_REGION_TAG, SnapshotRotationInput
from functions.snapshot_rotation.plan import Decision, is_dr_copy, plan_creation, plan_dr_copies, plan_retention
from shared.report import UnitResult
from shared.runner import RunContext, Task
from shared.units import Unit

NAME = "snapshot-rotation"

PERMISSIONS = frozenset(
    {
        "ec2:DescribeSnapshots",
        "ec2:DescribeVolumes",
        "ec2:DescribeImages",
        "ec2:DescribeInstances",
        "ec2:CreateSnapshot",
        "ec2:CreateTags",
        "ec2:DeleteSnapshot",
        "ec2:CopySnapshot",
        # DR copies encrypted with a customer-managed key (granted only through EC2: kms:ViaService)
        "kms:CreateGrant",
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:Encrypt",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
    }
)
"""The IAM actions this task calls (besides shared.permissions); serverless.yml grants exactly these."""

MEMBER_PERMISSIONS = PERMISSIONS
"""What the member role grants this task in each account of the organization (deploy/member-role.yml): all of it."""


@dataclass
class CopySlots:
    """The copies pending in one DR region of one account: counted once per run, then shared by every source unit
    (units run side by side, so planning and taking slots happen under the lock)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int | None = None


def _copy_slots(ctx: RunContext, account: str, region: str) -> CopySlots:
    with ctx.lock:
        found: CopySlots = ctx.state.setdefault(f"dr-copies-in-flight:{account}:{region}", CopySlots())
        return found


def _split(decisions: list[Decision], verb: str) -> tuple[list[Decision], list[Decision]]:
    return [d for d in decisions if d.action == verb], [d for d in decisions if d.action != verb]


def work(params: SnapshotRotationInput, unit: Unit, result: UnitResult, ctx: RunContext) -> None:
    """Create this period's snapshots, rotate old ones, and copy/rotate in the DR region, for one unit."""
    policy = params.policy
    ec2: Any = unit.client("ec2")
    mut = Mutator(result, dry_run=params.dry_run, budget=ctx.budget, max_workers=params.max_workers)

    # DR copies kept in this region (it is another region's DR region) are planned by their source region's unit.
    snapshots = [s for s in inventory.owned_snapshots(ec2, policy) if not is_dr_copy(s)]
    if params.create:
        vols = inventory.volumes(ec2, policy)
        creates, rest = _split(plan_creation(vols, snapshots, policy, ctx.now), "create")
        mut.record(rest, unit.region)
        mut.run(creates, unit.region, creator(ec2, {v.volume_id: v for v in vols}, policy, ctx.now))
    if params.rotate:
        amis = inventory.ami_snapshot_ids(ec2)
        deletes, rest = _split(plan_retention(snapshots, amis, policy, ctx.now), "delete")
        mut.record(rest, unit.region)
        mut.run(deletes, unit.region, deleter(ec2))

    if policy.dr is None:
        return
    dr_region = policy.dr.region
    if dr_region == unit.region:  # the function's own region or ['all'] includes it: nothing to copy to
        reason = f"no DR copies: {dr_region} is this policy's DR region"
        mut.record([Decision(dr_region, "", "skip", reason)], unit.region)
        return
    dr_ec2: Any = unit.clients.client("ec2", dr_region)
    dr_snapshots = inventory.owned_snapshots(dr_ec2, policy, {SOURCE_REGION_TAG: unit.region})
    slots = _copy_slots(ctx, unit.account, dr_region)
    with slots.lock:
        if slots.in_flight is None:
            slots.in_flight = inventory.pending_copies(dr_ec2)
        planned = plan_dr_copies(snapshots, dr_snapshots, policy, in_flight=slots.in_flight)
        copies, rest = _split(planned, "copy")
        slots.in_flight += len(copies)
    mut.record(rest, unit.region)
    tags = {s.snapshot_id: s.tags for s in snapshots}
    mut.run(copies, unit.region, copier(dr_ec2, policy, unit.region, tags))
    if params.rotate:
        dr_amis = inventory.ami_snapshot_ids(dr_ec2)
        deletes, rest = _split(plan_retention(dr_snapshots, dr_amis, policy, ctx.now), "delete")
        mut.record(rest, dr_region)
        mut.run(deletes, dr_region, deleter(dr_ec2))


TASK = Task(name=NAME, params_model=SnapshotRotationInput, work=work)
