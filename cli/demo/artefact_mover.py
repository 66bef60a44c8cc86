"""Demo: build artefacts promoted, moved (through the S3 marker -> SQS trigger) and swept by retain."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.table import Table

from cli import registry
from cli.demo import DemoEnv
from cli.sqs import lambda_sqs_event

TITLE = "Build artefacts on S3: promote, move, retain"
BUCKET = "demo-artefacts"
RELEASES = "demo-releases"
MiB = 1024 * 1024


@contextmanager
def settings(**values: str) -> Iterator[None]:
    """The function's environment (as serverless.yml sets it) for the duration of the demo part."""
    names = {f"DEVOPS_TASKS_{k.upper()}": v for k, v in values.items()}
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def seed(env: DemoEnv) -> dict[str, int]:
    """Two projects: web (builds 101-106, small files) and api (build 7 with a 12 MB multipart image)."""
    from boto3.s3.transfer import TransferConfig

    s3 = env.client("s3")
    for bucket in (BUCKET, RELEASES):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": env.region})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    counts = {"web builds": 0, "api builds": 0, "objects": 0}
    for n in range(101, 107):
        for name, size in (("site.zip", 180_000), ("assets/app.js", 42_000), ("assets/app.css", 9_000)):
            s3.put_object(
                Bucket=BUCKET,
                Key=f"builds/web/{n}/{name}",
                Body=os.urandom(size),
                ContentType="application/zip" if name.endswith(".zip") else "text/plain",
                CacheControl="max-age=31536000, immutable",
                Metadata={"commit": f"{n:x}deadbeef"},
                Tagging=f"project=web&build={n}",
            )
            counts["objects"] += 1
        counts["web builds"] += 1
    for name, size in (("api.tar.gz", 350_000), ("openapi.json", 12_000)):
        s3.put_object(Bucket=BUCKET, Key=f"builds/api/7/{name}", Body=os.urandom(size), Tagging="project=api")
        counts["objects"] += 1
    s3.upload_fileobj(
        io.BytesIO(os.urandom(12 * MiB)),
        BUCKET,
        "builds/api/7/images/rootfs.img",
        ExtraArgs={"ContentType": "application/octet-stream", "Metadata": {"arch": "arm64"}, "Tagging": "project=api"},
        Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB),
    )
    counts["objects"] += 1
    counts["api builds"] += 1
    return counts


def marker_event(env: DemoEnv, key: str, body: bytes) -> dict[str, Any]:
    """Write a build's marker to a bucket that notifies a queue, as S3 does; wrap the messages as Lambda would."""
    s3, sqs = env.client("s3"), env.client("sqs")
    rules = [{"Name": "prefix", "Value": "builds/"}, {"Name": "suffix", "Value": "/_BUILD_COMPLETE"}]
    queue, arn = env.notify_queue(BUCKET, "demo-artefact-markers", rules)
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return lambda_sqs_event(messages, arn, env.region)


def show_manifest(env: DemoEnv, bucket: str, prefix: str, title: str) -> None:
    s3 = env.client("s3")
    doc = json.loads(s3.get_object(Bucket=bucket, Key=prefix + "release-manifest.json")["Body"].read())
    table = Table(title=f"{title}: s3://{bucket}/{prefix}release-manifest.json")
    for col in (f"from s3://{BUCKET}/", f"to s3://{bucket}/", "size", "checksum"):
        table.add_column(col, justify="right" if col == "size" else "left")
    for entry in doc["objects"]:
        source = entry["source"].removeprefix(f"s3://{BUCKET}/")
        table.add_row(source, f"{prefix}{entry['key']}", f"{entry['size']:,}", entry["checksum"])
    env.console.print(table)


def counts_line(resp: dict[str, Any] | None) -> str:
    totals: dict[str, int] = {}
    for unit in (resp or {}).get("units", []):
        for k, v in unit.get("counts", {}).items():
            totals[k] = totals.get(k, 0) + v
    return ", ".join(f"{k}={v}" for k, v in sorted(totals.items())) or "nothing"


def run(env: DemoEnv) -> None:
    seeded = seed(env)
    env.console.print(f"seeded s3://{BUCKET}/builds/: " + ", ".join(f"{v} {k}" for k, v in seeded.items()))
    config = {
        "bucket": BUCKET,
        "release_bucket": RELEASES,
        "multipart_threshold_mb": "8",
        "part_size_mb": "8",
    }
    with settings(**config):
        env.console.print("1. promote web build 106 as release 2.3.0 (manual invoke; the build stays)")
        promote = {"operation": "promote", "project": "web", "build": "106", "version": "2.3.0"}
        outcome = env.invoke("artefact-mover", promote)
        env.console.print(f"   {outcome.response and outcome.response.get('status')}: {counts_line(outcome.response)}")
        if outcome.response:
            env.write("artefact-mover/promote.json", outcome.response)
        show_manifest(env, RELEASES, "releases/web/2.3.0/", "promoted")

    with settings(**config, operation="move"):
        env.console.print("2. api build 7 writes its _BUILD_COMPLETE marker: S3 -> SQS -> handler moves the build")
        event = marker_event(env, "builds/api/7/_BUILD_COMPLETE", b'{"version": "1.0.0"}')
        outcome = env.invoke("artefact-mover", event)
        env.console.print(f"   batch response: {outcome.response}")
        left = env.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="builds/api/").get("KeyCount", 0)
        env.console.print(f"   objects left under s3://{BUCKET}/builds/api/: {left}")
        show_manifest(env, RELEASES, "releases/api/1.0.0/", "moved")
        head = env.client("s3").head_object(Bucket=RELEASES, Key="releases/api/1.0.0/images/rootfs.img")
        tags = env.client("s3").get_object_tagging(Bucket=RELEASES, Key="releases/api/1.0.0/images/rootfs.img")
        env.console.print(
            f"   multipart copy kept: ETag {head['ETag']}, {head['ContentType']}, metadata {head['Metadata']}, "
            f"tags {tags['TagSet']}"
        )

    with settings(**config):
        schedule: dict[str, Any] = registry.find("artefact-mover").schedule_input() or {}
        event = schedule | {"retention": dict(schedule.get("retention", {})) | {"keep_last": 3, "min_age_hours": 0}}
        env.console.print(f"3. retain with the schedule's input (keep_last=3, min_age_hours=0 for the demo): {event}")
        outcome = env.invoke("artefact-mover", event)
        resp = outcome.response or {}
        table = Table(title=f"retain: {resp.get('status')}")
        for col in ("build", "decision", "reason"):
            table.add_column(col)
        for unit in resp.get("units", []):
            for action in unit.get("actions", []):
                if action["action"] in ("keep", "archive", "delete") and not action["resource"].startswith("s3://"):
                    table.add_row(action["resource"], action["action"], action["reason"])
        env.console.print(table)
        archived = env.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="archive/").get("Contents", [])
        classes = sorted({o.get("StorageClass", "STANDARD") for o in archived})
        env.console.print(
            f"   {len(archived)} objects under s3://{BUCKET}/archive/ (storage class {', '.join(classes)})"
        )
        if resp:
            env.write("artefact-mover/retain.json", resp)
    env.console.print(f"reports: {env.out}/artefact-mover/")
