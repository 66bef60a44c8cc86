"""Benchmark of the lake compaction: files per partition and DuckDB query time over one day of a busy source.

Usage: python bench/log_compaction.py [--files-per-hour 120] [--rows-per-file 1500] [--data bench/.data]

One day of ALB rows (24 hourly partitions) is written as the log ETL writes it, one small zstd Parquet file per
source object and hour (its writer options and lake schema), to a local directory laid out like the lake bucket.
A busy load balancer delivers a file per node every 5 minutes: 10 nodes make 120 files an hour, 2,880 a day.
Then each partition is compacted with the task's own planner and merge (``pack`` at the target size,
``merge_files``: sorted by event time, checked against its inputs), to ``compacted/.../gen=<id>/``; S3 and Glue
are not part of the measurement. The same DuckDB queries run over the day before and after (best of 3, 2 threads),
each reading the partition files directly, as Athena reads the partition locations.

Prints the files per partition, the bytes, the compaction's wall and CPU seconds, and per query the wall and CPU
seconds before and after and their ratio; writes the markdown table of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from functions.log_compaction.merge import check_file, merge_files  # noqa: E402
from functions.log_compaction.models import LakeFile  # noqa: E402
from functions.log_compaction.plan import generation_id, pack  # noqa: E402
from functions.log_etl.lake import writer_options  # noqa: E402
from functions.log_etl.schemas import conform, lake_schema  # noqa: E402

DAY = datetime(2026, 11, 27, tzinfo=UTC)
QUERIES = {
    "status codes, one day": "SELECT elb_status_code, count(*) AS n FROM {src} GROUP BY 1 ORDER BY 2 DESC",
    "p95 target time per hour": (
        "SELECT hour, quantile_cont(target_processing_time, 0.95) FROM {src} GROUP BY 1 ORDER BY 1"
    ),
    "top clients, 5xx, one hour": (
        "SELECT client_ip, count(*) FROM {src} WHERE hour = '13' AND elb_status_code >= 500 "
        "GROUP BY 1 ORDER BY 2 DESC LIMIT 20"
    ),
    "one request id": "SELECT count(*) FROM {src} WHERE trace_id = 'Root=1-00000000-000000000000000000000777'",
}


def node_file(hour: int, node: int, slot: int, rows: int, rng: np.random.Generator) -> pa.Table:
    """One ALB node's 5-minute file: ``rows`` requests of one hour, nearly in time order."""
    start = DAY + timedelta(hours=hour, minutes=5 * slot)
    offsets = np.sort(rng.integers(0, 300_000_000, rows)) + rng.integers(0, 2_000_000, rows)
    micros = int(start.timestamp() * 1e6) + np.minimum(offsets, 3_599_999_999 - 5 * slot * 60_000_000)
    times = pa.array(micros, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    status = rng.choice([200, 200, 200, 200, 301, 304, 404, 500, 502], rows).astype(np.int32)
    ids = rng.integers(0, 1 << 40, rows)
    table = pa.table(
        {
            "type": pa.array(rng.choice(["http", "https", "h2"], rows)),
            "time": times,
            "elb": pa.array(["app/my-loadbalancer/50dc6c495c0c9188"] * rows),
            "client_ip": pa.array([f"203.0.{a}.{b}" for a, b in rng.integers(0, 255, (rows, 2))]),
            "client_port": pa.array(rng.integers(1024, 65535, rows).astype(np.int32)),
            "target_ip": pa.array([f"10.0.{node}.{a}" for a in rng.integers(1, 254, rows)]),
            "target_port": pa.array(np.full(rows, 80, np.int32)),
            "request_processing_time": pa.array(np.full(rows, 0.0)),
            "target_processing_time": pa.array(rng.exponential(0.05, rows)),
            "response_processing_time": pa.array(np.full(rows, 0.0)),
            "elb_status_code": pa.array(status),
            "target_status_code": pa.array(status.astype(str)),
            "received_bytes": pa.array(rng.integers(0, 5000, rows)),
            "sent_bytes": pa.array(rng.integers(0, 500_000, rows)),
            "request": pa.array([f"GET https://www.example.com:443/items/{i} HTTP/1.1" for i in ids]),
            "user_agent": pa.array(rng.choice(["curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64)"], rows)),
            "trace_id": pa.array([f"Root=1-{i >> 20:08x}-{i:024x}" for i in ids]),
            "domain_name": pa.array(["www.example.com"] * rows),
            "event_time": times,
        }
    )
    return conform(table, lake_schema("alb"))


def write_day(lake: Path, files_per_hour: int, rows: int) -> int:
    rng = np.random.default_rng(7)
    nodes = max(1, files_per_hour // 12)
    n = 0
    for hour in range(24):
        folder = lake / f"lake/format=alb/dt={DAY:%Y-%m-%d}/hour={hour:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(files_per_hour):
            table = node_file(hour, i % nodes, (i // nodes) % 12, rows, rng)
            pq.write_table(
                table,
                folder / f"node{i % nodes:02d}-{i:04d}.parquet",
                compression="zstd",
                **writer_options(table.schema),
            )
            n += 1
    return n


def compact_day(lake: Path, target_mb: int) -> dict[str, Any]:
    started, cpu = time.perf_counter(), time.process_time()
    outputs = 0
    for folder in sorted((lake / "lake/format=alb").glob("dt=*/hour=*")):
        files = [LakeFile(str(p), "bench", p.stat().st_size) for p in sorted(folder.glob("*.parquet"))]
        gen = generation_id(files)
        target = lake / "compacted/format=alb" / folder.parent.name / folder.name / f"gen={gen}"
        target.mkdir(parents=True, exist_ok=True)
        for i, group in enumerate(pack(files, target_mb << 20)):
            out = target / f"part-{i:05d}.parquet"
            expected, _ = merge_files([Path(f.key) for f in group], out, compression="zstd", row_group_rows=262_144)
            if check_file(out) != expected:
                raise SystemExit(f"{out} does not hold its inputs' rows")
            outputs += 1
    return {"s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu, "files": outputs}


def size_mb(paths: list[Path]) -> float:
    return round(sum(p.stat().st_size for p in paths) / 2**20, 1)


def query_times(glob: str) -> dict[str, dict[str, float]]:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads TO 2")
    src = f"read_parquet('{glob}', hive_partitioning = true)"
    found = {}
    for name, sql in QUERIES.items():
        best = (float("inf"), 0.0)
        for _ in range(3):
            started, cpu = time.perf_counter(), time.process_time()
            con.execute(sql.format(src=src)).fetchall()
            best = min(best, (time.perf_counter() - started, time.process_time() - cpu))
        found[name] = {"s": best[0], "cpu_s": best[1]}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files-per-hour", type=int, default=120)
    parser.add_argument("--rows-per-file", type=int, default=1500)
    parser.add_argument("--target-mb", type=int, default=256)
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / ".data")
    args = parser.parse_args()
    lake = args.data / "compaction_lake"
    shutil.rmtree(lake, ignore_errors=True)
    load_before = os.getloadavg()[0]
    written = write_day(lake, args.files_per_hour, args.rows_per_file)
    before_files = sorted(lake.glob("lake/format=alb/*/*/*.parquet"))
    compaction = compact_day(lake, args.target_mb)
    after_files = sorted(lake.glob("compacted/format=alb/*/*/*/*.parquet"))
    before = query_times(str(lake / "lake/format=alb/*/*/*.parquet"))
    after = query_times(str(lake / "compacted/format=alb/*/*/*/*.parquet"))
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in after_files)
    result = {
        "rows": rows,
        "files_before": written,
        "files_after": len(after_files),
        "mb_before": size_mb(before_files),
        "mb_after": size_mb(after_files),
        "compaction": compaction,
        "queries": {name: {"before": before[name], "after": after[name]} for name in QUERIES},
        "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    shutil.rmtree(lake, ignore_errors=True)
    (args.data / "log_compaction_results.json").write_text(json.dumps(result, indent=2))
    print(
        f"one day of ALB rows: {rows:,} rows; files per partition {written // 24} -> {len(after_files) / 24:g}; "
        f"{result['mb_before']} MiB -> {result['mb_after']} MiB of Parquet; compaction "
        f"{compaction['s']:.1f} s wall, {compaction['cpu_s']:.1f} s CPU; load (1 min) {result['load_1min']}"
    )
    print("| query (DuckDB, 2 threads, best of 3) | before: wall s | CPU s | after: wall s | CPU s | x faster (wall) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, q in result["queries"].items():
        b, a = q["before"], q["after"]
        print(f"| {name} | {b['s']:.3f} | {b['cpu_s']:.3f} | {a['s']:.3f} | {a['cpu_s']:.3f} | {b['s'] / a['s']:.1f} |")


if __name__ == "__main__":
    main()
