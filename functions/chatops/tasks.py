"""The tasks as ChatOps reaches them: by invoking their Lambda functions, reading their schedules and reports.

ChatOps holds none of the tasks' permissions: a plan is the task function's own dry run, an approved run is the
task function's own run, each invoked synchronously with lambda:InvokeFunction (docs/tasks/chatops.md).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from shared.aws import error_code


class TaskError(Exception):
    """A task function refused its input or failed; the message is the function's own error."""


class Tasks:
    def __init__(
        self,
        *,
        lam: Any,
        scheduler: Any,
        s3: Any,
        functions: dict[str, str],
        schedule_group: str | None,
        report_bucket: str,
    ) -> None:
        self.lam = lam
        self.scheduler = scheduler
        self.s3 = s3
        self.functions = functions
        self.schedule_group = schedule_group
        self.report_bucket = report_bucket

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.functions)

    def invoke(self, task: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Run the task function with ``payload`` and return its report; a function error raises TaskError."""
        response = self.lam.invoke(
            FunctionName=self.functions[task], InvocationType="RequestResponse", Payload=json.dumps(payload).encode()
        )
        body = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            message = body.get("errorMessage") if isinstance(body, dict) else str(body)
            raise TaskError(f"{body.get('errorType', 'Error') if isinstance(body, dict) else 'Error'}: {message}")
        if not isinstance(body, dict):
            raise TaskError(f"{task} returned {type(body).__name__}, not a report")
        return body

    def policy_input(self, task: str, policy: str) -> dict[str, Any]:
        """A policy's input as its schedule sends it (less the schedule's own marker), or KeyError if none."""
        if not self.schedule_group:
            raise KeyError(f"{task} has no schedules here")
        try:
            found = self.scheduler.get_schedule(Name=f"{task}-{policy}", GroupName=self.schedule_group)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise KeyError(f"{task} has no policy {policy!r}") from exc
            raise
        data = json.loads(found["Target"].get("Input") or "{}")
        data.pop("schedule", None)
        return dict(data)

    def schedules(self) -> list[dict[str, Any]]:
        """Every schedule of the group: name, expression, time zone, state."""
        if not self.schedule_group:
            return []
        found = []
        for page in self.scheduler.get_paginator("list_schedules").paginate(GroupName=self.schedule_group):
            for item in page.get("Schedules", []):
                detail = self.scheduler.get_schedule(Name=item["Name"], GroupName=self.schedule_group)
                found.append(
                    {
                        "name": item["Name"],
                        "state": item.get("State", ""),
                        "expression": detail.get("ScheduleExpression", ""),
                        "timezone": detail.get("ScheduleExpressionTimezone", "UTC"),
                    }
                )
        return found

    def recent_reports(self, task: str, now: datetime, *, days: int = 7, limit: int = 20) -> list[dict[str, Any]]:
        """The task's reports of the last ``days`` days, newest first (at most ``limit``), read from the bucket."""
        keys: list[str] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for back in range(days):
            day = now - timedelta(days=back)
            prefix = f"reports/{task}/{day:%Y/%m/%d}/"
            for page in paginator.paginate(Bucket=self.report_bucket, Prefix=prefix):
                keys.extend(o["Key"] for o in page.get("Contents", []))
            if len(keys) >= limit:
                break
        reports = []
        for key in sorted(keys, reverse=True)[:limit]:
            body = self.s3.get_object(Bucket=self.report_bucket, Key=key)["Body"].read()
            report = json.loads(body)
            report["location"] = report.get("location") or f"s3://{self.report_bucket}/{key}"
            reports.append(report)
        return reports
