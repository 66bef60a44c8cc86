"""Powertools Logger, Metrics and Tracer, shared by every function (one metrics namespace).

The service name of each function comes from ``POWERTOOLS_SERVICE_NAME`` set in serverless.yml. None of these
create AWS clients.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

NAMESPACE = "DevopsTasks"

logger = Logger()
metrics = Metrics(namespace=NAMESPACE)
tracer = Tracer()


def count_metrics(counts: dict[str, int]) -> None:
    """Add one Count metric per key (e.g. created, deleted, failed), flushed by ``@metrics.log_metrics``."""
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
