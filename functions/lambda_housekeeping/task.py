"""The work of one (account, region): inventory, plan, then carry out the plan and report code storage."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from functions.lambda_housekeeping import inventory, plan
from functions.lambda_housekeeping.execute import Deleter, layer_deleter, version_deleter
from functions.lambda_housekeeping.models import (
    FunctionUsage,
    LambdaHousekeepingInput,
    LayerVersionView,
    StorageSummary,
)
from functions.lambda_housekeeping.plan import Decision
from shared.aws import error_code
from shared.observability import logger
from shared.report import Action, UnitResult
from shared.runner import RunContext, Task
from shared.units import Unit

NAME = "lambda-housekeeping"

PERMISSIONS = frozenset(
    {
        "lambda:ListFunctions",
        "lambda:ListEventSourceMappings",
        "lambda:ListAliases",
        "lambda:ListProvisionedConcurrencyConfigs",
        "lambda:ListTags",
        "lambda:ListLayers",
        "lambda:ListLayerVersions",
        "lambda:GetLayerVersion",
        "lambda:GetLayerVersionPolicy",
        "lambda:GetAccountSettings",
        "lambda:DeleteFunction",
        "lambda:DeleteLayerVersion",
    }
)
"""The IAM actions this task calls (besides shared.permissions); serverless.yml grants exactly these."""

MEMBER_PERMISSIONS = PERMISSIONS
"""What the member role grants this task in each account of the organization (deploy/member-role.yml): all of it."""


def _split(decisions: list[Decision]) -> tuple[list[Decision], list[Decision]]:
    return [d for d in decisions if d.action == "delete"], [d for d in decisions if d.action != "delete"]


def _usage(
    lam: Any, names: list[str], arns: dict[str, str], *, read_tags: bool, result: UnitResult, region: str
) -> dict[str, FunctionUsage]:
    """Usage of each function that may lose a version; one that cannot be read keeps all its versions."""
    found: dict[str, FunctionUsage] = {}
    for name in names:
        try:
            found[name] = inventory.function_usage(lam, arns[name], read_tags=read_tags)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":  # deleted since the listing: nothing left to prune
                logger.info("function gone since the listing", function=name, region=region)
                continue
            result.fail("read-usage", exc, resource=f"{region}/{arns[name]}")
    return found


def size(n: int | None) -> str:
    """Bytes for people, in the binary units that Lambda's quota uses (75 GB is 75 GiB)."""
    if n is None:
        return "unknown"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def note(unit: Unit, summary: StorageSummary, versions: int, layers: int, *, dry_run: bool) -> str:
    pct = f" ({summary.used_percent:.1f}%)" if summary.used_percent is not None else ""
    freed = summary.frees_bytes if dry_run else summary.freed_bytes
    verb = "the plan frees" if dry_run else "this run freed"
    return (
        f"{unit.label}: Lambda code storage {size(summary.used_bytes)} of {size(summary.quota_bytes)}{pct} "
        f"before the run; {verb} {size(freed)} ({versions} versions, {layers} layer versions)"
    )


def work(params: LambdaHousekeepingInput, unit: Unit, result: UnitResult, ctx: RunContext) -> None:
    """Prune the unused versions of the selected functions and layers of one unit; report code storage."""
    lam: Any = unit.client("lambda")
    versions = inventory.function_versions(lam)
    mappings = inventory.event_source_mappings(lam)
    arns = {v.function: v.arn.rsplit(":", 1)[0] for v in versions}
    wanted = plan.usage_needed(versions, params.functions, params.versions, ctx.now)
    usage = _usage(lam, wanted, arns, read_tags=bool(params.functions.tags), result=result, region=unit.region)
    decisions = plan.plan_versions(versions, usage, mappings, params.functions, params.versions, ctx.now)

    layer_views: list[LayerVersionView] = []
    layer_decisions: list[Decision] = []
    if params.layers.enabled:
        every = inventory.layers(lam)
        names = [n for n in every if plan.selected(n, params.layers.names, params.layers.exclude)]
        listed = inventory.layer_versions(lam, names)
        referenced = plan.referenced_layers(versions)
        to_check = plan.share_checks_needed(listed, referenced, params.layers)
        shares, sizes, problems = inventory.layer_details(lam, to_check, unit.account)
        for arn, exc in problems:
            result.fail("read-layer-version", exc, resource=f"{unit.region}/{arn}")
        sizes = plan.layer_sizes(versions) | sizes
        layer_views = [replace(lv, code_size=sizes.get(lv.arn, lv.code_size)) for lv in listed]
        others = {n: arn for n, arn in every.items() if n not in names}
        layer_decisions = plan.plan_layers(layer_views, referenced, shares, params.layers, others)

    used = quota = None
    try:
        used, quota = inventory.account_settings(lam)
    except ClientError as exc:
        result.fail("read-account-settings", exc, resource=unit.label)

    deleter = Deleter(
        result, region=unit.region, dry_run=params.dry_run, budget=ctx.budget, max_workers=params.max_workers
    )
    version_deletes, version_rest = _split(decisions)
    layer_deletes, layer_rest = _split(layer_decisions)
    deleter.record(version_rest + layer_rest)
    deleter.run(version_deletes, version_deleter(lam), "lambda versions to delete")
    deleter.run(layer_deletes, layer_deleter(lam), "layer versions to delete")

    summary = plan.storage_summary(
        versions, layer_views, decisions + layer_decisions, used_bytes=used, quota_bytes=quota
    )
    summary.freed_bytes = deleter.freed_bytes
    text = note(unit, summary, len(version_deletes), len(layer_deletes), dry_run=params.dry_run)
    result.add(
        Action(
            action="measure",
            resource="code storage",
            reason=text,
            status="done",
            detail={"region": unit.region} | summary.model_dump(mode="json"),
        )
    )
    with ctx.lock:
        ctx.report.notes.append(text)


TASK = Task(name=NAME, params_model=LambdaHousekeepingInput, work=work)
