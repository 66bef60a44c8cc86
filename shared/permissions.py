"""IAM actions every function needs besides its task's own ``PERMISSIONS`` (see each ``functions/<task>/task.py``).

The contract tests hold each function's role in serverless.yml to exactly these sets.
"""

RUNNER = frozenset({"s3:PutObject", "sns:Publish", "sns:GetTopicAttributes", "sts:AssumeRole", "ec2:DescribeRegions"})
"""Used by shared.runner and shared.units: the report, the notification (and the check, before any work, that its
topic exists), other accounts, enabled regions."""

LAMBDA_RUNTIME = frozenset(
    {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
)
"""Used by the Lambda service on the function's behalf: its log stream and X-Ray traces."""
