"""The lake compaction task: the small files of closed partitions merged into generations of large files.

A function of its own, next to the log ETL rather than a mode of it: it is the only one that deletes from the
lake and changes partition locations, so only its role may (the loader, which every S3 upload drives, may not);
it runs on a schedule, one run at a time (reserved concurrency 1: two runs never compact one partition at
once), with memory for merging rather than parsing. It reads the lake the ETL writes through the ETL's own
layout and schema code (functions.log_etl).
"""

from __future__ import annotations

from datetime import timedelta

from functions.log_compaction import inventory
from functions.log_compaction.execute import Compactor
from functions.log_compaction.models import CompactionInput, PartitionState
from functions.log_compaction.plan import Policy, plan
from shared.errors import InputError
from shared.progress import advance
from shared.report import UnitResult
from shared.runner import RunContext, Task
from shared.units import Unit

NAME = "log-compaction"

PERMISSIONS = frozenset(
    {
        # lake: list partitions' files, read them and the manifests, write generations and manifests
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        # the files a generation replaced, after the grace period
        "s3:DeleteObject",
        # catalog: the partitions and their locations
        "glue:GetPartitions",
        "glue:GetPartition",
        "glue:UpdatePartition",
    }
)
"""The IAM actions this task calls (besides shared.permissions); serverless.yml grants exactly these."""


def policy_of(params: CompactionInput) -> Policy:
    return Policy(
        bucket=params.lake_bucket or "",
        compacted_prefix=params.compacted_prefix,
        min_age=timedelta(hours=params.min_age_hours),
        grace=timedelta(hours=params.grace_hours),
        target_bytes=params.target_file_mb << 20,
    )


def work(params: CompactionInput, unit: Unit, result: UnitResult, ctx: RunContext) -> None:
    """Compact the closed partitions of every table in ``params.formats`` of one unit's lake."""
    if not params.lake_bucket:
        raise InputError("lake_bucket is not set (DEVOPS_TASKS_LAKE_BUCKET)")
    s3 = unit.clients.client("s3", unit.region)
    glue = unit.clients.client("glue", unit.region)
    states: list[PartitionState] = []
    for log_format in params.formats:
        table = params.table_name(log_format)
        try:
            found = list(inventory.partitions(s3, glue, params, log_format, ctx.now))
        except glue.exceptions.EntityNotFoundException:
            result.count("tables_missing")  # nothing loaded in this format yet
            continue
        for item in found:
            if isinstance(item, str):
                result.fail("inventory", item, resource=f"{params.glue_database}.{table}")
            else:
                states.append(item)
    result.count("partitions_listed", len(states))
    decided = plan(states, policy_of(params), ctx.now, max_partitions=params.max_partitions)
    if decided.deferred:
        result.count("partitions_deferred", decided.deferred)
        result.complete = False
    compactor = Compactor(params, s3, glue, result, ctx.now)
    total = len(decided.partitions)
    for partition in decided.partitions:
        if ctx.budget.exhausted():
            result.complete = False
            result.count("partitions_not_started")
            continue
        compactor.run(partition)
        advance("partitions", 1, total)


TASK = Task(name=NAME, params_model=CompactionInput, work=work)
