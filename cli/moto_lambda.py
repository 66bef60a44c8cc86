"""The Lambda reads that moto 5.2 does not answer, answered from moto's own state (demo and tests).

moto implements versions, aliases, layers, event source mappings, URLs and policies, but not
``GetAccountSettings`` nor the provisioned concurrency calls (it answers 404 "Not yet implemented"). Lambda
housekeeping calls both on real AWS, so the demo and the tests add them to moto, in process and in server mode
alike, and run the real handler unchanged:

- ``GetAccountSettings``: the code size of every version and layer version moto holds, against Lambda's default
  quota of 75 GiB.
- ``PutProvisionedConcurrencyConfig`` / ``ListProvisionedConcurrencyConfigs``: configurations kept on the
  backend of the account and region (so ``mock_aws`` and ``/moto-api/reset`` clear them like everything else).
- ``ListFunctionUrlConfigs``: the one URL moto keeps per function (it ignores qualifiers).

:func:`set_code_quota` gives one account and region a smaller quota, for a code storage check to fail.

Nothing deployed to Lambda imports this module.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

QUOTA_BYTES = 75 * 1024**3
"""Lambda's default "function and layer storage" quota per region (the documented 75 GB)."""
_STORE = "_devops_tasks_provisioned"
_QUOTA = "_devops_tasks_code_quota"
_lock = threading.Lock()
_taught = False


def _provisioned(backend: Any) -> dict[tuple[str, str], int]:
    store: dict[tuple[str, str], int] = backend.__dict__.setdefault(_STORE, {})
    return store


def _get_account_settings(self: Any) -> tuple[int, dict[str, str], str]:
    functions = self.backend._lambdas._functions.values()
    used = sum(v.code_size for group in functions for v in [group["latest"], *group["versions"]] if v is not None)
    used += sum(lv.code_size for layer in self.backend._layers._layers.values() for lv in layer.layer_versions.values())
    body = {
        "AccountLimit": {
            "TotalCodeSize": self.backend.__dict__.get(_QUOTA, QUOTA_BYTES),
            "CodeSizeUnzipped": 262_144_000,
            "CodeSizeZipped": 52_428_800,
            "ConcurrentExecutions": 1000,
            "UnreservedConcurrentExecutions": 1000,
        },
        "AccountUsage": {"TotalCodeSize": used, "FunctionCount": len(self.backend._lambdas._functions)},
    }
    return 200, {}, json.dumps(body)


def _config(arn: str, qualifier: str, n: int) -> dict[str, Any]:
    return {
        "FunctionArn": f"{arn}:{qualifier}",
        "RequestedProvisionedConcurrentExecutions": n,
        "AvailableProvisionedConcurrentExecutions": n,
        "AllocatedProvisionedConcurrentExecutions": n,
        "Status": "READY",
        "LastModified": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
    }


def _function_name(self: Any) -> str:
    return unquote(self.path.split("/")[-2])


def _put_provisioned_concurrency_config(self: Any) -> tuple[int, dict[str, str], str]:
    name, qualifier = _function_name(self), self.querystring["Qualifier"][0]
    function = self.backend.get_function(name, qualifier)  # 404 as AWS for an unknown version or alias
    n = int(self.json_body["ProvisionedConcurrentExecutions"])
    _provisioned(self.backend)[(function.function_name, qualifier)] = n
    arn = self.backend.get_function(name).function_arn
    return 202, {}, json.dumps(_config(arn, qualifier, n))


def _list_provisioned_concurrency_configs(self: Any) -> tuple[int, dict[str, str], str]:
    function = self.backend.get_function(_function_name(self))
    configs = [
        _config(function.function_arn, qualifier, n)
        for (name, qualifier), n in sorted(_provisioned(self.backend).items())
        if name == function.function_name
    ]
    return 200, {}, json.dumps({"ProvisionedConcurrencyConfigs": configs})


def _list_function_url_configs(self: Any) -> tuple[int, dict[str, str], str]:
    function = self.backend.get_function(_function_name(self))
    configs = [function.url_config.to_dict()] if function.url_config else []
    return 200, {}, json.dumps({"FunctionUrlConfigs": configs})


def set_code_quota(account: str, region: str, quota_bytes: int) -> None:
    """The code storage quota GetAccountSettings reports for one account and region (in process only)."""
    from moto.awslambda.models import lambda_backends

    lambda_backends[account][region].__dict__[_QUOTA] = quota_bytes


def teach_moto() -> None:
    """Add the missing Lambda calls to moto (idempotent; before the first Lambda request of a moto server)."""
    global _taught  # one process-wide patch of the emulator
    with _lock:
        if _taught:
            return
        from moto.awslambda import urls
        from moto.awslambda.responses import LambdaResponse

        LambdaResponse.get_account_settings = _get_account_settings  # type: ignore[attr-defined]
        LambdaResponse.put_provisioned_concurrency_config = _put_provisioned_concurrency_config  # type: ignore[attr-defined]
        LambdaResponse.list_provisioned_concurrency_configs = _list_provisioned_concurrency_configs  # type: ignore[attr-defined]
        LambdaResponse.list_function_url_configs = _list_function_url_configs  # type: ignore[attr-defined]
        urls.url_paths[r"{0}/(?P<api_version>[^/]+)/account-settings/?$"] = LambdaResponse.dispatch
        urls.url_paths[
            r"{0}/(?P<api_version>[^/]+)/functions/(?P<function_name>[\w_:%-]+)/provisioned-concurrency/?$"
        ] = LambdaResponse.dispatch
        urls.url_paths[r"{0}/(?P<api_version>[^/]+)/functions/(?P<function_name>[\w_:%-]+)/urls/?$"] = (
            LambdaResponse.dispatch
        )
        _taught = True
