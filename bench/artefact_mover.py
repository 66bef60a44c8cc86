"""Benchmark: our ``move`` (copy, verify every object, batched deletes, manifest) vs ``aws s3 mv --recursive``.

Usage: python bench/artefact_mover.py [--objects 500] [--big 2] [--big-mb 40] [--pairs 3]

One moto server (its own process, 127.0.0.1, a free port) serves both tools. Before each run the same data is
seeded: ``--objects`` objects of 1 KB-1 MB (sizes from a fixed seed) and ``--big`` objects of ``--big-mb`` MB
(uploaded multipart, 8 MB parts, as the AWS CLI and boto3 do by default) under ``builds/web/1/`` of one bucket;
each tool moves them to ``releases/web/1.0/`` of another bucket. Runs alternate (ours, CLI, ours, CLI...). Each
tool runs as its own process with its defaults (ours: 16 objects at once, part-aligned multipart copies above
64 MB or of multipart sources; the CLI: 10 requests at once, multipart above 8 MB), so wall times include
interpreter start-up for both. API calls are the HTTP requests the server logged during the run.

Prints the wall time of every run, the median of each tool, the ratio ours/CLI, and API calls per object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC_BUCKET, DST_BUCKET = "bench-builds", "bench-releases"
SRC_PREFIX, DST_PREFIX = "builds/web/1/", "releases/web/1.0/"
REQUEST = re.compile(r'"(GET|PUT|POST|HEAD|DELETE) ')
SERVER = """
import sys, time
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=True)
server.start()
host, port = server.get_host_and_port()
print(f"endpoint http://{host}:{port}", flush=True)
while True:
    time.sleep(3600)
"""
OURS = """
import json, sys
from functions.artefact_mover.task import TASK
from shared.errors import RunFailed
from shared.runner import execute
payload = json.loads(sys.argv[1])
try:
    report = execute(TASK, payload, None, env={})
except RunFailed as exc:
    report = exc.report
units = report["units"]
print(json.dumps({"status": report["status"], "counts": units[0]["counts"] if units else {}}))
"""


def aws_env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DEVOPS_TASKS_"))}
    return env | {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "DevopsTasks",
        "PYTHONPATH": str(ROOT),
    }


class Server:
    """moto server in its own process; its request log counts API calls."""

    def __init__(self, workdir: Path) -> None:
        self.log_path = workdir / "server.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER], stdout=subprocess.PIPE, stderr=self._log, text=True, cwd=ROOT
        )
        assert self.proc.stdout is not None
        line = ""
        while not line.startswith("endpoint "):
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit(f"moto server did not start: {self.log_path.read_text()[-2000:]}")
        self.endpoint = line.split()[1]

    def requests(self) -> int:
        self._log.flush()
        return sum(1 for line in self.log_path.read_text(errors="replace").splitlines() if REQUEST.search(line))

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")).read()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self._log.close()


def seed(s3: Any, sizes: list[int], big: int, big_mb: int) -> int:
    from boto3.s3.transfer import TransferConfig

    for bucket in (SRC_BUCKET, DST_BUCKET):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})

    def put(i: int) -> None:
        s3.put_object(
            Bucket=SRC_BUCKET,
            Key=f"{SRC_PREFIX}files/{i:04d}.bin",
            Body=os.urandom(sizes[i]),
            ContentType="application/octet-stream",
            Metadata={"build": "1"},
        )

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(put, range(len(sizes))))
    for i in range(big):
        path = Path(tempfile.mkstemp(prefix="bench-big-")[1])
        try:
            with path.open("wb") as f:
                for _ in range(big_mb):
                    f.write(os.urandom(1 << 20))
            s3.upload_file(str(path), SRC_BUCKET, f"{SRC_PREFIX}images/disk-{i}.img", Config=TransferConfig())
        finally:
            path.unlink()
    return len(sizes) + big


def check(s3: Any, n: int) -> None:
    """Both tools must leave every object at the destination and none at the source."""
    left = s3.list_objects_v2(Bucket=SRC_BUCKET, Prefix=SRC_PREFIX).get("KeyCount", 0)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=DST_BUCKET, Prefix=DST_PREFIX)
    moved = sum(1 for page in pages for o in page.get("Contents", []) if not o["Key"].endswith("manifest.json"))
    if left or moved != n:
        raise SystemExit(f"incomplete move: {left} objects left at the source, {moved} of {n} at the destination")


def run_ours(env: dict[str, str], head_every_object: bool = False) -> str:
    payload = {
        "head_every_object": head_every_object,
        "operation": "move",
        "source": f"s3://{SRC_BUCKET}/{SRC_PREFIX}",
        "destination": f"s3://{DST_BUCKET}/{DST_PREFIX}",
    }
    proc = subprocess.run(
        [sys.executable, "-c", OURS, json.dumps(payload)], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"our move failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["status"] != "succeeded":
        raise SystemExit(f"our move did not succeed: {result}")
    return str(result["counts"])


def run_cli(env: dict[str, str]) -> str:
    aws = shutil.which("aws", path=str(Path(sys.executable).parent)) or "aws"
    cmd = [aws, "s3", "mv", "--recursive", "--only-show-errors", "--endpoint-url", env["AWS_ENDPOINT_URL"]]
    cmd += [f"s3://{SRC_BUCKET}/{SRC_PREFIX}", f"s3://{DST_BUCKET}/{DST_PREFIX}"]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"aws s3 mv failed:\n{proc.stderr[-3000:]}")
    return "ok"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=500)
    parser.add_argument("--big", type=int, default=2)
    parser.add_argument("--big-mb", type=int, default=40)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument(
        "--head-every-object", action="store_true", help="our move HEADs every source and copy (no quick path)"
    )
    args = parser.parse_args()

    import boto3

    rng = random.Random(4)
    sizes = [rng.randint(1024, 1024 * 1024) for _ in range(args.objects)]
    total_mb = (sum(sizes) + args.big * args.big_mb * (1 << 20)) / (1 << 20)
    with tempfile.TemporaryDirectory(prefix="bench-artefacts-") as tmp:
        server = Server(Path(tmp))
        env = aws_env(server.endpoint)
        os.environ.update(env)
        s3 = boto3.client("s3", region_name="eu-west-1")
        print(f"moto server at {server.endpoint}; {args.objects} objects of 1 KB-1 MB + {args.big} of {args.big_mb} MB")
        mode = "HEAD of every object" if args.head_every_object else "defaults"
        print(f"({total_mb:.0f} MB per run), {args.pairs} alternating pairs; our move with {mode}")
        times: dict[str, list[float]] = {"ours": [], "aws s3 mv": []}
        calls: dict[str, list[int]] = {"ours": [], "aws s3 mv": []}
        try:
            for pair in range(args.pairs):
                ours = partial(run_ours, head_every_object=args.head_every_object)
                for name, runner in (("ours", ours), ("aws s3 mv", run_cli)):
                    server.reset()
                    n = seed(s3, sizes, args.big, args.big_mb)
                    before = server.requests()
                    started = time.perf_counter()
                    detail = runner(env)
                    elapsed = time.perf_counter() - started
                    time.sleep(0.2)
                    requests = server.requests() - before
                    check(s3, n)
                    times[name].append(elapsed)
                    calls[name].append(requests)
                    print(f"pair {pair + 1} {name:10s} {elapsed:6.2f} s  {requests:5d} API calls  {detail}")
        finally:
            server.stop()
    n = args.objects + args.big
    ours, cli = statistics.median(times["ours"]), statistics.median(times["aws s3 mv"])
    print()
    print(f"{'tool':10s} {'median s':>9s} {'calls/object':>13s}")
    for name in times:
        print(f"{name:10s} {statistics.median(times[name]):9.2f} {statistics.median(calls[name]) / n:13.2f}")
    print(f"wall-time ratio ours / aws s3 mv = {ours / cli:.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
