"""Lambda listings served in pages, as AWS serves them (moto answers every listing in one page).

A ``before-call`` handler answers each listing call from moto's whole answer (read with a separate, unhooked
client), cut to at most ``min(MaxItems, AWS's page limit)`` items, with ``NextMarker`` until the last page. The
limits can be lowered to force many pages with a small estate. Each served page is recorded with the marker the
caller sent, so a test sees that every page was asked for, once.
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.awsrequest import AWSResponse

from tests.faults import _api_params, _events

AWS_LIMITS = {
    "ListFunctions": ("Functions", "list_functions", 50),
    "ListEventSourceMappings": ("EventSourceMappings", "list_event_source_mappings", 100),
    "ListAliases": ("Aliases", "list_aliases", 10_000),
    "ListLayers": ("Layers", "list_layers", 50),
    "ListLayerVersions": ("LayerVersions", "list_layer_versions", 50),
    "ListProvisionedConcurrencyConfigs": ("ProvisionedConcurrencyConfigs", "list_provisioned_concurrency_configs", 50),
}


class LambdaPages:
    """Serve Lambda listings page by page from ``backing`` (a client of the same account and region)."""

    def __init__(self, backing: Any, limits: dict[str, int] | None = None) -> None:
        self.backing = backing
        self.limits = {op: limit for op, (_, _, limit) in AWS_LIMITS.items()} | (limits or {})
        self.served: list[tuple[str, str | None, int]] = []
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def attach(self, target: Any) -> LambdaPages:
        _events(target).register_first("before-call.lambda", self._serve)
        return self

    def _serve(
        self, model: Any, context: dict[str, Any] | None = None, **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        if model.name not in AWS_LIMITS:
            return None
        key, method, _ = AWS_LIMITS[model.name]
        params = _api_params(context)
        with self._lock:
            self.requests.append(("lambda", model.name, dict(params)))
        marker = params.pop("Marker", None)
        asked = params.pop("MaxItems", None)
        everything = getattr(self.backing, method)(**params)[key]
        size = min(int(asked or self.limits[model.name]), self.limits[model.name])
        start = int(marker or 0)
        body: dict[str, Any] = {key: everything[start : start + size]}
        if start + size < len(everything):
            body["NextMarker"] = str(start + size)
        with self._lock:
            self.served.append((model.name, marker, len(body[key])))
        http = AWSResponse("https://lambda.pages.invalid/", 200, {}, None)  # type: ignore[arg-type]
        return http, body | {"ResponseMetadata": {"HTTPStatusCode": 200}}

    def pages(self, operation: str) -> int:
        return sum(1 for op, _, _ in self.served if op == operation)
