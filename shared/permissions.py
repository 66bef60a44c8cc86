"""IAM actions every function needs besides its task's own ``PERMISSIONS`` (see each ``functions/<task>/task.py``).

The contract tests hold each function's role in serverless.yml to exactly these sets.
"""

RUNNER = frozenset(
    {
        "s3:PutObject",
        "sns:Publish",
        "sns:GetTopicAttributes",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        "sts:AssumeRole",
        "ec2:DescribeRegions",
    }
)
"""Used by shared.runner and shared.units: the report, the notification (to a topic encrypted with its own KMS key;
and the check, before any work, that the topic exists), other accounts, enabled regions."""

LAMBDA_RUNTIME = frozenset(
    {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
)
"""Used by the Lambda service on the function's behalf: its log stream and X-Ray traces."""

ASYNC_FAILURES = frozenset({"sqs:SendMessage"})
"""Used by the Lambda service on the function's behalf: a scheduled (asynchronous) run that fails is not retried
and its event and error are sent to the failed-runs queue (the function's on-failure destination)."""

ORGANIZATIONS = frozenset(
    {"organizations:ListAccounts", "organizations:ListAccountsForParent", "organizations:ListChildren"}
)
"""Used by shared.units for ``accounts: {"organization": ...}`` (shared.organizations), by the functions of the tasks
that work in member accounts (those whose task.py declares ``MEMBER_PERMISSIONS``)."""

MEMBER_RUNNER = frozenset({"ec2:DescribeRegions"})
"""Called by shared.units in each member account, through the member role (``regions: ["all"]``). The member role
(deploy/member-role.yml) grants these and each task's ``MEMBER_PERMISSIONS``."""

FANOUT = frozenset(
    {
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "s3:GetObject",
        "s3:ListBucket",
    }
)
"""Used by shared.fanout, for tasks whose input mixes in ``FanOutSettings``: the unit queue (sent to by the dispatcher
and by continuations, consumed by the function's event source mapping, its redrive count read when a run closes)
and the run's state in the reports bucket (read back, listed to know which units reported)."""
