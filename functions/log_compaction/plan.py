"""Pure decisions of the compaction: which partitions to merge into which files, what to delete, and why.

A partition is read from its Glue location: the ETL's prefix (``<lake>/format=/dt=/hour=/``), or the prefix of
the generation it was last switched to (``<compacted>/format=/dt=/hour=/gen=<id>/``). Nothing here talks to
AWS or reads the clock: the executor lists, and passes ``now``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from functions.log_compaction.models import Generation, LakeFile, PartitionState


@dataclass(frozen=True)
class Policy:
    """What the planner needs of the settings."""

    bucket: str
    compacted_prefix: str
    min_age: timedelta
    grace: timedelta
    target_bytes: int


@dataclass(frozen=True)
class Compaction:
    """A new generation of one partition: the files it merges, grouped per output file, and where they go."""

    id: str
    prefix: str
    groups: tuple[tuple[LakeFile, ...], ...]
    output_keys: tuple[str, ...]
    covered: frozenset[str]
    replaces: str
    """The location the partition has now (and must still have at the switch)."""

    @property
    def inputs(self) -> tuple[LakeFile, ...]:
        return tuple(f for group in self.groups for f in group)


@dataclass(frozen=True)
class Deletion:
    """Files a switched generation replaced, deletable now that its grace period is over."""

    generation: Generation
    files: tuple[LakeFile, ...]


@dataclass(frozen=True)
class Discard:
    """A generation that was written and never switched to, and that nothing will switch to: this run compacts
    the partition into another generation (or none), the partition reads elsewhere, and its manifest was last
    written more than the grace period ago (a compaction runs for minutes, one run at a time). Its outputs are
    deleted in the versions its manifest records, then its manifest in the version listed."""

    generation: Generation


@dataclass(frozen=True)
class PartitionPlan:
    state: PartitionState
    action: Literal["compact", "skip", "error"]
    reason: str
    compaction: Compaction | None = None
    deletions: tuple[Deletion, ...] = ()
    record_switch: Generation | None = None
    """The current generation, when its manifest does not say yet that the partition was switched to it."""
    discards: tuple[Discard, ...] = ()


@dataclass
class Plan:
    partitions: list[PartitionPlan] = field(default_factory=list)
    deferred: int = 0


def generation_prefix(compacted_prefix: str, log_format: str, dt: str, hour: str, gen_id: str) -> str:
    return f"{partition_root(compacted_prefix, log_format, dt, hour)}gen={gen_id}/"


def partition_root(compacted_prefix: str, log_format: str, dt: str, hour: str) -> str:
    """Where one partition's generations and their manifests live."""
    return f"{compacted_prefix}/format={log_format}/dt={dt}/hour={hour}/"


def manifest_key(compacted_prefix: str, log_format: str, dt: str, hour: str, gen_id: str) -> str:
    """Next to the generation's folder, not in it: readers of the generation never see it."""
    return f"{partition_root(compacted_prefix, log_format, dt, hour)}{gen_id}.json"


def generation_id(inputs: Iterable[LakeFile]) -> str:
    """The same inputs always give the same generation (and keys): a re-run after a crash rewrites, never adds."""
    text = "\n".join(f"{f.key} {f.etag}" for f in sorted(inputs))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def pack(files: Sequence[LakeFile], target_bytes: int) -> tuple[tuple[LakeFile, ...], ...]:
    """Consecutive groups of ``files`` of at most ``target_bytes`` each (a larger file is a group of its own)."""
    groups: list[list[LakeFile]] = []
    size = 0
    for f in files:
        if not groups or size + f.size > target_bytes:
            groups.append([])
            size = 0
        groups[-1].append(f)
        size += f.size
    return tuple(tuple(g) for g in groups)


def closed_at(dt: str, hour: str) -> datetime:
    """The end of the partition's hour (UTC)."""
    return datetime.fromisoformat(f"{dt}T{hour}:00:00+00:00") + timedelta(hours=1)


def location_of(bucket: str, prefix: str) -> str:
    return f"s3://{bucket}/{prefix}"


def plan_partition(state: PartitionState, policy: Policy, now: datetime) -> PartitionPlan:
    """Compact, skip or refuse one partition; which replaced files may go, and which abandoned generations."""
    decided = _decide(state, policy, now)
    if decided.action == "error":
        return decided  # a partition at an unknown location: nothing of it is touched
    writes = decided.compaction.id if decided.compaction is not None else None
    discards = tuple(Discard(g) for g in _abandoned(state, writes, policy, now))
    return replace(decided, discards=discards) if discards else decided


def _abandoned(state: PartitionState, writes: str | None, policy: Policy, now: datetime) -> Iterable[Generation]:
    """Generations written, never switched to, not read now, not the one this run writes, idle past the grace."""
    read_prefix = state.location.removeprefix(f"s3://{policy.bucket}/")
    for g in state.generations:
        if g.switched_at is not None or g.id == writes or g.prefix == read_prefix:
            continue
        if g.written_at is None or g.manifest_etag is None or g.written_at + policy.grace > now:
            continue
        yield g


def _decide(state: PartitionState, policy: Policy, now: datetime) -> PartitionPlan:
    by_location = {location_of(policy.bucket, g.prefix): g for g in state.generations}
    current = by_location.get(state.location)
    if current is None and state.location != location_of(policy.bucket, state.base_prefix):
        return PartitionPlan(
            state, "error", f"location {state.location} is neither the lake's prefix nor a generation of this run's"
        )
    record = current if current is not None and current.switched_at is None else None
    deletions = tuple(_deletions(state, current, policy, now))
    if closed_at(state.dt, state.hour) + policy.min_age > now:
        return PartitionPlan(state, "skip", "open: its hour ended less than min_age_hours ago", None, deletions, record)
    if current is None:
        inputs = tuple(sorted(state.base_files))
        late: tuple[LakeFile, ...] = inputs
        covered: frozenset[str] = frozenset()
    else:
        late = tuple(sorted(f for f in state.base_files if f.key not in current.covered))
        inputs = tuple(sorted(current.outputs)) + late
        covered = current.covered
    if current is not None and not late:
        return PartitionPlan(state, "skip", "compacted, no file added since", None, deletions, record)
    groups = pack(inputs, policy.target_bytes)
    if current is None and len(groups) >= len(inputs):
        why = "no file" if not inputs else "one file" if len(inputs) == 1 else "its files are near the target size"
        return PartitionPlan(state, "skip", why, None, deletions, record)
    gen_id = generation_id(inputs)
    prefix = generation_prefix(policy.compacted_prefix, state.format, state.dt, state.hour, gen_id)
    compaction = Compaction(
        id=gen_id,
        prefix=prefix,
        groups=groups,
        output_keys=tuple(f"{prefix}part-{i:05d}.parquet" for i in range(len(groups))),
        covered=covered | {f.key for f in late},
        replaces=state.location,
    )
    reason = (
        f"{len(inputs)} files into {len(groups)}"
        if current is None
        else f"{len(late)} file(s) added to the lake prefix after the compaction {current.id}: merged with its files"
    )
    return PartitionPlan(state, "compact", reason, compaction, deletions, record)


def _deletions(state: PartitionState, current: Generation | None, policy: Policy, now: datetime) -> Iterable[Deletion]:
    """The inputs of switched generations past their grace period, never a file the partition reads now."""
    read_now = set(current.outputs) if current is not None else set(state.base_files)
    read_prefix = state.location.removeprefix(f"s3://{policy.bucket}/")
    for g in state.generations:
        if g.switched_at is None or g.deleted_at is not None or g.switched_at + policy.grace > now:
            continue
        if any(f in read_now or f.key.startswith(read_prefix) for f in g.inputs):
            continue  # the partition reads them (again): they are not replaced
        yield Deletion(g, g.inputs)


def plan(states: Iterable[PartitionState], policy: Policy, now: datetime, *, max_partitions: int) -> Plan:
    """Every partition's plan, oldest first; compactions beyond ``max_partitions`` are deferred to a later run."""
    result = Plan()
    compactions = 0
    for state in sorted(states, key=lambda s: (s.dt, s.hour, s.format)):
        decided = plan_partition(state, policy, now)
        if decided.action == "compact":
            if compactions >= max_partitions:
                result.deferred += 1
                decided = PartitionPlan(
                    state, "skip", "deferred: max_partitions reached", None, decided.deletions, decided.record_switch
                )
            else:
                compactions += 1
        result.partitions.append(decided)
    return result
