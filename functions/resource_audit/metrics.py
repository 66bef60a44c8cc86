"""CloudWatch metrics for the cost checks: GetMetricData, at most 500 queries a call, every page read.

One query per (resource, metric); a query's values are summed (``Sum``) or their largest kept (``Maximum``) over
the window. A query CloudWatch did not answer completely (StatusCode other than Complete), or a call that failed,
is that resource's SourceError: its check reports ERROR for it, never PASS.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from functions.resource_audit.checks.base import SourceError

MAX_QUERIES = 500
"""GetMetricData's limit of queries per call."""
WINDOW_DAYS = 14
"""The look-back of the usage checks; a resource younger than this is not judged."""


@dataclass(frozen=True)
class Query:
    resource: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str
    period: int


def _spec(n: int, q: Query) -> dict[str, Any]:
    return {
        "Id": f"q{n}",
        "MetricStat": {
            "Metric": {
                "Namespace": q.namespace,
                "MetricName": q.metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in q.dimensions],
            },
            "Period": q.period,
            "Stat": q.stat,
        },
        "ReturnData": True,
    }


def read(cw: Any, queries: Iterable[Query], now: datetime) -> dict[tuple[str, str], float | SourceError]:
    """(resource, metric) -> the sum or maximum over the last :data:`WINDOW_DAYS` days (0 when CloudWatch has no
    datapoint: these metrics are only published when there is traffic), or why it is not known."""
    from functions.resource_audit.inventory import _catch

    queries = list(queries)
    out: dict[tuple[str, str], float | SourceError] = {}
    for start in range(0, len(queries), MAX_QUERIES):
        batch = queries[start : start + MAX_QUERIES]
        got = _catch(partial(_batch, cw, batch, start, now))
        for n, q in enumerate(batch, start):
            key = (q.resource, q.metric)
            out[key] = got if isinstance(got, SourceError) else got.get(f"q{n}", SourceError("NotReturned", ""))
    return out


def _batch(cw: Any, batch: list[Query], first: int, now: datetime) -> dict[str, float | SourceError]:
    values: dict[str, list[float]] = {}
    status: dict[str, str] = {}
    pages = cw.get_paginator("get_metric_data").paginate(
        MetricDataQueries=[_spec(n, q) for n, q in enumerate(batch, first)],
        StartTime=now - timedelta(days=WINDOW_DAYS),
        EndTime=now,
    )
    for page in pages:
        for result in page.get("MetricDataResults", []):
            values.setdefault(result["Id"], []).extend(float(v) for v in result.get("Values") or [])
            status[result["Id"]] = str(result.get("StatusCode"))
    stats = {f"q{n}": q.stat for n, q in enumerate(batch, first)}
    out: dict[str, float | SourceError] = {}
    for qid, stat in stats.items():
        if status.get(qid) != "Complete":
            out[qid] = SourceError(f"StatusCode {status.get(qid)}", "CloudWatch did not return every datapoint")
        else:
            found = values.get(qid, [])
            out[qid] = (max(found) if found else 0.0) if stat == "Maximum" else sum(found)
    return out
