"""The work of one (account, region), and the run-wide step that builds, diffs and writes the audit report."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.config import Config

from functions.resource_audit import asff, execute, inventory, ocsf, price_list
from functions.resource_audit.checks.base import CheckEnv, Inventory, SourceError
from functions.resource_audit.findings import (
    AuditReport,
    CheckInfo,
    ExpiredSuppression,
    PriceSource,
    sort_key,
    summarize,
    summarize_accounts,
)
from functions.resource_audit.html import to_html
from functions.resource_audit.models import ResourceAuditInput
from functions.resource_audit.plan import (
    GLOBAL,
    Evaluation,
    diff,
    enabled_checks,
    evaluate,
    headline,
    sources_needed,
    unaudited,
)
from functions.resource_audit.prices import SHIPPED, PriceTable
from functions.resource_audit.render import accounts_csv, to_csv, to_json
from functions.resource_audit.runstate import STATE_KEY, adopt, keep, organization, prepare, restore
from shared.aws import BOTO_CONFIG, Clients
from shared.observability import count_metrics, logger
from shared.progress import advance
from shared.report import UnitResult
from shared.runner import RunContext, Task
from shared.units import Unit

NAME = "resource-audit"

PERMISSIONS = frozenset(
    {
        "ec2:DescribeAddresses",
        "ec2:DescribeImages",
        "ec2:DescribeInstances",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSnapshots",
        "ec2:DescribeVolumes",
        "ec2:GetEbsEncryptionByDefault",
        "ec2:GetManagedPrefixListEntries",
        "ec2:DescribeSnapshotAttribute",
        "rds:DescribeDBInstances",
        "rds:DescribeDBSnapshots",
        "rds:DescribeDBSnapshotAttributes",
        "rds:DescribeDBClusterSnapshots",
        "rds:DescribeDBClusterSnapshotAttributes",
        "organizations:ListAccounts",
        "ec2:DescribeVpcs",
        "ec2:DescribeFlowLogs",
        "guardduty:ListDetectors",
        "guardduty:GetDetector",
        "access-analyzer:ListAnalyzers",
        "kms:ListKeys",
        "kms:ListAliases",
        "kms:DescribeKey",
        "kms:GetKeyRotationStatus",
        "pricing:GetProducts",
        "ec2:DescribeNatGateways",
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
        "cloudwatch:GetMetricData",
        "logs:DescribeLogGroups",
        "lambda:ListFunctions",
        "lambda:GetPolicy",
        "lambda:ListFunctionUrlConfigs",
        "lambda:ListFunctionEventInvokeConfigs",
        "lambda:GetFunctionConcurrency",
        "lambda:ListLayers",
        "lambda:ListLayerVersions",
        "lambda:GetLayerVersionPolicy",
        "lambda:GetAccountSettings",
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetTrailStatus",
        "iam:GenerateCredentialReport",
        "iam:GetCredentialReport",
        "iam:GetAccountPasswordPolicy",
        "iam:GetAccountSummary",
        "iam:GetAccountAuthorizationDetails",
        "s3:ListAllMyBuckets",
        "s3:GetAccountPublicAccessBlock",
        "s3:GetBucketLocation",
        "s3:GetBucketTagging",
        "s3:GetBucketPolicy",
        "s3:GetBucketVersioning",
        "s3:GetLifecycleConfiguration",
        "s3:GetBucketPublicAccessBlock",
        "s3:GetBucketPolicyStatus",
        "s3:GetBucketAcl",
        "s3:GetObject",
        "s3:ListBucket",
        "securityhub:BatchImportFindings",
        "tag:GetResources",
    }
)
"""The IAM actions this task calls (besides shared.permissions): read-only, plus s3:GetObject on its own previous
report in the reports bucket (also what the presigned link needs) and s3:ListBucket on that bucket, without which
S3 answers a missing ``latest`` report (the first run) with AccessDenied instead of NoSuchKey, and
securityhub:BatchImportFindings into the account's own default product (the optional Security Hub export).
serverless.yml grants exactly these."""

MEMBER_PERMISSIONS = PERMISSIONS - {
    "s3:GetObject",
    "s3:ListBucket",
    "organizations:ListAccounts",
    "pricing:GetProducts",
}
"""What the member role grants this task in each account of the organization (deploy/member-role.yml): its reads
and the Security Hub import of the account's own findings, not the reads of its own previous report (in the
reports bucket, read with the function's own role), nor what the run reads once with the function's own role
(the organization's accounts, the Price List)."""


def bucket_fields(params: ResourceAuditInput) -> set[str]:
    """Per-bucket reads the enabled checks need; tags are read whenever any bucket is checked (suppression tag)."""
    ids = {c.id for c in enabled_checks(params)}
    fields = {field for cid, field in inventory.BUCKET_FIELD_OF_CHECK.items() if cid in ids}
    return fields | {"tags"} if fields else fields


def _record(result: UnitResult, ev: Evaluation, params: ResourceAuditInput) -> None:
    for f in ev.findings:
        result.count(f"findings_{f.status.lower()}")
        if f.status == "ERROR":
            result.count("check_errors")
            logger.warning("check in error", check=f.check_id, region=f.region, resource=f.resource, why=f.evidence)
            if params.fail_on_check_error:
                result.fail(f"check {f.check_id}", f.evidence, resource=f"{f.account}/{f.region}/{f.resource}")


def inventory_or_errors(build: Callable[[], Inventory], account: str, region: str, needs: set[str]) -> Inventory:
    """The inventory, or (when building it raised) one whose every needed source is in error: the checks of the
    scope report ERROR instead of the unit losing its findings."""
    try:
        return build()
    except Exception as exc:  # noqa: BLE001 - becomes ERROR findings of every check of the scope
        logger.exception("inventory failed", account=account, region=region)
        error = SourceError(type(exc).__name__, str(exc))
        return Inventory(account=account, region=region, errors=dict.fromkeys(needs, error))


def _prices(params: ResourceAuditInput, ctx: RunContext) -> tuple[PriceTable, str | None]:
    """The run's price table (read once per run): the shipped one, or with ``refresh_prices`` the Price List
    API's (cached in the reports bucket), and why a refresh failed."""
    if not params.refresh_prices:
        return SHIPPED, None
    with ctx.lock:
        key = f"{STATE_KEY}:prices"
        if key not in ctx.state:
            region = ctx.clients.default_region
            ctx.state[key] = price_list.load(
                ctx.clients.client("s3", region),
                ctx.clients.client("pricing", price_list.PRICING_REGION),
                params.report_bucket,
                price_list.cache_key(params.report_prefix, NAME),
                ctx.now,
                params.price_cache_days,
            )
        found: tuple[PriceTable, str | None] = ctx.state[key]
        return found


def _log_raised(ev: Evaluation, unit: Unit) -> None:
    for check_id, exc in ev.raised.items():
        logger.error("check raised", check=check_id, unit=unit.label, exc_info=exc)


def work(params: ResourceAuditInput, unit: Unit, result: UnitResult, ctx: RunContext) -> None:
    """Audit one region of one account (and, for the first unit of an account, its account-wide services)."""
    checks = enabled_checks(params)
    env = CheckEnv(params=params, now=ctx.now, prices=_prices(params, ctx)[0])
    needs = sources_needed(checks, params, "region")
    given = {"organization": lambda: {"accounts": organization(ctx)}}
    inv = inventory_or_errors(
        lambda: inventory.regional(unit.clients, unit.account, unit.region, needs, given, ctx.now),
        unit.account,
        unit.region,
        needs,
    )
    ev = evaluate(checks, inv, env, "region")
    account_needs = sources_needed(checks, params, "account")
    if account_needs and ctx.leads(unit):  # the account's first unit: IAM, S3, CloudTrail, once per account
        if ctx.budget.exhausted():
            result.complete = False
        else:
            account_inv = inventory_or_errors(
                lambda: inventory.account_wide(
                    unit.clients,
                    unit.account,
                    unit.region,
                    account_needs,
                    bucket_fields(params),
                    max_workers=params.max_workers,
                ),
                unit.account,
                GLOBAL,
                account_needs,
            )
            more = evaluate(checks, account_inv, env, "account")
            ev.findings += more.findings
            ev.audited |= more.audited
            ev.expired_hits.update(more.expired_hits)
            ev.raised.update(more.raised)
    _log_raised(ev, unit)
    _record(result, ev, params)
    with ctx.lock:
        ctx.state.setdefault(f"{STATE_KEY}:evaluations", []).append(ev)
        ctx.state.setdefault(f"{STATE_KEY}:clients", {})[unit.account] = unit.clients
    advance("scopes audited")
    logger.info("region audited", unit=unit.label, findings=len(ev.findings))


def build_report(
    params: ResourceAuditInput, ctx: RunContext, previous: AuditReport | None, problem: str | None = None
) -> AuditReport:
    """The run's audit report from every unit's evaluation, diffed against ``previous`` (``problem``: why a
    previous report could not be read)."""
    evaluations: list[Evaluation] = ctx.state.get(f"{STATE_KEY}:evaluations", [])
    findings = sorted((f for ev in evaluations for f in ev.findings), key=sort_key)
    audited = set().union(*(ev.audited for ev in evaluations)) if evaluations else set()
    hits: dict[int, int] = {}
    for ev in evaluations:
        for index, n in ev.expired_hits.items():
            hits[index] = hits.get(index, 0) + n
    checks = enabled_checks(params)
    not_audited = unaudited(checks, [(u.account, u.region) for u in ctx.report.units], audited)
    units = [u for u in ctx.report.units if u.region != "*"]
    changes = diff(previous, findings, audited, problem, unaudited=not_audited)
    return AuditReport(
        run_id=ctx.report.run_id,
        generated_at=ctx.now,
        complete=ctx.report.complete,
        accounts=sorted({u.account for u in units}),
        regions=sorted({u.region for u in units}),
        summary=summarize(findings, len(checks)),
        per_account=summarize_accounts(
            {u.account for u in ctx.report.units if u.account != "*"}, findings, changes.new, audited, not_audited
        ),
        diff=changes,
        expired_suppressions=[
            ExpiredSuppression(check=s.check, resource=s.resource, reason=s.reason, expires=s.expires, matched=n)
            for index, s in enumerate(params.suppressions)
            if (n := hits.get(index, 0)) or s.expires < ctx.now.date()
        ],
        prices=_price_source(params, ctx),
        checks=[
            CheckInfo(
                id=c.id,
                title=c.title,
                category=c.category,
                severity=c.severity,
                scope=c.scope,
                remediation=c.remediation,
                link=c.link,
                cis=list(c.cis),
                prowler=list(c.prowler),
            )
            for c in checks
        ],
        findings=findings,
        unaudited=sorted(not_audited),
    )


def _price_source(params: ResourceAuditInput, ctx: RunContext) -> PriceSource:
    table, problem = _prices(params, ctx)
    return table.source.model_copy(update={"refresh_problem": problem}) if problem else table.source


def finalize(params: ResourceAuditInput, ctx: RunContext) -> None:
    """Build the audit report, diff it with the previous one, write JSON/CSV/HTML, and put headlines and links
    on the run report (which the runner then writes, counts and publishes)."""
    s3: Any = ctx.clients.client("s3", ctx.clients.default_region) if params.report_bucket else None
    keys = execute.report_keys(params.report_prefix, NAME, ctx.now, ctx.report.run_id)
    previous: execute.Previous = (None, None)
    if params.compare_with_previous:
        if s3 is not None and params.report_bucket:
            previous = execute.read_previous(s3, params.report_bucket, keys["latest"]["json"])
        elif params.local_dir:
            previous = execute.read_local_previous(params.local_dir)
    report = build_report(params, ctx, *previous)
    bodies = {
        "json": to_json(report),
        "csv": to_csv(report),
        "accounts.csv": accounts_csv(report),
        "html": to_html(report),
    }
    move_latest = not params.dry_run
    if s3 is not None and params.report_bucket:
        execute.write_s3(s3, params.report_bucket, keys, bodies, latest=move_latest)
        region, html_key = ctx.clients.default_region, keys["dated"]["html"]
        if params.report_link == "presigned":
            signer = ctx.clients.session.client(
                "s3", region_name=region, config=BOTO_CONFIG.merge(Config(signature_version="s3v4"))
            )
            url = execute.presign(signer, params.report_bucket, html_key, params.presign_seconds)
            name = f"html report (presigned: anyone holding it can open it for {params.presign_seconds // 60} min)"
            ctx.report.links[name] = url
        else:
            url = execute.console_url(inventory.partition_of(region), region, params.report_bucket, html_key)
            ctx.report.links["html report (AWS console, sign-in needed)"] = url
        for ext, key in keys["dated"].items():
            ctx.report.links[ext] = f"s3://{params.report_bucket}/{key}"
    exports = {"ocsf.jsonl": ocsf.to_jsonl(report)} if params.ocsf.enabled else {}
    if exports and s3 is not None and params.report_bucket:
        execute.write_ocsf(s3, params.report_bucket, keys["ocsf"]["ocsf.jsonl"], exports["ocsf.jsonl"])
        ctx.report.links["ocsf"] = f"s3://{params.report_bucket}/{keys['ocsf']['ocsf.jsonl']}"
    if params.local_dir:
        stamp = f"{_stamp(ctx.now)}-{ctx.report.run_id[:8]}"
        for ext, path in execute.write_local(params.local_dir, stamp, bodies, latest=move_latest).items():
            ctx.report.links[f"local {ext}"] = path
        for ext, path in execute.write_local(params.local_dir, stamp, exports, latest=False).items():
            ctx.report.links[f"local {ext}"] = path
    ctx.report.notes.extend(headline(report))
    if report.prices.refresh_problem:
        ctx.report.notes.append(f"prices: {report.prices.refresh_problem}")
    if params.security_hub.enabled:
        export_security_hub(params, ctx, report)
    count_metrics({"findings_new": len(report.diff.new), "findings_resolved": len(report.diff.resolved)})
    logger.info("audit report built", **report.summary.model_dump(), new=len(report.diff.new))


def _unit_result(ctx: RunContext, account: str, region: str) -> UnitResult:
    """The run report's unit of (account, region), added when the run had none there."""
    for unit in ctx.report.units:
        if unit.account == account and unit.region == region:
            return unit
    result = UnitResult(account=account, region=region)
    ctx.report.units.append(result)
    return result


def export_security_hub(params: ResourceAuditInput, ctx: RunContext, report: AuditReport) -> None:
    """FAIL findings imported (ACTIVE) and resolved ones archived, each account into its own Security Hub with its
    own credentials (the default product takes only the caller's findings); a dry run only counts them. A refused
    batch or finding is a failure of that account's unit: the run fails at the end, the other accounts go on."""
    region = params.security_hub.region or ctx.clients.default_region
    clients: dict[str, Clients] = ctx.state.get(f"{STATE_KEY}:clients", {})
    for account, findings in sorted(asff.by_account(asff.planned(report, region)).items()):
        result = _unit_result(ctx, account, region)
        archived = sum(f["RecordState"] == "ARCHIVED" for f in findings)
        if params.dry_run:
            result.count("securityhub_planned", len(findings))
            ctx.report.notes.append(
                f"Security Hub (dry run, nothing sent): {account} would get {len(findings) - archived} active and "
                f"{archived} archived findings in {region}"
            )
            continue
        reach = clients.get(account)
        if reach is None:
            result.fail("securityhub:BatchImportFindings", "no credentials for the account", resource=account)
            continue
        done = execute.import_findings(reach.client("securityhub", region), findings, result)
        ctx.report.notes.append(
            f"Security Hub: {account} took {done} of {len(findings)} findings in {region} ({archived} archived)"
        )
        logger.info("security hub export", account=account, region=region, sent=len(findings), imported=done)


def _stamp(at: datetime) -> str:
    return at.strftime("%Y%m%dT%H%M%SZ")


TASK = Task(
    name=NAME,
    params_model=ResourceAuditInput,
    work=work,
    finalize=finalize,
    keep=keep,
    restore=restore,
    prepare=prepare,
    adopt=adopt,
)
