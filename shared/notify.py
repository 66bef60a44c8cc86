"""Publish a run summary to SNS when a run fails or is incomplete (or always, if configured)."""

from __future__ import annotations

import json
from typing import Any, Literal

from shared.report import RunReport


def should_notify(report: RunReport, notify_on: Literal["failure", "always", "never"]) -> bool:
    if notify_on == "never":
        return False
    return notify_on == "always" or report.status != "succeeded"


def summary_text(report: RunReport) -> str:
    totals = ", ".join(f"{k}={v}" for k, v in report.totals.items()) or "nothing to do"
    lines = [
        f"devops-tasks {report.task}: {report.status.upper()}{' (dry run)' if report.dry_run else ''}",
        f"run {report.run_id}, started {report.started_at.isoformat()}",
        f"totals: {totals}",
    ]
    if report.approval:
        lines.append(
            f"approved by {report.approval['approved_by']} (asked by {report.approval['requested_by']}, "
            f"plan {report.approval['plan_id']}, digest {report.approval['digest'][:12]})"
        )
    lines.extend(report.notes)
    if report.location:
        lines.append(f"report: {report.location}")
    lines.extend(f"{name}: {url}" for name, url in report.links.items())
    for failure in report.failures[:10]:
        lines.append(f"- {failure.operation} {failure.resource or ''}: {failure.error_code} {failure.message}")
    if len(report.failures) > 10:
        lines.append(f"... and {len(report.failures) - 10} more failures")
    return "\n".join(lines)


MAX_MESSAGE_BYTES = 250_000
"""SNS takes at most 256 KiB per message, counted in UTF-8 bytes (subject and attributes included)."""


def publish(sns: Any, topic_arn: str, report: RunReport) -> None:
    subject = f"devops-tasks {report.task}: {report.status}"[:99]
    message = summary_text(report) + "\n\n" + json.dumps(report.summary(), indent=2, default=str)
    fitted = message.encode()[:MAX_MESSAGE_BYTES].decode(errors="ignore")  # never half a character
    sns.publish(TopicArn=topic_arn, Subject=subject, Message=fitted)
