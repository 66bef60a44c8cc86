"""``make demo``: an embedded AWS (moto server on 127.0.0.1), a seeded estate, every task through its handler.

Each task has a module here with ``TITLE`` and ``run(env: DemoEnv) -> None``. The demo imports moto; nothing
that is deployed to Lambda does.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import pkgutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.rule import Rule

from cli import registry
from cli.local import Outcome, invoke, quiet_logs

ORDER = [
    "snapshot_rotation",
    "resource_audit",
    "artefact_mover",
    "s3_upload_logger",
    "log_etl",
    "lambda_housekeeping",
    "organization",
]
ACCOUNT = "123456789012"


@dataclass
class DemoEnv:
    """What a demo part gets: the endpoint, regions, where to write, a console, and a way to invoke a task."""

    endpoint: str
    out: Path
    console: Console
    region: str = "eu-west-1"
    other_region: str = "us-east-1"
    dr_region: str = "eu-central-1"
    report_bucket: str = "devops-tasks-demo-reports"
    account: str = ACCOUNT
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def client(self, service: str, region: str | None = None) -> Any:
        import boto3

        return boto3.client(service, region_name=region or self.region)  # type: ignore[call-overload]

    def invoke(self, task: str, event: dict[str, Any], *, timeout_s: float = 900.0) -> Outcome:
        """Invoke the task's real Lambda handler with ``event``; print failures; keep the outcome."""
        info = registry.find(task)
        outcome = invoke(info, event, timeout_s=timeout_s)
        self.outcomes[task] = outcome
        if not outcome.ok:
            self.console.print(f"[yellow]{task}: {outcome.kind}: {outcome.error}[/yellow]")
        return outcome

    def notify_queue(self, bucket: str, queue_name: str, rules: list[dict[str, str]] | None = None) -> tuple[str, str]:
        """A new queue that ``bucket`` notifies of every object created (under key filter ``rules``): (url, arn)."""
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        config: dict[str, Any] = {"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}
        if rules:
            config["Filter"] = {"Key": {"FilterRules": rules}}
        self.client("s3").put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [config]}
        )
        return url, str(arn)

    def write(self, relative: str, data: Any) -> Path:
        """Write JSON (or text) under the output folder and return its path."""
        path = self.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2, default=str))
        return path


def _start_server() -> tuple[Any, str]:
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    from moto.server import ThreadedMotoServer

    from cli.moto_lambda import teach_moto
    from cli.moto_s3 import atomic_conditional_writes

    teach_moto()  # the Lambda calls moto lacks, before its first Lambda request builds the routes
    atomic_conditional_writes()  # as S3: of concurrent conditional writes of one key, one wins
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def parts(only: list[str] | None = None) -> list[str]:
    here = Path(__file__).parent
    found = {m.name for m in pkgutil.iter_modules([str(here)])}
    ordered = [p for p in ORDER if p in found] + sorted(found - set(ORDER))
    if only:
        wanted = {o.replace("-", "_") for o in only}
        ordered = [p for p in ordered if p in wanted]
    return ordered


def run_demo(out: Path, console: Console, *, only: list[str] | None = None) -> int:
    """Start the embedded AWS, run every demo part, print what happened; non-zero if a part crashed."""
    for var in [v for v in os.environ if v.startswith("AWS_")]:
        del os.environ[var]
    os.environ |= {
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    quiet_logs("ERROR")
    started = time.monotonic()
    server, endpoint = _start_server()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ["DEVOPS_TASKS_REPORT_BUCKET"] = DemoEnv.report_bucket
    console.print(Rule("devops-tasks demo"))
    console.print(f"embedded AWS (moto server) at {endpoint}; reports under {out}/")
    env = DemoEnv(endpoint=endpoint, out=out, console=console)
    env.client("s3").create_bucket(
        Bucket=env.report_bucket, CreateBucketConfiguration={"LocationConstraint": env.region}
    )
    crashed = []
    try:
        for name in parts(only):
            module = importlib.import_module(f"cli.demo.{name}")
            console.print(Rule(str(getattr(module, "TITLE", name))))
            t0 = time.monotonic()
            try:
                module.run(env)
            except Exception as exc:  # noqa: BLE001 - one part's crash is reported; the others still run
                console.print_exception()
                crashed.append(f"{name}: {exc}")
            console.print(f"[dim]{name} took {time.monotonic() - t0:.1f}s[/dim]")
    finally:
        server.stop()
    console.print(Rule())
    if crashed:
        console.print(f"[red]demo parts that crashed: {'; '.join(crashed)}[/red]")
        return 1
    console.print(f"demo finished in {time.monotonic() - started:.1f}s; reports under {out}/")
    return 0
