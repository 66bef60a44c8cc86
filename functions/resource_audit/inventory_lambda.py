"""Read-only Lambda inventory of one (account, region), for the Lambda checks.

One paginated ListFunctions (the latest configuration of every function) and, read only when a check needs it,
per function: GetPolicy, ListFunctionUrlConfigs, ListFunctionEventInvokeConfigs, GetFunctionConcurrency; one
ListLayers, and per layer ListLayerVersions and per layer version GetLayerVersionPolicy; one GetAccountSettings.
A per-function or per-layer read that fails is that resource's SourceError (its check reports ERROR for it alone);
a failed ListFunctions makes every function check ERROR for the region.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from functions.resource_audit.checks.base import Inventory

FUNCTION_PAGE = 50
LAYER_PAGE = 50

PER_FUNCTION = ("lambda_policies", "lambda_urls", "lambda_invoke_configs", "lambda_concurrency")
"""Sources read function by function, after ``lambda_functions`` (and not at all when it failed)."""


def listers(lam: Any, inv: Inventory) -> dict[str, Callable[[], Any]]:
    """The Lambda sources of one region, by name (``inv`` holds ``lambda_functions`` once it is read)."""
    from functions.resource_audit.inventory import _absent, _pages

    def per_function(read: Callable[[str], Any]) -> dict[str, Any]:
        from functions.resource_audit.inventory import _catch

        return {f["FunctionName"]: _catch(partial(read, f["FunctionName"])) for f in inv.data["lambda_functions"]}

    def policy(name: str) -> str | None:
        found: str | None = _absent(lambda: lam.get_policy(FunctionName=name)["Policy"], "ResourceNotFoundException")
        return found

    def urls(name: str) -> list[dict[str, Any]]:
        return _pages(
            lam,
            "list_function_url_configs",
            "FunctionUrlConfigs",
            FunctionName=name,
            PaginationConfig={"PageSize": FUNCTION_PAGE},
        )

    def invoke_configs(name: str) -> list[dict[str, Any]]:
        return _pages(
            lam,
            "list_function_event_invoke_configs",
            "FunctionEventInvokeConfigs",
            FunctionName=name,
            PaginationConfig={"PageSize": FUNCTION_PAGE},
        )

    def concurrency(name: str) -> int | None:
        value = lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
        return None if value is None else int(value)

    return {
        "lambda_functions": lambda: _pages(
            lam, "list_functions", "Functions", PaginationConfig={"PageSize": FUNCTION_PAGE}
        ),
        "lambda_policies": lambda: per_function(policy),
        "lambda_urls": lambda: per_function(urls),
        "lambda_invoke_configs": lambda: per_function(invoke_configs),
        "lambda_concurrency": lambda: per_function(concurrency),
        "lambda_layers": lambda: layer_versions(lam),
        "lambda_account": lambda: lam.get_account_settings(),
    }


def layer_versions(lam: Any) -> list[dict[str, Any]]:
    """Every version of the account's layers, each with its resource policy (None: no policy) or the SourceError
    of its read; a layer whose versions could not be listed is one entry with ``error``."""
    from functions.resource_audit.inventory import _absent, _catch, _pages

    found: list[dict[str, Any]] = []
    for layer in _pages(lam, "list_layers", "Layers", PaginationConfig={"PageSize": LAYER_PAGE}):
        name = layer["LayerName"]
        versions = _catch(
            partial(
                _pages,
                lam,
                "list_layer_versions",
                "LayerVersions",
                LayerName=name,
                PaginationConfig={"PageSize": LAYER_PAGE},
            )
        )
        if not isinstance(versions, list):
            found.append({"LayerName": name, "LayerArn": layer.get("LayerArn"), "error": versions})
            continue
        for v in versions:
            number = int(v["Version"])

            def read(number: int = number, name: str = name) -> str | None:
                text: str | None = _absent(
                    lambda: lam.get_layer_version_policy(LayerName=name, VersionNumber=number)["Policy"],
                    "ResourceNotFoundException",
                )
                return text

            found.append(
                {"LayerName": name, "LayerVersionArn": v["LayerVersionArn"], "Version": number, "policy": _catch(read)}
            )
    return found
