"""ChatOps: plan, approve, run and report the tasks from Slack (see docs/tasks/chatops.md)."""

from __future__ import annotations

NAME = "chatops"

PERMISSIONS = frozenset(
    {
        "lambda:InvokeFunction",
        "ssm:GetParameter",
        "kms:Decrypt",
        "scheduler:GetSchedule",
        "scheduler:ListSchedules",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
    }
)
"""The IAM actions of the ChatOps function: invoke the task functions (and itself, for Bolt's lazy listeners); read
its two SecureString parameters (kms:Decrypt only through SSM); read the schedules (policies and their inputs);
read the run reports, write and read its plans and decisions. None of the tasks' own permissions."""

USES_RUNNER = False
"""It runs no task itself: the shared runner's permissions (SNS, other accounts, regions) are not granted."""
