"""Lambda checks, per (account, region): who may invoke a function, public URLs, deprecated runtimes, dropped
asynchronous failures, functions that can never run, public layer versions, and code storage against its quota."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from functions.resource_audit.checks.base import CheckEnv, Inventory, Outcome, SourceError, check

RUNTIMES_AS_OF = date(2026, 2, 1)
DEPRECATION: Mapping[str, date] = {
    # Lambda's runtime table (docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html): the date each runtime is
    # (or was) deprecated, as published on RUNTIMES_AS_OF. A runtime missing here is reported as ERROR, never PASS.
    "nodejs24.x": date(2028, 4, 30),
    "nodejs22.x": date(2027, 4, 30),
    "nodejs20.x": date(2026, 4, 30),
    "nodejs18.x": date(2025, 9, 1),
    "nodejs16.x": date(2024, 6, 12),
    "nodejs14.x": date(2023, 12, 4),
    "nodejs12.x": date(2023, 3, 31),
    "nodejs10.x": date(2021, 7, 30),
    "python3.14": date(2029, 6, 30),
    "python3.13": date(2029, 6, 30),
    "python3.12": date(2028, 10, 31),
    "python3.11": date(2026, 6, 30),
    "python3.10": date(2026, 6, 30),
    "python3.9": date(2025, 12, 15),
    "python3.8": date(2024, 10, 14),
    "python3.7": date(2023, 12, 4),
    "python3.6": date(2022, 7, 18),
    "python2.7": date(2021, 7, 15),
    "java25": date(2029, 6, 30),
    "java21": date(2029, 6, 30),
    "java17": date(2026, 6, 30),
    "java11": date(2026, 6, 30),
    "java8.al2": date(2026, 6, 30),
    "java8": date(2024, 1, 8),
    "dotnet10": date(2028, 11, 14),
    "dotnet8": date(2026, 11, 10),
    "dotnet7": date(2024, 5, 14),
    "dotnet6": date(2024, 11, 12),
    "dotnetcore3.1": date(2023, 4, 3),
    "ruby3.4": date(2028, 3, 31),
    "ruby3.3": date(2027, 3, 31),
    "ruby3.2": date(2026, 3, 31),
    "ruby2.7": date(2023, 11, 27),
    "provided.al2023": date(2029, 6, 30),
    "provided.al2": date(2026, 6, 30),
    "provided": date(2024, 1, 8),
    "go1.x": date(2024, 1, 8),
}

SOURCE_CONDITIONS = frozenset(
    {
        "aws:sourcearn",
        "aws:sourceaccount",
        "aws:sourceowner",
        "aws:principalorgid",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "lambda:eventsourcetoken",
    }
)
"""Condition keys that narrow ``Principal: "*"`` to a source (compared case-insensitively, as IAM does)."""

STORAGE_LIMIT = 0.80


def _fn(inv: Inventory, f: dict[str, Any], status: str, evidence: str) -> Outcome:
    name = f["FunctionName"]
    return Outcome(
        resource=name,
        resource_type="lambda-function",
        status=status,  # type: ignore[arg-type]
        evidence=evidence,
        arn=f.get("FunctionArn") or inv.arn("lambda", f"function:{name}"),
    )


def _statements(text: str) -> list[dict[str, Any]]:
    """A resource policy's statements; ValueError when it cannot be read."""
    try:
        doc = json.loads(text)
    except (TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"policy is not JSON: {exc}") from exc
    statements = doc.get("Statement") if isinstance(doc, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(s, dict) for s in statements):
        raise ValueError("policy has no readable Statement list")
    return statements


def _is_everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        values = principal.get("AWS")
        return values == "*" or (isinstance(values, list) and "*" in values)
    return False


def _condition_keys(statement: dict[str, Any]) -> set[str]:
    conditions = statement.get("Condition") or {}
    if not isinstance(conditions, dict):
        raise ValueError("unreadable Condition")  # noqa: TRY004 - an unreadable policy, reported as ERROR
    return {key.lower() for block in conditions.values() if isinstance(block, dict) for key in block}


def open_statements(text: str) -> list[str]:
    """The Sids of Allow statements open to everyone with no condition naming a source."""
    found = []
    for i, s in enumerate(_statements(text)):
        if s.get("Effect") != "Allow" or not _is_everyone(s.get("Principal")):
            continue
        if not _condition_keys(s) & SOURCE_CONDITIONS:
            found.append(str(s.get("Sid") or f"#{i + 1}"))
    return found


def _per_function(inv: Inventory, source: str, f: dict[str, Any]) -> Any:
    reads: dict[str, Any] = inv.data.get(source) or {}
    if f["FunctionName"] not in reads:
        return SourceError("NotRead", f"{source} has no entry for this function")
    return reads[f["FunctionName"]]


@check(
    id="lambda-policy-public",
    title="Lambda function policy lets anyone invoke it",
    category="security",
    severity="critical",
    scope="region",
    needs=("lambda_functions", "lambda_policies"),
    looks_at="GetPolicy per function: an Allow statement with Principal * (or AWS: *) and no condition naming a "
    "source (aws:SourceArn, aws:SourceAccount, aws:PrincipalOrgID...); the function's own policy, not its "
    "versions' or aliases'",
    remediation="Remove the statement (aws lambda remove-permission) and grant the service again with "
    "--source-arn / --source-account, or the account or organization that needs it.",
    link="https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html",
    prowler=("awslambda_function_not_publicly_accessible",),
)
def policy_public(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for f in inv["lambda_functions"]:
        policy = _per_function(inv, "lambda_policies", f)
        if isinstance(policy, SourceError):
            yield _fn(inv, f, "ERROR", f"could not read the policy: {policy}")
        elif policy is None:
            yield _fn(inv, f, "PASS", "no resource-based policy")
        else:
            try:
                open_ = open_statements(policy)
            except ValueError as exc:
                yield _fn(inv, f, "ERROR", str(exc))
                continue
            if open_:
                yield _fn(inv, f, "FAIL", f"statement {', '.join(open_)} allows anyone, with no source condition")
            else:
                yield _fn(inv, f, "PASS", "every statement names its principal or source")


@check(
    id="lambda-url-auth-none",
    title="Lambda function URL needs no authentication",
    category="security",
    severity="high",
    scope="region",
    needs=("lambda_functions", "lambda_urls"),
    looks_at="ListFunctionUrlConfigs per function: AuthType NONE",
    remediation="Set AuthType AWS_IAM (callers sign with SigV4, or CloudFront with origin access control), or "
    "authenticate every request in the function and document why it is public.",
    link="https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html",
    prowler=("awslambda_function_url_public",),
)
def url_auth_none(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for f in inv["lambda_functions"]:
        urls = _per_function(inv, "lambda_urls", f)
        if isinstance(urls, SourceError):
            yield _fn(inv, f, "ERROR", f"could not list the URLs: {urls}")
            continue
        if not urls:
            yield _fn(inv, f, "PASS", "no function URL")
            continue
        types = {u.get("FunctionArn", f["FunctionName"]): u.get("AuthType") for u in urls}
        public = sorted(arn for arn, kind in types.items() if kind == "NONE")
        unknown = sorted(arn for arn, kind in types.items() if kind not in ("NONE", "AWS_IAM"))
        if public:
            yield _fn(inv, f, "FAIL", f"URL with AuthType NONE: {', '.join(public)}")
        elif unknown:
            yield _fn(inv, f, "ERROR", f"AuthType not reported for {', '.join(unknown)}")
        else:
            yield _fn(inv, f, "PASS", f"{len(types)} URL(s), all AWS_IAM")


@check(
    id="lambda-runtime-deprecated",
    title="Lambda function runs on a deprecated runtime",
    category="security",
    severity="medium",
    scope="region",
    needs=("lambda_functions",),
    looks_at=f"ListFunctions: Runtime against Lambda's deprecation dates (table of {RUNTIMES_AS_OF:%Y-%m}; an "
    "unlisted runtime is ERROR); container images are out of scope (their runtime is the image's)",
    remediation="Move to a supported runtime of the same language (test first: major versions are not "
    "compatible); deprecated runtimes get no security patches and later block function updates.",
    link="https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html",
    prowler=("awslambda_function_using_supported_runtimes",),
)
def runtime_deprecated(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    today = env.now.date()
    for f in inv["lambda_functions"]:
        if f.get("PackageType") == "Image":
            yield _fn(inv, f, "PASS", "container image: its runtime is the image's")
            continue
        runtime = f.get("Runtime")
        if not runtime:
            yield _fn(inv, f, "ERROR", "runtime not reported")
        elif runtime not in DEPRECATION:
            yield _fn(inv, f, "ERROR", f"runtime {runtime} is not in the table of {RUNTIMES_AS_OF:%Y-%m}")
        elif DEPRECATION[runtime] <= today:
            yield _fn(inv, f, "FAIL", f"{runtime} deprecated on {DEPRECATION[runtime]:%Y-%m-%d}")
        else:
            yield _fn(inv, f, "PASS", f"{runtime} supported until {DEPRECATION[runtime]:%Y-%m-%d}")


@check(
    id="lambda-async-no-failure-destination",
    title="Lambda function drops failed asynchronous invocations",
    category="reliability",
    severity="low",
    scope="region",
    needs=("lambda_functions", "lambda_invoke_configs"),
    looks_at="ListFunctions: DeadLetterConfig; ListFunctionEventInvokeConfigs per function: an OnFailure "
    "destination on any qualifier",
    remediation="Add an on-failure destination (SQS, SNS, EventBridge, S3 or another function) with "
    "put-function-event-invoke-config, or a dead-letter queue; ignore it for functions only invoked synchronously.",
    link="https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html",
    prowler=("awslambda_function_no_dead_letter_queue",),
)
def async_no_failure_destination(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for f in inv["lambda_functions"]:
        dlq = (f.get("DeadLetterConfig") or {}).get("TargetArn")
        configs = _per_function(inv, "lambda_invoke_configs", f)
        if dlq:
            yield _fn(inv, f, "PASS", f"dead-letter queue {dlq}")
        elif isinstance(configs, SourceError):
            yield _fn(inv, f, "ERROR", f"could not list the asynchronous invocation configurations: {configs}")
        else:
            onfailure = [
                c["DestinationConfig"]["OnFailure"]["Destination"]
                for c in configs
                if ((c.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            ]
            if onfailure:
                yield _fn(inv, f, "PASS", f"on-failure destination {onfailure[0]}")
            else:
                yield _fn(inv, f, "FAIL", "no dead-letter queue and no on-failure destination")


@check(
    id="lambda-reserved-concurrency-zero",
    title="Lambda function has reserved concurrency 0 (it can never run)",
    category="reliability",
    severity="high",
    scope="region",
    needs=("lambda_functions", "lambda_concurrency"),
    looks_at="GetFunctionConcurrency per function: ReservedConcurrentExecutions 0 throttles every invocation",
    remediation="Remove the reservation (delete-function-concurrency) or set the concurrency the function needs; "
    "if it was turned off on purpose, suppress the finding with the reason.",
    link="https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html",
)
def reserved_concurrency_zero(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for f in inv["lambda_functions"]:
        reserved = _per_function(inv, "lambda_concurrency", f)
        if isinstance(reserved, SourceError):
            yield _fn(inv, f, "ERROR", f"could not read the reserved concurrency: {reserved}")
        elif reserved == 0:
            yield _fn(inv, f, "FAIL", "reserved concurrency 0: every invocation is throttled")
        elif reserved is None:
            yield _fn(inv, f, "PASS", "no reserved concurrency (uses the account's unreserved pool)")
        else:
            yield _fn(inv, f, "PASS", f"reserved concurrency {reserved}")


@check(
    id="lambda-layer-version-public",
    title="Lambda layer version is shared with everyone",
    category="security",
    severity="high",
    scope="region",
    needs=("lambda_layers",),
    looks_at="ListLayers, ListLayerVersions and GetLayerVersionPolicy per version: Principal * without an "
    "organization condition",
    remediation="Remove the public statement (remove-layer-version-permission) and share with the accounts or "
    "the organization that use the layer.",
    link="https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html",
)
def layer_version_public(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    for lv in inv["lambda_layers"]:
        if "error" in lv:
            arn = lv.get("LayerArn")
            yield Outcome(lv["LayerName"], "lambda-layer", "ERROR", f"could not list versions: {lv['error']}", arn=arn)
            continue
        name = f"{lv['LayerName']}:{lv['Version']}"

        def out(status: str, evidence: str, lv: dict[str, Any] = lv, name: str = name) -> Outcome:
            return Outcome(name, "lambda-layer-version", status, evidence, arn=lv["LayerVersionArn"])  # type: ignore[arg-type]

        policy = lv.get("policy")
        if isinstance(policy, SourceError):
            yield out("ERROR", f"could not read the policy: {policy}")
        elif policy is None:
            yield out("PASS", "not shared")
        else:
            try:
                public = [
                    str(s.get("Sid") or "?")
                    for s in _statements(policy)
                    if s.get("Effect") == "Allow"
                    and _is_everyone(s.get("Principal"))
                    and "aws:principalorgid" not in _condition_keys(s)
                ]
            except ValueError as exc:
                yield out("ERROR", str(exc))
                continue
            if public:
                yield out("FAIL", f"statement {', '.join(public)} shares it with every AWS account")
            else:
                yield out("PASS", "shared with named accounts or an organization only")


@check(
    id="lambda-code-storage-high",
    title="Lambda code storage above 80% of the quota",
    category="reliability",
    severity="medium",
    scope="region",
    needs=("lambda_account",),
    looks_at="GetAccountSettings: AccountUsage.TotalCodeSize against AccountLimit.TotalCodeSize (functions and "
    "layers; deploys fail when it is full)",
    remediation="Delete unused function and layer versions (the lambda-housekeeping task does it on a schedule), "
    "or ask for a higher quota.",
    link="https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
)
def code_storage_high(inv: Inventory, env: CheckEnv) -> Iterator[Outcome]:
    settings = inv["lambda_account"] or {}
    used = (settings.get("AccountUsage") or {}).get("TotalCodeSize")
    quota = (settings.get("AccountLimit") or {}).get("TotalCodeSize")
    resource = f"{inv.account}/{inv.region}"
    if not isinstance(used, int) or not isinstance(quota, int) or quota <= 0:
        yield Outcome(resource, "lambda-code-storage", "ERROR", f"usage {used!r} or quota {quota!r} not reported")
        return
    share = used / quota
    evidence = f"{used / 1024**3:.1f} GiB of {quota / 1024**3:.1f} GiB ({share:.0%})"
    yield Outcome(resource, "lambda-code-storage", "FAIL" if share > STORAGE_LIMIT else "PASS", evidence)
