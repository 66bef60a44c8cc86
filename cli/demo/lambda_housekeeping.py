"""Demo: Lambda housekeeping over functions with 30 versions each, aliases (one weighted), an event source mapping,
provisioned concurrency, layers and a Lambda@Edge function, through the real handler: the plan, then the run."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections import Counter, defaultdict
from typing import Any

from rich.table import Table

from cli import registry
from cli.demo import DemoEnv

TITLE = "Lambda housekeeping"
VERSIONS = 30


def _zip(n: int, padding: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("index.py", f"def handler(event, context):\n    return {n}\n" + "#" * padding)
    return buf.getvalue()


def _role(env: DemoEnv) -> str:
    iam = env.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    return str(iam.create_role(RoleName="demo-functions", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])


def _function(lam: Any, role: str, name: str, padding: int, layers_at: dict[int, list[str]] | None = None) -> None:
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": _zip(0, padding)},
    )
    for n in range(1, VERSIONS + 1):
        if layers_at and n in layers_at:
            lam.update_function_configuration(FunctionName=name, Layers=layers_at[n])
        lam.update_function_code(FunctionName=name, ZipFile=_zip(n, padding))
        lam.publish_version(FunctionName=name)


def seed(env: DemoEnv) -> list[tuple[str, str, str]]:
    """The estate, and what in it keeps a version in use: (region, function, what)."""
    role = _role(env)
    lam = env.client("lambda")
    deps = [
        lam.publish_layer_version(LayerName="shop-deps", Content={"ZipFile": _zip(100 + n, 4000)})["LayerVersionArn"]
        for n in range(1, 9)
    ]
    for n in range(1, 5):
        lam.publish_layer_version(LayerName="fonts", Content={"ZipFile": _zip(200 + n, 8000)})
    lam.add_layer_version_permission(
        LayerName="fonts",
        VersionNumber=1,
        StatementId="partner",
        Action="lambda:GetLayerVersion",
        Principal="210987654321",
    )
    _function(lam, role, "checkout-api", 20_000, {1: [deps[0]], 12: [deps[3]], 25: [deps[6]]})
    _function(lam, role, "order-worker", 12_000, {1: [deps[3]]})
    _function(lam, role, "nightly-report", 6_000)
    lam.create_alias(
        FunctionName="checkout-api",
        Name="live",
        FunctionVersion="29",
        RoutingConfig={"AdditionalVersionWeights": {"27": 0.1}},
    )
    lam.create_alias(FunctionName="checkout-api", Name="stable", FunctionVersion="22")
    lam.put_provisioned_concurrency_config(
        FunctionName="checkout-api", Qualifier="stable", ProvisionedConcurrentExecutions=5
    )
    sqs = env.client("sqs")
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam.create_event_source_mapping(EventSourceArn=queue, FunctionName="order-worker:24")
    _function(env.client("lambda", env.other_region), role, "site-edge-auth", 3_000)
    return [
        (env.region, "checkout-api", "alias live -> 29, 10% to 27; alias stable -> 22 (provisioned concurrency)"),
        (env.region, "order-worker", "SQS event source mapping on version 24"),
        (env.region, "nightly-report", "nothing: only the newest 3 stay"),
        (env.other_region, "site-edge-auth", "Lambda@Edge (functions.edge): never deleted"),
        (env.region, "layer shop-deps", "8 versions, used by old and new function versions"),
        (env.region, "layer fonts", "4 versions, the oldest shared with account 210987654321"),
    ]


def run(env: DemoEnv) -> None:
    from cli.moto_lambda import teach_moto

    teach_moto()  # GetAccountSettings and provisioned concurrency (the demo server is taught when it starts)
    seeded = seed(env)
    table = Table(title=f"seeded estate: {VERSIONS} published versions per function")
    for col in ("region", "function / layer", "in use"):
        table.add_column(col)
    for row in seeded:
        table.add_row(*row)
    env.console.print(table)

    event: dict[str, Any] = registry.find("lambda-housekeeping").schedule_input() or {}
    event |= {"regions": [env.region, env.other_region]}
    event["functions"] = dict(event.get("functions", {})) | {"edge": ["site-edge-*"]}
    env.console.print("the schedule's input (+ regions, functions.edge ['site-edge-*']): first a dry run, then the run")
    plan = env.invoke("lambda-housekeeping", event | {"dry_run": True})
    done = env.invoke("lambda-housekeeping", event)
    if plan.response:
        _show(env, "plan (dry run)", plan.response)
        env.write("lambda-housekeeping/plan.json", plan.response)
    if done.response:
        _show(env, "run", done.response)
        env.write("lambda-housekeeping/report.json", done.response)
        left = Table(title="versions left")
        left.add_column("function")
        left.add_column("published versions", justify="left")
        for region, name in (
            (env.region, "checkout-api"),
            (env.region, "order-worker"),
            (env.region, "nightly-report"),
            (env.other_region, "site-edge-auth"),
        ):
            found = env.client("lambda", region).list_versions_by_function(FunctionName=name)["Versions"]
            left.add_row(name, " ".join(v["Version"] for v in found if v["Version"].isdigit()))
        env.console.print(left)
        env.console.print(f"reports: {env.out}/lambda-housekeeping/ and {done.response.get('location')}")


def _general(reason: str) -> str:
    """A reason without ids, to group by."""
    reason = re.sub(r"event source mapping [0-9a-f-]{36}", "event source mapping <uuid>", reason)
    return re.sub(r"^used by .*", "used by function versions", reason)


def _show(env: DemoEnv, label: str, resp: dict[str, Any]) -> None:
    rows: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    reasons: Counter[str] = Counter()
    for unit in resp.get("units", []):
        for a in unit.get("actions", []):
            detail = a.get("detail", {})
            if detail.get("kind") not in ("version", "layer-version"):
                continue
            what = ("layer " if detail["kind"] == "layer-version" else "") + detail["name"]
            status = a["status"] if a["action"] == "delete" else a["action"]
            rows[(unit["region"], what)][status] += 1
            reasons[f"{a['action']}: {_general(a['reason'])}"] += 1
    table = Table(title=f"{label}: {resp.get('status')}")
    for col in ("region", "function / layer", "kept", "planned", "deleted", "skipped", "failed"):
        table.add_column(col, justify="left" if col in ("region", "function / layer") else "right")
    for (region, what), c in sorted(rows.items()):
        table.add_row(region, what, *[str(c.get(k, 0)) for k in ("keep", "planned", "done", "skipped", "failed")])
    env.console.print(table)
    why = Table(title=f"{label}: decisions by reason")
    why.add_column("reason")
    why.add_column("versions", justify="right")
    for reason, n in reasons.most_common():
        why.add_row(reason, str(n))
    env.console.print(why)
    for note in resp.get("notes", []):
        env.console.print(note)
