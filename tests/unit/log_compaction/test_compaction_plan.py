"""The compaction planner: which partitions are merged, which files go into which output, what may be deleted."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.log_compaction.models import CompactionInput, Generation, LakeFile, PartitionState
from functions.log_compaction.plan import (
    PartitionPlan,
    Policy,
    generation_id,
    location_of,
    pack,
    plan,
    plan_partition,
)

BUCKET = "amzn-s3-demo-lake"
MB = 1 << 20
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
POLICY = Policy(
    bucket=BUCKET,
    compacted_prefix="compacted",
    min_age=timedelta(hours=48),
    grace=timedelta(hours=24),
    target_bytes=256 * MB,
)


def base(dt: str = "2026-11-27", hour: str = "13") -> str:
    return f"lake/format=alb/dt={dt}/hour={hour}/"


def state(files: list[LakeFile], dt: str = "2026-11-27", hour: str = "13", **kw: object) -> PartitionState:
    fields: dict[str, object] = {"location": location_of(BUCKET, base(dt, hour))} | kw
    return PartitionState("alb", dt, hour, base_prefix=base(dt, hour), base_files=tuple(files), **fields)  # type: ignore[arg-type]


def lake_file(i: int, size: int, dt: str = "2026-11-27", hour: str = "13") -> LakeFile:
    return LakeFile(f"{base(dt, hour)}obj{i:05d}.parquet", f"etag{i}", size)


sizes = st.lists(st.integers(min_value=1, max_value=600 * MB), min_size=0, max_size=40)


def apply(s: PartitionState, p: PartitionPlan, now: datetime) -> PartitionState:
    """What a successful run does to the partition (the executor's effect, as the planner sees it)."""
    gens = list(s.generations)
    files = list(s.base_files)
    location = s.location
    for d in p.deletions:
        files = [f for f in files if f not in d.files]
        gens = [replace(g, deleted_at=now) if g.id == d.generation.id else g for g in gens]
    if p.compaction is not None:
        c = p.compaction
        outputs = tuple(
            LakeFile(key, f"out-{c.id}-{i}", max(1, sum(f.size for f in g) * 9 // 10))
            for i, (key, g) in enumerate(zip(c.output_keys, c.groups, strict=True))
        )
        gens.append(Generation(c.id, c.prefix, c.inputs, outputs, c.covered, switched_at=now))
        location = location_of(BUCKET, c.prefix)
    return replace(s, location=location, base_files=tuple(files), generations=tuple(gens))


def readable(s: PartitionState) -> list[str]:
    """The ETL files whose rows a reader of the partition's location sees (with repeats, if any)."""
    current = next((g for g in s.generations if location_of(BUCKET, g.prefix) == s.location), None)
    if current is None:
        return sorted(f.key for f in s.base_files)
    return sorted(current.covered)


@given(sizes, st.integers(min_value=1, max_value=512 * MB))
def test_groups_keep_every_file_once_in_order_and_each_is_as_full_as_the_target_allows(
    file_sizes: list[int], target: int
) -> None:
    files = [lake_file(i, n) for i, n in enumerate(file_sizes)]
    groups = pack(files, target)
    assert [f for g in groups for f in g] == files
    for g in groups:
        assert g
        assert sum(f.size for f in g) <= target or len(g) == 1
    for a, b in itertools.pairwise(groups):
        assert sum(f.size for f in a) + b[0].size > target, "a group was closed while the next file fitted"


@given(sizes, st.integers(min_value=0, max_value=96))
def test_a_closed_partition_is_compacted_exactly_when_that_makes_fewer_files(
    file_sizes: list[int], age_hours: int
) -> None:
    files = [lake_file(i, n) for i, n in enumerate(file_sizes)]
    now = datetime(2026, 11, 27, 14, tzinfo=UTC) + timedelta(hours=age_hours)
    decided = plan_partition(state(files), POLICY, now)
    closed = age_hours >= 48
    fewer = len(pack(sorted(files), POLICY.target_bytes)) < len(files)
    assert (decided.action == "compact") == (closed and fewer)
    if decided.compaction is not None:
        c = decided.compaction
        assert sorted(c.inputs) == sorted(files), "every file of the partition, and only those"
        assert len(c.output_keys) == len(c.groups) == len(set(c.output_keys))
        assert all(k.startswith(c.prefix) for k in c.output_keys)
        assert not c.prefix.startswith("lake/"), "a generation never lies under the lake prefix readers glob"
        assert c.covered == {f.key for f in files}
        assert c.replaces == location_of(BUCKET, base())


@given(sizes)
def test_the_generation_depends_only_on_the_files_so_a_rerun_after_a_crash_writes_the_same_keys(
    file_sizes: list[int],
) -> None:
    files = [lake_file(i, n) for i, n in enumerate(file_sizes)]
    a = plan_partition(state(files), POLICY, NOW)
    b = plan_partition(state(list(reversed(files))), POLICY, NOW)
    assert a.compaction == b.compaction
    if files:
        changed = [replace(files[0], etag="other"), *files[1:]]
        assert generation_id(changed) != generation_id(files)


@settings(max_examples=60)
@given(
    st.lists(st.lists(st.integers(min_value=1, max_value=300 * MB), min_size=0, max_size=8), min_size=1, max_size=4),
    st.lists(st.integers(min_value=0, max_value=72), min_size=4, max_size=4),
)
def test_runs_over_time_keep_every_row_readable_once_and_a_settled_partition_is_a_no_op(
    arrivals: list[list[int]], gaps: list[int]
) -> None:
    """Files arrive (also after a compaction), runs happen at random times: after each run with nothing
    new, readers see every file's rows exactly once; deletions never touch what the partition reads."""
    s = state([])
    now = datetime(2026, 11, 27, 14, tzinfo=UTC)
    added: list[LakeFile] = []
    n = 0
    for batch, gap in zip(arrivals, gaps, strict=False):
        new = [lake_file(n + i, size) for i, size in enumerate(batch)]
        n += len(batch)
        added += new
        s = replace(s, base_files=s.base_files + tuple(new))
        now += timedelta(hours=gap)
        p = plan_partition(s, POLICY, now)
        current_reads = set(readable(s))
        for d in p.deletions:
            current = next((g for g in s.generations if location_of(BUCKET, g.prefix) == s.location), None)
            reads_now = set(current.outputs) if current else set(s.base_files)
            assert not reads_now & set(d.files), "never delete a file the partition reads now"
            assert d.generation.switched_at is not None
            assert d.generation.switched_at + POLICY.grace <= now
        s = apply(s, p, now)
        if p.compaction is not None:
            assert readable(s) == sorted(f.key for f in added), "every row once, none twice, after the switch"
        else:
            assert set(readable(s)) == current_reads
    # Settle: runs long after the last arrival compact what is left, delete what was replaced, then do nothing.
    for _ in range(3):
        now += timedelta(hours=49)
        s = apply(s, plan_partition(s, POLICY, now), now)
    if len(added) > 1 or s.generations:
        assert readable(s) == sorted(f.key for f in added)
    last = plan_partition(s, POLICY, now + timedelta(days=1))
    assert last.action == "skip"
    assert last.compaction is None
    assert last.deletions == ()
    assert last.record_switch is None


def test_files_are_deleted_only_after_the_grace_period_and_only_once() -> None:
    files = [lake_file(i, MB) for i in range(3)]
    s = apply(state(files), plan_partition(state(files), POLICY, NOW), NOW)
    assert plan_partition(s, POLICY, NOW + timedelta(hours=23)).deletions == ()
    (deletion,) = plan_partition(s, POLICY, NOW + timedelta(hours=24)).deletions
    assert sorted(deletion.files) == files
    s = apply(s, plan_partition(s, POLICY, NOW + timedelta(hours=24)), NOW + timedelta(hours=24))
    assert plan_partition(s, POLICY, NOW + timedelta(hours=48)).deletions == ()


def test_a_generation_the_partition_was_switched_back_from_is_never_deleted_from() -> None:
    files = [lake_file(i, MB) for i in range(3)]
    s = apply(state(files), plan_partition(state(files), POLICY, NOW), NOW)
    back = replace(s, location=location_of(BUCKET, base()))  # someone pointed the partition at the lake prefix
    assert plan_partition(back, POLICY, NOW + timedelta(days=3)).deletions == ()


def test_a_switch_the_manifest_does_not_record_yet_is_recorded_and_starts_the_grace_period() -> None:
    files = [lake_file(i, MB) for i in range(3)]
    s = apply(state(files), plan_partition(state(files), POLICY, NOW), NOW)
    unrecorded = replace(
        s, generations=tuple(replace(g, switched_at=None, written_at=NOW, manifest_etag="m") for g in s.generations)
    )
    p = plan_partition(unrecorded, POLICY, NOW + timedelta(days=3))
    assert p.record_switch is not None
    assert p.deletions == ()
    assert p.discards == (), "the generation the partition reads is never discarded, switch recorded or not"


def abandoned(s: PartitionState, written_at: datetime) -> Generation:
    """A generation of ``s`` written at ``written_at`` (of other inputs than s has now) and never switched to."""
    inputs = (lake_file(9_999, MB),)
    gen_id = generation_id(inputs)
    prefix = f"compacted/format=alb/dt={s.dt}/hour={s.hour}/gen={gen_id}/"
    outputs = (LakeFile(f"{prefix}part-00000.parquet", "out", MB),)
    return Generation(gen_id, prefix, inputs, outputs, frozenset(), written_at=written_at, manifest_etag="m")


def test_a_generation_never_switched_to_is_discarded_once_its_manifest_is_idle_past_the_grace_period() -> None:
    files = [lake_file(i, MB) for i in range(3)]
    gen = abandoned(state(files), NOW)
    s = state(files, generations=(gen,))
    assert plan_partition(s, POLICY, NOW + timedelta(hours=23)).discards == ()
    p = plan_partition(s, POLICY, NOW + timedelta(hours=24))
    assert [d.generation for d in p.discards] == [gen]
    assert p.compaction is not None, "the partition is compacted into another generation all the same"


@given(
    st.lists(
        st.tuples(st.booleans(), st.booleans(), st.booleans(), st.integers(min_value=-72, max_value=72)),
        min_size=1,
        max_size=5,
    ),
    st.integers(min_value=0, max_value=6),
)
@settings(max_examples=60)
def test_only_idle_generations_never_switched_to_nor_read_nor_written_now_are_discarded(
    gens: list[tuple[bool, bool, bool, int]], n_files: int
) -> None:
    files = [lake_file(i, MB) for i in range(n_files)]
    now = NOW + timedelta(days=3)
    made: list[Generation] = []
    location = location_of(BUCKET, base())
    for i, (switched, read, same_inputs, hours) in enumerate(gens):
        inputs = tuple(sorted(files)) if same_inputs else (lake_file(1_000 + i, MB),)
        gen_id = generation_id(inputs) if same_inputs else f"g{i:015d}"
        prefix = f"compacted/format=alb/dt=2026-11-27/hour=13/gen={gen_id}/"
        outputs = (LakeFile(f"{prefix}part-00000.parquet", f"out{i}", MB),)
        made.append(
            Generation(
                gen_id,
                prefix,
                inputs,
                outputs,
                frozenset(f.key for f in inputs),
                switched_at=now - timedelta(hours=100) if switched else None,
                written_at=now - timedelta(hours=100 + hours)
                if switched
                else now + timedelta(hours=hours) - timedelta(hours=24),
                manifest_etag=f"m{i}",
            )
        )
        if read and not made[:-1]:
            location = location_of(BUCKET, prefix)
    s = state(files, location=location, generations=tuple(made))
    p = plan_partition(s, POLICY, now)
    writes = p.compaction.id if p.compaction is not None else None
    for d in p.discards:
        g = d.generation
        assert g.switched_at is None, "a generation the partition was switched to is never discarded"
        assert location_of(BUCKET, g.prefix) != s.location, "nor the one it reads"
        assert g.id != writes, "nor the one this run writes"
        assert g.written_at is not None
        assert g.written_at + POLICY.grace <= now, "nor one written within the grace period"
    expected = {
        g.id
        for g in made
        if g.switched_at is None
        and location_of(BUCKET, g.prefix) != s.location
        and g.id != writes
        and g.written_at is not None
        and g.written_at + POLICY.grace <= now
    }
    assert {d.generation.id for d in p.discards} == (expected if p.action != "error" else set())


def test_a_partition_at_a_location_the_lake_does_not_know_is_an_error_not_a_skip() -> None:
    p = plan_partition(state([lake_file(0, MB)], location="s3://elsewhere/x/"), POLICY, NOW)
    assert p.action == "error"
    assert "s3://elsewhere/x/" in p.reason


def test_a_file_added_after_the_compaction_is_merged_with_the_generation_into_a_new_one() -> None:
    files = [lake_file(i, MB) for i in range(3)]
    s = apply(state(files), plan_partition(state(files), POLICY, NOW), NOW)
    late = lake_file(9, MB)
    p = plan_partition(replace(s, base_files=(*s.base_files, late)), POLICY, NOW)
    assert p.compaction is not None
    assert set(p.compaction.inputs) == set(s.generations[0].outputs) | {late}
    assert p.compaction.covered == {f.key for f in files} | {late.key}


def test_compactions_beyond_max_partitions_wait_for_the_next_run_oldest_first() -> None:
    states = [
        state([lake_file(i, MB, hour=h), lake_file(i + 1, MB, hour=h)], hour=h)
        for i, h in enumerate(["05", "03", "04"])
    ]
    decided = plan(states, POLICY, NOW, max_partitions=2)
    assert [(p.state.hour, p.action) for p in decided.partitions] == [
        ("03", "compact"),
        ("04", "compact"),
        ("05", "skip"),
    ]
    assert decided.deferred == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("compacted_prefix", "lake/compacted", "must not contain each other"),
        ("formats", ["alb", "alb"], "named twice"),
        ("target_file_mb", 0, "greater than or equal to 1"),
        ("grace_hours", 0.1, "greater than or equal to 1"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CompactionInput.model_validate({"lake_bucket": BUCKET, field: value})
