"""Read-only inventory of one (account, region): paginated listings, at AWS's largest page sizes.

Per region: one ``ListFunctions(FunctionVersion=ALL)`` listing (every version of every function, with its code
size and layers: fewer pages than one ListVersionsByFunction per function), one ``ListEventSourceMappings``, one
``ListLayers`` and one ``ListLayerVersions`` per selected layer, one ``GetAccountSettings``. Per function that may
lose a version: ``ListAliases``, ``ListProvisionedConcurrencyConfigs`` (and ``ListTags`` with a tag scope). Per
layer version that may be deleted: ``GetLayerVersionPolicy`` (is it shared?) and ``GetLayerVersion`` (its size,
which the listing does not state).

Function URLs are not listed: a URL's qualifier can only be ``$LATEST`` or an alias (AWS refuses a version
number), so the aliases already account for every version a URL can reach.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from botocore.exceptions import ClientError

from functions.lambda_housekeeping.models import (
    LATEST,
    AliasView,
    FunctionUsage,
    LayerShare,
    LayerVersionView,
    MappingView,
    VersionView,
)
from shared.aws import error_code

FUNCTION_PAGE = 50  # ListFunctions returns at most 50 items a page, whatever MaxItems says
ALIAS_PAGE = 10_000
MAPPING_PAGE = 100
LAYER_PAGE = 50
PROVISIONED_PAGE = 50

_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)$")


def parse_time(text: Any) -> datetime | None:
    """Lambda's timestamps (``2024-03-01T12:00:00.123+0000``; emulators add digits or ``Z``), or None if unreadable."""
    if not isinstance(text, str):
        return None
    match = _TIME.match(text.strip())
    if not match:
        return None
    whole, fraction, zone = match.groups()
    at = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S")
    if fraction:
        at += timedelta(microseconds=int(fraction[:6].ljust(6, "0")))
    if zone == "Z":
        return at.replace(tzinfo=UTC)
    sign = 1 if zone[0] == "+" else -1
    digits = zone[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return at.replace(tzinfo=timezone(sign * offset))


def version_view(raw: dict[str, Any]) -> VersionView:
    version = str(raw.get("Version") or LATEST)
    unqualified = raw["FunctionArn"]
    if unqualified.count(":") > 6:  # arn:partition:lambda:region:account:function:name[:qualifier]
        unqualified = unqualified.rsplit(":", 1)[0]
    return VersionView(
        function=raw["FunctionName"],
        version=version,
        arn=f"{unqualified}:{version}",
        code_size=int(raw.get("CodeSize") or 0),
        last_modified=parse_time(raw.get("LastModified")),
        layers=tuple(layer["Arn"] for layer in raw.get("Layers") or [] if layer.get("Arn")),
        layer_sizes={
            layer["Arn"]: int(layer.get("CodeSize") or 0) for layer in raw.get("Layers") or [] if layer.get("Arn")
        },
    )


def function_versions(lam: Any) -> list[VersionView]:
    """Every version (and ``$LATEST``) of every function in the region."""
    pages = lam.get_paginator("list_functions").paginate(
        FunctionVersion="ALL", PaginationConfig={"PageSize": FUNCTION_PAGE}
    )
    return [version_view(raw) for page in pages for raw in page.get("Functions", [])]


def event_source_mappings(lam: Any) -> list[MappingView]:
    """Every event source mapping in the region, with the (possibly qualified) function ARN it invokes."""
    pages = lam.get_paginator("list_event_source_mappings").paginate(PaginationConfig={"PageSize": MAPPING_PAGE})
    return [
        MappingView(uuid=raw["UUID"], function_arn=raw["FunctionArn"])
        for page in pages
        for raw in page.get("EventSourceMappings", [])
        if raw.get("FunctionArn")
    ]


def function_usage(lam: Any, function_arn: str, *, read_tags: bool) -> FunctionUsage:
    """A function's aliases (with their routing weights), provisioned concurrency, and tags if asked.

    The listings name the function (the client is the unit's account and region); ListTags takes its ARN.
    """
    name = function_arn.rsplit(":", 1)[-1]
    aliases = tuple(
        AliasView(
            name=raw["Name"],
            version=str(raw["FunctionVersion"]),
            weights={
                str(k): float(w)
                for k, w in ((raw.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}).items()
            },
        )
        for page in lam.get_paginator("list_aliases").paginate(
            FunctionName=name, PaginationConfig={"PageSize": ALIAS_PAGE}
        )
        for raw in page.get("Aliases", [])
    )
    pages = lam.get_paginator("list_provisioned_concurrency_configs").paginate(
        FunctionName=name, PaginationConfig={"PageSize": PROVISIONED_PAGE}
    )
    provisioned = tuple(
        qualifier
        for page in pages
        for raw in page.get("ProvisionedConcurrencyConfigs", [])
        if (qualifier := raw.get("FunctionArn", "").rsplit(":", 1)[-1])
    )
    tags = dict(lam.list_tags(Resource=function_arn).get("Tags") or {}) if read_tags else None
    return FunctionUsage(aliases=aliases, provisioned=provisioned, tags=tags)


def layers(lam: Any) -> dict[str, str]:
    """The account's layers in the region: name -> layer ARN."""
    pages = lam.get_paginator("list_layers").paginate(PaginationConfig={"PageSize": LAYER_PAGE})
    return {raw["LayerName"]: raw["LayerArn"] for page in pages for raw in page.get("Layers", [])}


def layer_versions(lam: Any, names: Iterable[str]) -> list[LayerVersionView]:
    """Every version of the named layers. The listing states no code size (see :func:`layer_details`)."""
    found = []
    for name in names:
        pages = lam.get_paginator("list_layer_versions").paginate(
            LayerName=name, PaginationConfig={"PageSize": LAYER_PAGE}
        )
        for page in pages:
            for raw in page.get("LayerVersions", []):
                found.append(
                    LayerVersionView(
                        layer=name,
                        version=int(raw["Version"]),
                        arn=raw["LayerVersionArn"],
                        created=parse_time(raw.get("CreatedDate")),
                    )
                )
    return found


def _principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if isinstance(principal, dict):
        principal = principal.get("AWS")
    raw = principal if isinstance(principal, list) else [principal]
    values = [v for v in raw if isinstance(v, str)]
    if len(values) != len(raw) or not values:
        raise ValueError(f"unreadable principal {principal!r}")
    org = ((statement.get("Condition") or {}).get("StringEquals") or {}).get("aws:PrincipalOrgID")
    return [f"organization {org}" if v == "*" and org else v for v in values]


def share_of(policy_text: str, account: str) -> LayerShare:
    """Who else may use a layer version, from its resource policy. Raises ValueError if the policy is unreadable."""
    try:
        doc = json.loads(policy_text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"layer version policy is not JSON: {exc}") from exc
    statements = doc.get("Statement") if isinstance(doc, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(s, dict) for s in statements):
        raise ValueError("layer version policy has no readable Statement list")
    mine = {account, f"arn:aws:iam::{account}:root"}
    others = {p for s in statements if s.get("Effect") == "Allow" for p in _principals(s) if p not in mine}
    return LayerShare(principals=tuple(sorted(others)))


def layer_details(
    lam: Any, arns: Iterable[str], account: str
) -> tuple[dict[str, LayerShare], dict[str, int], list[tuple[str, Exception]]]:
    """Sharing (resource policy) and code size of each layer version that may be deleted.

    A version whose policy could not be read is left out of the shares (the planner keeps it), with why.
    """
    shares: dict[str, LayerShare] = {}
    sizes: dict[str, int] = {}
    problems: list[tuple[str, Exception]] = []
    for arn in arns:
        layer_arn, _, version = arn.rpartition(":")
        try:
            try:
                text = lam.get_layer_version_policy(LayerName=layer_arn, VersionNumber=int(version))["Policy"]
                shares[arn] = share_of(text, account)
            except ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":  # no policy: not shared
                    raise
                shares[arn] = LayerShare()
            content = lam.get_layer_version(LayerName=layer_arn, VersionNumber=int(version)).get("Content") or {}
            sizes[arn] = int(content.get("CodeSize") or 0)
        except (ClientError, ValueError) as exc:
            shares.pop(arn, None)
            problems.append((arn, exc))
    return shares, sizes, problems


def account_settings(lam: Any) -> tuple[int, int]:
    """(code storage used, code storage quota) of the region, in bytes."""
    resp = lam.get_account_settings()
    return int(resp["AccountUsage"]["TotalCodeSize"]), int(resp["AccountLimit"]["TotalCodeSize"])
