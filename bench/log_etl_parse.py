"""Quick throughput check of the log_etl parser on a generated gzipped ALB file.

Usage: python bench/log_etl_parse.py [megabytes-uncompressed] [workdir]
Prints parse MB/s (uncompressed), the time of `gzip -dc` on the same file and the ratio, and the parser's CPU
time (all threads: reading and decompressing runs on a background thread).
"""

from __future__ import annotations

import gzip
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

from functions.log_etl.parse import DelimitedParser

LINE = (
    "{kind} 2024-03-{day:02d}T{h:02d}:{m:02d}:{s:02d}.{us:06d}Z app/my-loadbalancer/50dc6c495c0c9188 "
    "192.168.{a}.{b}:{port} 10.0.0.{c}:80 0.000 0.{t:03d} 0.000 {status} {status} {rx} {tx} "
    '"GET https://www.example.com:443/items/{item}?q={q} HTTP/1.1" "Mozilla/5.0 (X11; Linux x86_64) curl/{v}" '
    "ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 "
    "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "
    '"Root=1-58337281-1d84f3d73c47ec4e{item:08x}" "www.example.com" '
    '"arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" '
    '1 2024-03-{day:02d}T{h:02d}:{m:02d}:{s:02d}.000000Z "forward" "-" "-" "10.0.0.{c}:80" "{status}" "-" "-" '
    "TID_{item:032x}\n"
)


def generate(path: Path, megabytes: int) -> None:
    rng = random.Random(7)
    target = megabytes << 20
    written = 0
    with gzip.open(path, "wb", compresslevel=6) as out:
        lines = []
        while written < target:
            line = LINE.format(
                kind=rng.choice(["http", "https", "h2"]),
                day=rng.randint(1, 28),
                h=rng.randint(0, 23),
                m=rng.randint(0, 59),
                s=rng.randint(0, 59),
                us=rng.randint(0, 999999),
                a=rng.randint(0, 255),
                b=rng.randint(0, 255),
                port=rng.randint(1024, 65535),
                c=rng.randint(1, 254),
                t=rng.randint(0, 999),
                status=rng.choice([200, 200, 200, 301, 404, 502]),
                rx=rng.randint(0, 5000),
                tx=rng.randint(0, 500000),
                item=rng.randint(0, 1 << 30),
                q=rng.randint(0, 1000),
                v=rng.randint(1, 9),
            ).encode()
            lines.append(line)
            written += len(line)
            if len(lines) >= 10000:
                out.write(b"".join(lines))
                lines = []
        out.write(b"".join(lines))


def main() -> None:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    workdir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("/tmp")
    path = workdir / f"alb_bench_{megabytes}.log.gz"
    if not path.exists():
        generate(path, megabytes)
    start = time.perf_counter()
    subprocess.run(["gzip", "-dc", str(path)], stdout=subprocess.DEVNULL, check=True)
    gzip_s = time.perf_counter() - start

    start, cpu_start = time.perf_counter(), time.process_time()
    with path.open("rb") as raw:
        parser = DelimitedParser(raw, "alb")
        for _ in parser:
            pass
    parse_s, parse_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows={parser.counts.rows_out} rejected={parser.counts.rows_rejected} balanced={parser.counts.balanced}")
    print(f"gzip -dc {gzip_s:.2f}s  parse {parse_s:.2f}s (CPU {parse_cpu:.2f}s)  ratio {parse_s / gzip_s:.2f}x")
    print(f"parse {megabytes / parse_s:.0f} MB/s uncompressed, peak RSS {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
