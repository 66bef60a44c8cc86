"""Benchmark of the log ETL on generated ALB access logs: our ETL vs ``gzip -dc`` vs DuckDB, time and peak RSS.

Usage: python bench/log_etl.py [--sizes 10,1024] [--cloudtrail-mb 50] [--data bench/.data]

For each size (MiB of uncompressed log), a gzipped ALB file is generated once and cached under bench/.data/
(git-ignored). Each measurement runs in its own subprocess, so its peak RSS is its own:

* ``etl``: the task's real ``load_object`` (stream, parse, Parquet zstd per event hour, quarantine, manifest)
  against a local stand-in for S3 that reads the source file and writes the outputs to local files;
* ``gzip -dc`` of the same file to /dev/null;
* ``duckdb``: DuckDB reading the same gzipped file (CSV reader, space-delimited, quoted, typed columns) into one
  zstd Parquet file, on one thread (``duckdb``) and on two (``duckdb2``);
* ``pyarrow``: pyarrow's streaming CSV reader, every column a string (untyped), to one zstd Parquet file.

A CloudTrail log file of ``--cloudtrail-mb`` MiB uncompressed (``{"Records": [...]}``, as CloudTrail delivers it)
goes through ``gzip -dc``, the ETL and DuckDB's ``read_json`` (one thread and two) to zstd Parquet the same way.

Prints, per input, its uncompressed and gzipped sizes and its lines; per run the wall and CPU seconds of the work
(the ETL's and DuckDB's measured inside the child, interpreter start-up and imports excluded; CPU is user +
system of all threads), MiB/s of uncompressed log, the wall-time ratio to ``gzip -dc``, peak RSS, and the child
process's own wall and CPU seconds with start-up; and the 1-minute load average before and after each input. The
ETL runs on three threads (reading and decompressing, parsing, Parquet encoding), ``gzip -dc`` on one: compare
the CPU times too. Lines are the lines of the input; rows are the rows written (lines less rejected and skipped).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LINE = (
    "{kind} {time}Z app/my-loadbalancer/50dc6c495c0c9188 {client} 10.0.{c2}.{c}:80 0.000 0.{t:03d} 0.000 "
    "{status} {status} {rx} {tx} "
    '"{method} https://www.example.com:443/items/{item}?q={q} HTTP/1.1" "Mozilla/5.0 (X11; Linux x86_64) curl/{v}" '
    "ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 "
    "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "
    '"Root=1-58337281-1d84f3d73c47ec4e{item:08x}" "www.example.com" '
    '"arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" '
    '1 {time}Z "forward" "-" "-" "10.0.{c2}.{c}:80" "{status}" "-" "-" '
    "TID_{item:032x}\n"
)
BAD_LINES = ["truncated http 2026-11-27T13:00:00Z app/x\n", 'h2 not-a-time app/x 1.2.3.4:5 "unterminated\n']


def generate(path: Path, megabytes: int) -> int:
    """A gzipped ALB log of ``megabytes`` MB uncompressed, spanning 24 hours, with 1 line in 5,000 malformed."""
    rng = random.Random(megabytes)
    target = megabytes << 20
    start = datetime(2026, 11, 27, tzinfo=UTC)
    step = timedelta(hours=24) / max(1, target // 420)
    written = lines = 0
    tmp = path.with_suffix(".partial")
    with gzip.open(tmp, "wb", compresslevel=6) as out:
        batch = []
        at = start
        while written < target:
            at += step
            if rng.random() < 0.0002:
                line = rng.choice(BAD_LINES)
            else:
                ipv6 = rng.random() < 0.05
                client = (
                    f"[2001:db8::{rng.randint(1, 65535):x}]:{rng.randint(1024, 65535)}"
                    if ipv6
                    else f"{rng.choice([192, 10, 172, 203])}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
                    f"{rng.randint(1, 254)}:{rng.randint(1024, 65535)}"
                )
                line = LINE.format(
                    kind=rng.choice(("http", "https", "h2")),
                    time=at.strftime("%Y-%m-%dT%H:%M:%S.%f"),
                    client=client,
                    c2=rng.randint(0, 3),
                    c=rng.randint(1, 254),
                    t=rng.randint(0, 999),
                    status=rng.choices((200, 201, 301, 304, 400, 403, 404, 500, 502), (60, 3, 5, 8, 3, 2, 12, 2, 5))[0],
                    rx=rng.randint(0, 5000),
                    tx=rng.randint(0, 500_000),
                    method=rng.choice(("GET", "GET", "GET", "POST", "PUT")),
                    item=rng.randint(0, 1 << 30),
                    q=rng.randint(0, 1000),
                    v=rng.randint(1, 9),
                )
            data = line.encode()
            batch.append(data)
            written += len(data)
            lines += 1
            if len(batch) >= 20_000:
                out.write(b"".join(batch))
                batch = []
        out.write(b"".join(batch))
    tmp.rename(path)
    path.with_suffix(".lines").write_text(str(lines))
    return lines


EVENTS = [
    ("ec2.amazonaws.com", "DescribeInstances", True),
    ("s3.amazonaws.com", "GetObject", True),
    ("sts.amazonaws.com", "AssumeRole", False),
    ("iam.amazonaws.com", "CreateRole", False),
    ("kms.amazonaws.com", "Decrypt", True),
    ("lambda.amazonaws.com", "Invoke", False),
]


def generate_cloudtrail(path: Path, megabytes: int) -> int:
    """A gzipped CloudTrail log file of ``megabytes`` MB uncompressed: one ``{"Records": [...]}`` document."""
    rng = random.Random(megabytes)
    target = megabytes << 20
    start = datetime(2026, 11, 27, tzinfo=UTC)
    written = records = 0
    tmp = path.with_suffix(".partial")
    with gzip.open(tmp, "wb", compresslevel=6) as out:
        out.write(b'{"Records":[')
        while written < target:
            source, name, read_only = rng.choice(EVENTS)
            at = start + timedelta(seconds=records * 0.05)
            record = {
                "eventVersion": "1.09",
                "userIdentity": {
                    "type": "AssumedRole",
                    "principalId": f"AROAEXAMPLE{rng.randint(0, 999):03d}:session",
                    "arn": f"arn:aws:sts::123456789012:assumed-role/role-{rng.randint(0, 40)}/session",
                    "accountId": "123456789012",
                    "accessKeyId": f"ASIAEXAMPLE{rng.randint(0, 1 << 30):010d}",
                    "sessionContext": {
                        "attributes": {"creationDate": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "mfaAuthenticated": "false"}
                    },
                },
                "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "eventSource": source,
                "eventName": name,
                "awsRegion": "eu-west-1",
                "sourceIPAddress": f"203.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                "userAgent": rng.choice(["aws-cli/2.15.0", "Boto3/1.44.8", "console.amazonaws.com"]),
                "requestParameters": {"resource": f"item-{rng.randint(0, 1 << 20)}", "maxResults": 100},
                "responseElements": None,
                "requestID": f"{rng.getrandbits(128):032x}",
                "eventID": f"{rng.getrandbits(128):032x}",
                "readOnly": read_only,
                "eventType": "AwsApiCall",
                "managementEvent": True,
                "recipientAccountId": "123456789012",
                "eventCategory": "Management",
            }
            data = (b"," if records else b"") + json.dumps(record).encode()
            out.write(data)
            written += len(data)
            records += 1
        out.write(b"]}")
    tmp.rename(path)
    path.with_suffix(".lines").write_text(str(records))
    return records


# --- the measured runs (each in its own process) ---


class LocalS3:
    """The S3 calls ``load_object`` makes, served from and to the local disk."""

    class exceptions:
        ClientError = OSError

    def __init__(self, source: Path, out: Path) -> None:
        self.source = source
        self.out = out

    def get_object(self, **params: Any) -> dict[str, Any]:
        size = self.source.stat().st_size
        return {"Body": self.source.open("rb"), "ETag": '"bench"', "ContentLength": size}

    def upload_fileobj(self, fileobj: Any, bucket: str, key: str, **_: Any) -> None:
        target = self.out / key
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as sink:
            shutil.copyfileobj(fileobj, sink, 8 << 20)

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> None:
        target = self.out / Key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(Body)


KEYS = {
    "alb": "AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2026/11/27/123456789012_elasticloadbalancing_"
    "eu-west-1_app.bench.50dc6c495c0c9188_20261127T0000Z_10.0.0.1_bench.log.gz",
    "cloudtrail": "AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/27/123456789012_CloudTrail_eu-west-1_"
    "20261127T0000Z_bench.json.gz",
}


def run_etl(source: Path, out: Path, log_format: str = "alb") -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from functions.log_etl.execute import load_object
    from functions.log_etl.models import LogEtlInput, SourceObject

    params = LogEtlInput(lake_bucket="bench-lake")
    key = KEYS[log_format]
    started, cpu_started = time.perf_counter(), time.process_time()
    outcome = load_object(
        LocalS3(source, out),
        SourceObject("bench-logs", key, "bench"),
        log_format,
        params,
        now=datetime.now(UTC),
        spool_dir=str(out),
    )
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
        "lines": outcome.lines_in,
        "rows": outcome.rows_out,
        "rejected": outcome.rows_rejected,
        "skipped": outcome.lines_skipped,
        "balanced": outcome.balanced,
        "files": len(outcome.partitions),
        "parquet_mb": round(sum(p.bytes for p in outcome.partitions) / 2**20, 1),
    }


def run_duckdb(source: Path, out: Path, threads: int = 1) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads TO {threads}")
    target = out / "duckdb.parquet"
    sys.path.insert(0, str(ROOT))
    from functions.log_etl.formats import ALB_FIELDS, Kind

    sql_types = {Kind.ISO_TS: "TIMESTAMPTZ", Kind.FLOAT64: "DOUBLE", Kind.INT32: "INTEGER", Kind.INT64: "BIGINT"}
    columns = ", ".join(f"'{f.name}': '{sql_types.get(f.kind, 'VARCHAR')}'" for f in ALB_FIELDS[:30])
    started, cpu_started = time.perf_counter(), time.process_time()
    con.execute(
        f"COPY (SELECT * FROM read_csv('{source}', delim=' ', quote='\"', escape='', header=false, "
        f"auto_detect=false, columns={{{columns}}}, nullstr='-', null_padding=true, ignore_errors=true, "
        f"strict_mode=false, parallel=false, compression='gzip')) TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
    )
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rows": rows[0] if rows else None,
        "parquet_mb": round(target.stat().st_size / 2**20, 1),
    }


def run_duckdb_json(source: Path, out: Path, threads: int = 1) -> dict[str, Any]:
    """DuckDB's ``read_json`` of the ``{"Records": [...]}`` document, one row per record, to zstd Parquet."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads TO {threads}")
    target = out / "duckdb.parquet"
    started, cpu_started = time.perf_counter(), time.process_time()
    con.execute(
        f"COPY (SELECT unnest(Records, recursive := false) FROM read_json('{source}', compression='gzip', "
        f"maximum_object_size={(1 << 32) - 1})) TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
    )
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rows": rows[0] if rows else None,
        "parquet_mb": round(target.stat().st_size / 2**20, 1),
    }


def run_pyarrow(source: Path, out: Path) -> dict[str, Any]:
    """pyarrow's streaming CSV reader, every column a string, rows of another field count skipped, to Parquet."""
    import pyarrow as pa
    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    names = [f"f{i}" for i in range(30)]  # the generated lines have 30 fields (DuckDB reads the same 30)
    target = out / "pyarrow.parquet"
    started, cpu_started = time.perf_counter(), time.process_time()
    reader = pv.open_csv(
        pa.CompressedInputStream(pa.OSFile(str(source)), "gzip"),
        read_options=pv.ReadOptions(column_names=names, block_size=4 << 20),
        parse_options=pv.ParseOptions(delimiter=" ", quote_char='"', invalid_row_handler=lambda _: "skip"),
        convert_options=pv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
    )
    rows = 0
    with pq.ParquetWriter(target, reader.schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
        "rows": rows,
        "parquet_mb": round(target.stat().st_size / 2**20, 1),
    }


CHILDREN: dict[str, Callable[[Path, Path], dict[str, Any]]] = {
    "etl": lambda src, out: run_etl(src, out, "alb"),
    "duckdb": lambda src, out: run_duckdb(src, out, 1),
    "duckdb2": lambda src, out: run_duckdb(src, out, 2),
    "pyarrow": run_pyarrow,
    "etl-cloudtrail": lambda src, out: run_etl(src, out, "cloudtrail"),
    "duckdb-json": lambda src, out: run_duckdb_json(src, out, 1),
    "duckdb2-json": lambda src, out: run_duckdb_json(src, out, 2),
}


def _child(kind: str, source: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    print(json.dumps(CHILDREN[kind](source, out)))


def measure(argv: list[str]) -> tuple[float, float, float, str]:
    """Run ``argv`` as a child process: (seconds, CPU seconds, peak RSS in MB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    output = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed with {proc.returncode}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, output


RUNS = ("etl", "duckdb", "duckdb2", "pyarrow")
"""The runs of each input besides ``gzip -dc``; for CloudTrail, the JSON runs stand in for DuckDB's CSV ones."""


def bench(size_mb: int, data: Path, log_format: str = "alb") -> dict[str, Any]:
    if log_format == "cloudtrail":
        source = data / f"cloudtrail_{size_mb}mb.json.gz"
        kinds = {"etl": "etl-cloudtrail", "duckdb": "duckdb-json", "duckdb2": "duckdb2-json"}
    else:
        source = data / f"alb_{size_mb}mb.log.gz"
        kinds = {run: run for run in RUNS}
    if not source.exists():
        print(f"generating {source} ({size_mb} MiB uncompressed) ...", flush=True)
        (generate_cloudtrail if log_format == "cloudtrail" else generate)(source, size_mb)
    lines = int(source.with_suffix(".lines").read_text())
    work = data / f"out_{size_mb}"
    shutil.rmtree(work, ignore_errors=True)
    me = [sys.executable, str(Path(__file__).resolve())]
    load_before = os.getloadavg()[0]
    gzip_s, gzip_cpu, gzip_rss, _ = measure(["sh", "-c", f"gzip -dc '{source}' > /dev/null"])
    runs: dict[str, Any] = {"gzip": {"s": gzip_s, "cpu_s": gzip_cpu, "rss_mb": gzip_rss}}
    for run, kind in kinds.items():
        runs[run] = _child_result(*measure([*me, "--child", kind, str(source), str(work / run)]))
    shutil.rmtree(work, ignore_errors=True)
    return {
        "input": log_format,
        "size_mb": size_mb,
        "gz_mb": round(source.stat().st_size / 2**20, 1),
        "uncompressed_bytes": size_mb << 20,
        "lines": lines,
        "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        **runs,
    }


def _child_result(wall_s: float, cpu_s: float, rss_mb: float, stdout: str) -> dict[str, Any]:
    """The child's figures: ``s``/``work_cpu_s`` of the work, ``wall_s``/``cpu_s`` of the process (start-up too)."""
    found = json.loads(stdout.splitlines()[-1])
    return {
        "s": found.pop("seconds"),
        "work_cpu_s": found.pop("cpu_seconds"),
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "rss_mb": rss_mb,
        **found,
    }


NAMES = {
    "gzip": "`gzip -dc`",
    "etl": "ETL",
    "duckdb": "DuckDB (1 thread)",
    "duckdb2": "DuckDB (2 threads)",
    "pyarrow": "pyarrow CSV, untyped",
}
TARGETS = {"alb": 0.8, "cloudtrail": 0.6}
"""ETL CPU at most this share of DuckDB's on one thread (read_csv typed for ALB, read_json for CloudTrail)."""


def _runs(r: dict[str, Any]) -> list[str]:
    return [run for run in ("gzip", *RUNS) if run in r]


def _notes(run: str, m: dict[str, Any]) -> str:
    if run == "etl":
        return (
            f"rows {m['rows']:,}, rejected {m['rejected']:,}, skipped {m['skipped']:,}, balanced {m['balanced']}, "
            f"{m['files']} files"
        )
    if run == "gzip":
        return ""
    return f"rows {m['rows']:,} (bad lines dropped)"


def report(results: list[dict[str, Any]]) -> None:
    for r in results:
        print(
            f"input: {r['size_mb']} MiB uncompressed {r['input']} log, {r['gz_mb']} MiB gzipped, {r['lines']:,} "
            f"lines/records; load average (1 min) before/after: {r['load_1min'][0]} / {r['load_1min'][1]}"
        )
        print(
            f"  {'run':>8} {'wall s':>7} {'CPU s':>7} {'MiB/s':>6} {'x gzip':>7} {'x gzCPU':>7} {'peak RSS':>9}  "
            "process wall / CPU s (start-up included); output"
        )
        for run in _runs(r):
            m = r[run]
            cpu = m.get("work_cpu_s", m["cpu_s"])
            process = f"{m['wall_s']:.2f} / {m['cpu_s']:.2f}; " if "wall_s" in m else ""
            print(
                f"  {run:>8} {m['s']:>7.2f} {cpu:>7.2f} {r['size_mb'] / m['s']:>6.0f} "
                f"{m['s'] / r['gzip']['s']:>6.2f}x {cpu / r['gzip']['cpu_s']:>6.2f}x {m['rss_mb']:>6.0f}MiB  "
                f"{process}{_notes(run, m)}"
            )
        etl, duck = r["etl"], r["duckdb"]
        ratio = etl["work_cpu_s"] / duck["work_cpu_s"]
        print(
            f"  ETL CPU / DuckDB 1-thread CPU: {ratio:.2f} (target <= {TARGETS[r['input']]}); "
            f"ETL wall / DuckDB 2-thread wall: {etl['s'] / r['duckdb2']['s']:.2f}"
        )


def markdown(results: list[dict[str, Any]]) -> str:
    """The run as the table of docs/benchmarks.md: one row per input and tool, the work's own wall and CPU time."""
    rows = [
        "| input (uncompressed / gzipped, lines) | run | wall s | CPU s | MiB/s | x `gzip -dc` wall | "
        "x `gzip -dc` CPU | x DuckDB 1-thread CPU | peak RSS | rows written (rejected) | Parquet |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        gzip_run = r["gzip"]
        duck_cpu = r["duckdb"]["work_cpu_s"]
        label = f"{r['input']} {r['size_mb']:,} MiB / {r['gz_mb']} MiB, {r['lines']:,} lines"
        for run in _runs(r):
            m = r[run]
            cpu = m.get("work_cpu_s", m["cpu_s"])
            written = ""
            if run == "etl":
                written = f"{m['rows']:,} ({m['rejected']:,})"
            elif run != "gzip":
                written = f"{m['rows']:,} (bad lines dropped)"
            parquet = f"{m['parquet_mb']} MiB" if "parquet_mb" in m else ""
            name = NAMES[run] if r["input"] == "alb" or run in ("gzip", "etl") else NAMES[run] + " `read_json`"
            rows.append(
                f"| {label} | {name} | {m['s']:.2f} | {cpu:.2f} | {r['size_mb'] / m['s']:.0f} | "
                f"{m['s'] / gzip_run['s']:.2f} | {cpu / gzip_run['cpu_s']:.2f} | {cpu / duck_cpu:.2f} | "
                f"{m['rss_mb']:,.0f} MiB | {written} | {parquet} |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,1024", help="MB of uncompressed ALB log per input, comma separated")
    parser.add_argument("--cloudtrail-mb", type=int, default=50, help="MB of uncompressed CloudTrail log; 0: none")
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / ".data")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "SOURCE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    args.data.mkdir(parents=True, exist_ok=True)
    results = [bench(int(size), args.data) for size in args.sizes.split(",")]
    if args.cloudtrail_mb:
        results.append(bench(args.cloudtrail_mb, args.data, "cloudtrail"))
    report(results)
    print(markdown(results))
    (args.data / "log_etl_results.json").write_text(json.dumps(results, indent=2))
    alb = [r for r in results if r["input"] == "alb"]
    print(
        "targets: ETL CPU <= 0.8x DuckDB 1-thread (ALB), <= 0.6x DuckDB read_json (CloudTrail), peak RSS <= 300 MiB "
        f"and flat; max ETL peak RSS {max(r['etl']['rss_mb'] for r in alb):.0f} MiB, "
        f"min {min(r['etl']['rss_mb'] for r in alb):.0f} MiB"
    )


if __name__ == "__main__":
    main()
