"""Every check, in report order. Importing a module registers its checks."""

from __future__ import annotations

from functions.resource_audit.checks import detection, ec2, iam, lambda_, logs, network, rds, s3, sharing, usage
from functions.resource_audit.checks.base import REGISTRY, Check

_ORDER = [m.__name__ for m in (ec2, sharing, usage, network, rds, detection, s3, iam, logs, lambda_)]

CHECKS: tuple[Check, ...] = tuple(sorted(REGISTRY, key=lambda c: _ORDER.index(c.run.__module__)))
BY_ID: dict[str, Check] = {c.id: c for c in CHECKS}

__all__ = ["BY_ID", "CHECKS", "Check"]
