"""Demo: AWS logs of every format land in a bucket, S3 notifies SQS, the ETL loads them; DuckDB reads the lake back."""

from __future__ import annotations

import gzip
import json
import logging
import os
import random
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.table import Table

from cli.demo import DemoEnv
from cli.sqs import lambda_sqs_event

TITLE = "Log ETL: S3 logs -> Parquet lake + Glue catalog"
SOURCE = "devops-tasks-demo-logs"
LAKE = "devops-tasks-demo-lake"
ACCOUNT = "123456789012"
STATUSES = (200, 200, 200, 200, 200, 201, 204, 301, 304, 304, 400, 403, 404, 404, 500, 502, 503)


def _ips(rng: random.Random, n: int) -> list[str]:
    hot = [f"203.0.113.{i}" for i in (7, 23, 42)] + ["2001:db8::17"]
    return [
        rng.choice(hot) if rng.random() < 0.3 else f"198.51.{rng.randint(0, 99)}.{rng.randint(1, 254)}"
        for _ in range(n)
    ]


def _times(start: datetime, n: int, span: timedelta) -> list[datetime]:
    return [start + span * i / n for i in range(n)]


def alb(rng: random.Random, start: datetime, n: int) -> bytes:
    lines = []
    for at, ip in zip(_times(start, n, timedelta(hours=3)), _ips(rng, n), strict=True):
        status = rng.choice(STATUSES)
        client = f"[{ip}]" if ":" in ip else ip
        lines.append(
            f"https {at:%Y-%m-%dT%H:%M:%S.%f}Z app/shop/50dc6c495c0c9188 {client}:{rng.randint(1024, 65535)} "
            f"10.0.1.{rng.randint(1, 20)}:8080 0.000 0.{rng.randint(1, 900):03d} 0.000 {status} {status} "
            f"{rng.randint(100, 900)} {rng.randint(200, 90000)} "
            f'"GET https://shop.example.com:443/p/{rng.randint(1, 500)} HTTP/2.0" "Mozilla/5.0 (X11; Linux x86_64)" '
            "ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 "
            f"arn:aws:elasticloadbalancing:eu-west-1:{ACCOUNT}:targetgroup/shop/73e2d6bc24d8a067 "
            f'"Root=1-{rng.getrandbits(32):08x}-{rng.getrandbits(96):024x}" "shop.example.com" "-" 0 '
            f'{at:%Y-%m-%dT%H:%M:%S.%f}Z "forward" "-" "-" "10.0.1.9:8080" "{status}" "-" "-" '
            f"TID_{rng.getrandbits(64):016x}"
        )
    return _with_bad_lines(rng, lines, ["https 2026-13-45T99:00:00Z app/shop/x", 'h2 truncated "GET https://shop.exa'])


def nlb(rng: random.Random, start: datetime, n: int) -> bytes:
    lines = []
    for at, ip in zip(_times(start, n, timedelta(hours=1)), _ips(rng, n), strict=True):
        client = f"[{ip}]" if ":" in ip else ip
        alpn = rng.choice(['h2 h2 "h2","http/1.1"', "- - -", 'http/1.1 http/1.1 "http/1.1"'])
        lines.append(
            f"tls 2.0 {at:%Y-%m-%dT%H:%M:%S} net/shop-nlb/c6e77e28c25b2234 g3d4b5e8bb8464cd "
            f"{client}:{rng.randint(1024, 65535)} 10.0.2.{rng.randint(1, 20)}:443 {rng.randint(1, 90000)} "
            f"{rng.randint(1, 40)} {rng.randint(100, 9000)} {rng.randint(200, 900000)} - "
            f"arn:aws:acm:eu-west-1:{ACCOUNT}:certificate/2a108f19-aded-46b0-8493-c63eb1ef4a99 - "
            f"ECDHE-RSA-AES128-GCM-SHA256 tlsv12 - shop.example.com {alpn} "
            f"{at - timedelta(seconds=rng.randint(1, 90)):%Y-%m-%dT%H:%M:%S}"
        )
    return _with_bad_lines(rng, lines, ["tls 2.0 2026-11-27T13:00:00Z net/shop-nlb/x", "tls 9.9 truncated"])


def classic_elb(rng: random.Random, start: datetime, n: int) -> bytes:
    lines = []
    for at, ip in zip(_times(start, n, timedelta(hours=1)), _ips(rng, n), strict=True):
        status = rng.choice(STATUSES)
        client = f"[{ip}]" if ":" in ip else ip
        head = (
            f"{at:%Y-%m-%dT%H:%M:%S.%f}Z legacy-lb {client}:{rng.randint(1024, 65535)} 10.0.3.{rng.randint(1, 9)}:80 "
            f"0.0000{rng.randint(10, 99)} 0.00{rng.randint(100, 999)} 0.0000{rng.randint(10, 99)}"
        )
        if rng.random() < 0.1:  # a TCP listener's line
            lines.append(f'{head} - - {rng.randint(10, 900)} {rng.randint(10, 9000)} "- - - " "-" - -')
        else:
            lines.append(
                f"{head} {status} {status} 0 {rng.randint(200, 90000)} "
                f'"GET https://legacy.example.com:443/{rng.randint(1, 99)} HTTP/1.1" "curl/8.4.0" '
                "ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2"
            )
    return _with_bad_lines(rng, lines, ['2026-11-27T13:00:00Z legacy-lb "unclosed', "2026-11-27 legacy-lb"])


def cloudwatch_logs(rng: random.Random, start: datetime, n: int) -> bytes:
    """A Firehose object without S3 compression: subscription payloads, each gzipped, one after the other."""
    records = [
        {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
         "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": int(start.timestamp() * 1000),
         "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}
    ]  # fmt: skip
    times = _times(start, n, timedelta(hours=1))
    for first in range(0, n, 50):
        events = [
            {
                "id": f"{rng.getrandbits(180):056d}"[:56],
                "timestamp": int(at.timestamp() * 1000),
                "message": f"[{rng.choice(['INFO', 'INFO', 'WARN', 'ERROR'])}] order {rng.randint(1, 99999)} done",
            }
            for at in times[first : first + 50]
        ]
        records.append(
            {"messageType": "DATA_MESSAGE", "owner": ACCOUNT, "logGroup": "/aws/lambda/shop-orders",
             "logStream": f"{start:%Y/%m/%d}/[$LATEST]{rng.getrandbits(128):032x}",
             "subscriptionFilters": ["shop-orders-to-firehose"], "logEvents": events}
        )  # fmt: skip
    payloads = [json.dumps(r).encode() for r in records]
    payloads.insert(len(payloads) // 2, payloads[1][:200])  # a truncated payload
    return b"".join(gzip.compress(p, mtime=0) for p in payloads)


def waf(rng: random.Random, start: datetime, n: int) -> bytes:
    lines = []
    acl = f"arn:aws:wafv2:eu-west-1:{ACCOUNT}:regional/webacl/shop-acl/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
    for at, ip in zip(_times(start, n, timedelta(hours=1)), _ips(rng, n), strict=True):
        blocked = rng.random() < 0.15
        group: dict[str, object] = {"ruleGroupId": "AWS#AWSManagedRulesSQLiRuleSet", "nonTerminatingMatchingRules": [],
                 "terminatingRule": {"ruleId": "SQLi_QUERYARGUMENTS", "action": "BLOCK"} if blocked else None,
                 "excludedRules": None}  # fmt: skip
        record = {
            "timestamp": int(at.timestamp() * 1000),
            "formatVersion": 1,
            "webaclId": acl,
            "terminatingRuleId": "AWS-AWSManagedRulesSQLiRuleSet" if blocked else "Default_Action",
            "terminatingRuleType": "MANAGED_RULE_GROUP" if blocked else "REGULAR",
            "action": "BLOCK" if blocked else "ALLOW",
            "terminatingRuleMatchDetails": [],
            "httpSourceName": "ALB",
            "httpSourceId": f"{ACCOUNT}-app/shop/50dc6c495c0c9188",
            "ruleGroupList": [group],
            "rateBasedRuleList": [],
            "nonTerminatingMatchingRules": [],
            "httpRequest": {
                "clientIp": ip,
                "country": rng.choice(["DE", "FR", "US", "BR"]),
                "headers": [
                    {"name": "Host", "value": "shop.example.com"},
                    {"name": "User-Agent", "value": "Mozilla/5.0 (X11; Linux x86_64)"},
                ],
                "uri": f"/p/{rng.randint(1, 500)}",
                "args": "id=1 OR 1=1" if blocked else "",
                "httpVersion": "HTTP/2.0",
                "httpMethod": "GET",
                "requestId": f"1-{rng.getrandbits(64):016x}",
            },
            "labels": [{"name": "awswaf:managed:aws:sql-database:SQLi_QueryArguments"}] if blocked else [],
        }
        lines.append(json.dumps(record, separators=(",", ":")))
    return _with_bad_lines(rng, lines, ['{"timestamp":"yesterday","action":"ALLOW"}', '{"timestamp":17000,"act'])


def cloudfront(rng: random.Random, start: datetime, n: int) -> bytes:
    from functions.log_etl.formats import CLOUDFRONT_AWS_NAMES

    lines = ["#Version: 1.0", "#Fields: " + " ".join(CLOUDFRONT_AWS_NAMES)]
    for at, ip in zip(_times(start, n, timedelta(hours=2)), _ips(rng, n), strict=True):
        status = rng.choice(STATUSES)
        fields = [
            f"{at:%Y-%m-%d}", f"{at:%H:%M:%S}", "FRA56-P1", str(rng.randint(200, 80000)), ip, "GET",
            "d111111abcdef8.cloudfront.net", f"/img/{rng.randint(1, 300)}.webp", str(status), "-",
            "Mozilla/5.0%20(Macintosh)", "-", "-", "Hit" if status < 400 else "Error",
            f"{rng.getrandbits(128):032x}==", "cdn.example.com", "https", str(rng.randint(100, 600)),
            f"0.{rng.randint(1, 300):03d}", "-", "TLSv1.3", "TLS_AES_128_GCM_SHA256", "Hit", "HTTP/2.0", "-", "-",
            str(rng.randint(1024, 65535)), f"0.{rng.randint(1, 200):03d}", "Hit", "image/webp",
            str(rng.randint(200, 80000)), "-", "-",
        ]  # fmt: skip
        lines.append("\t".join(fields))
    return _with_bad_lines(rng, lines, ["2026-11-27\tnot-a-time\tFRA56-P1"])


def s3_access(rng: random.Random, start: datetime, n: int) -> bytes:
    owner = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
    lines = []
    for at, ip in zip(_times(start, n, timedelta(hours=2)), _ips(rng, n), strict=True):
        op, status = rng.choice([("REST.GET.OBJECT", 200), ("REST.PUT.OBJECT", 200), ("REST.GET.OBJECT", 404)])
        key = f"assets/{rng.randint(1, 400)}.bin"
        lines.append(
            f"{owner} shop-assets [{at:%d/%b/%Y:%H:%M:%S} +0000] {ip} {owner} {rng.getrandbits(64):016X} {op} {key} "
            f'"{op.split(".")[1]} /shop-assets/{key} HTTP/1.1" {status} {"-" if status == 200 else "NoSuchKey"} '
            f'{rng.randint(0, 50000)} {rng.randint(0, 50000)} {rng.randint(1, 90)} {rng.randint(1, 40)} "-" '
            f'"aws-cli/2.15.0" - {rng.getrandbits(128):032x}= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader '
            "shop-assets.s3.eu-west-1.amazonaws.com TLSv1.2 - -"
        )
    return _with_bad_lines(rng, lines, [f"{owner} shop-assets [27/Nov/2026:13:00:00"])


def vpc_flow(rng: random.Random, start: datetime, n: int) -> bytes:
    from functions.log_etl.formats import VPC_DEFAULT_NAMES

    lines = [" ".join(name.replace("_", "-") for name in VPC_DEFAULT_NAMES)]
    base = int(start.timestamp())
    for i, ip in enumerate(_ips(rng, n)):
        t = base + i * 7200 // n
        action = "ACCEPT" if rng.random() < 0.85 else "REJECT"
        src = ip if ":" not in ip else "198.51.100.9"
        lines.append(
            f"2 {ACCOUNT} eni-0a1b2c3d4e5f6a7b8 {src} 10.0.1.{rng.randint(1, 20)} {rng.randint(1024, 65535)} "
            f"{rng.choice([443, 443, 22, 5432])} 6 {rng.randint(1, 200)} {rng.randint(60, 200000)} {t} {t + 60} "
            f"{action} OK"
        )
    return _with_bad_lines(rng, lines, ["2 123456789012 eni-0a1b2c3d4e5f6a7b8 only-four"])


def cloudtrail(rng: random.Random, start: datetime, n: int) -> bytes:
    records: list[dict[str, Any]] = []
    for at, ip in zip(_times(start, n, timedelta(hours=1)), _ips(rng, n), strict=True):
        name = rng.choice(["GetObject", "AssumeRole", "DescribeInstances", "PutObject", "ConsoleLogin"])
        records.append(
            {
                "eventVersion": "1.09",
                "userIdentity": {"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/dev/alice"},
                "eventTime": f"{at:%Y-%m-%dT%H:%M:%S}Z",
                "eventSource": "s3.amazonaws.com" if "Object" in name else "sts.amazonaws.com",
                "eventName": name,
                "awsRegion": "eu-west-1",
                "sourceIPAddress": ip,
                "userAgent": "aws-cli/2.15.0",
                "requestParameters": {"bucketName": "shop-assets"},
                "responseElements": None,
                "requestID": f"{rng.getrandbits(64):016X}",
                "eventID": f"{rng.getrandbits(128):032x}",
                "readOnly": name.startswith(("Get", "Describe")),
                "eventType": "AwsApiCall",
                "managementEvent": "Object" not in name,
                "recipientAccountId": ACCOUNT,
            }
        )
    records.insert(len(records) // 2, {"eventName": "NoTime", "eventSource": "ec2.amazonaws.com"})
    return json.dumps({"Records": records}).encode()


def _with_bad_lines(rng: random.Random, lines: list[str], bad: list[str]) -> bytes:
    for line in bad * 3:
        lines.insert(rng.randint(len(lines) // 10, len(lines)), line)
    return ("\n".join(lines) + "\n").encode()


def objects(now: datetime) -> list[tuple[str, bytes]]:
    """(key, body) of every object the demo uploads: a few MB of logs of every format, and some non-logs."""
    rng = random.Random(5)
    start = (now - timedelta(hours=4)).replace(minute=0, second=0, microsecond=0)
    day = f"{start:%Y/%m/%d}"
    stamp = f"{start:%Y%m%dT%H%M}Z"
    elb = f"AWSLogs/{ACCOUNT}/elasticloadbalancing/eu-west-1/{day}"
    found: list[tuple[str, bytes]] = []
    for i in range(3):
        key = f"{elb}/{ACCOUNT}_elasticloadbalancing_eu-west-1_app.shop.50dc6c495c0c9188_{stamp}_10.0.0.{i}_x{i}.log.gz"
        found.append((key, gzip.compress(alb(rng, start + timedelta(minutes=20 * i), 3000))))
    found += [
        (f"cloudfront/E2K2LNL5N3WR51.{start:%Y-%m-%d-%H}.a1b2c3d4.gz", gzip.compress(cloudfront(rng, start, 3000))),
        (f"s3-access/{start:%Y-%m-%d-%H-%M-%S}-5A2B3C4D5E6F7A8B", s3_access(rng, start, 2500)),
        (
            f"AWSLogs/{ACCOUNT}/vpcflowlogs/eu-west-1/{day}/{ACCOUNT}_vpcflowlogs_eu-west-1_fl-0a1b2c3d_{stamp}_"
            "0a1b2c3d.log.gz",
            gzip.compress(vpc_flow(rng, start, 6000)),
        ),
        (
            f"AWSLogs/{ACCOUNT}/CloudTrail/eu-west-1/{day}/{ACCOUNT}_CloudTrail_eu-west-1_{stamp}_Ab12Cd34Ef56.json.gz",
            gzip.compress(cloudtrail(rng, start, 2000)),
        ),
        (
            f"{elb}/{ACCOUNT}_elasticloadbalancing_eu-west-1_net.shop-nlb.c6e77e28c25b2234_{stamp}_7f3c1a2b.log.gz",
            gzip.compress(nlb(rng, start, 1500)),
        ),
        (
            f"{elb}/{ACCOUNT}_elasticloadbalancing_eu-west-1_legacy-lb_{stamp}_10.0.0.1_20sg8hgm.log",
            classic_elb(rng, start, 1500),
        ),
        (
            f"AWSLogs/{ACCOUNT}/WAFLogs/eu-west-1/shop-acl/{start:%Y/%m/%d/%H/%M}/{ACCOUNT}_waflogs_eu-west-1_shop-acl_"
            f"{stamp}_0a1b2c3d.log.gz",
            gzip.compress(waf(rng, start, 1500)),
        ),
        (
            f"firehose/app-logs/{start:%Y/%m/%d/%H}/shop-logs-1-{start:%Y-%m-%d-%H-%M-%S}-"
            "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            cloudwatch_logs(rng, start, 2000),
        ),
        (
            f"AWSLogs/{ACCOUNT}/ELBAccessLogTestFile",
            b"Enable AccessLog for ELB: my-loadbalancer at 2026-11-27T00:00:00.000Z",
        ),
        (
            f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/eu-west-1/{day}/{ACCOUNT}_CloudTrail-Digest_eu-west-1_x_{stamp}.json.gz",
            gzip.compress(b'{"awsAccountId": "123456789012"}'),
        ),
        (f"{elb}/{ACCOUNT}_elasticloadbalancing_eu-west-1_app.shop.50dc6c495c0c9188_{stamp}_10.0.0.9_bad.log.gz",
         _corrupt(found[0][1])),
    ]  # fmt: skip
    return found


def _corrupt(gz: bytes) -> bytes:
    """A gzip object damaged in the middle, as a broken upload would leave it."""
    middle = len(gz) // 2
    return gz[:middle] + bytes(b ^ 0x5A for b in gz[middle : middle + 64]) + gz[middle + 64 :]


def run(env: DemoEnv) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the embedded server's access log
    s3, sqs = env.client("s3"), env.client("sqs")
    for bucket in (SOURCE, LAKE):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": env.region})
    queue_url, queue_arn = env.notify_queue(SOURCE, "devops-tasks-demo-log-etl")
    uploads = objects(datetime.now(UTC))
    for key, body in uploads:
        s3.put_object(Bucket=SOURCE, Key=key, Body=body)
    raw_mb = sum(len(gzip.decompress(b)) if b[:2] == b"\x1f\x8b" and not k.endswith("bad.log.gz") else len(b)
                 for k, b in uploads) / 2**20  # fmt: skip
    env.console.print(
        f"uploaded {len(uploads)} objects ({raw_mb:.1f} MB of logs) to s3://{SOURCE}; S3 notified the SQS queue"
    )

    settings = {
        "DEVOPS_TASKS_LAKE_BUCKET": LAKE,
        "DEVOPS_TASKS_GLUE_DATABASE": "devops_tasks_demo_logs",
        # Firehose keys name no format: the stream's prefix is configured as a source of CloudWatch Logs
        "DEVOPS_TASKS_SOURCE_FORMATS": json.dumps([{"prefix": "firehose/app-logs/", "format": "cloudwatch_logs"}]),
    }
    previous = {k: os.environ.get(k) for k in settings}
    os.environ |= settings
    totals: Counter[str] = Counter()
    failed = 0
    try:
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                break
            outcome = env.invoke("log-etl", lambda_sqs_event(messages, queue_arn, env.region))
            failures = {f["itemIdentifier"] for f in (outcome.response or {}).get("batchItemFailures", [])}
            failed += len(failures)
            for m in messages:
                if m["MessageId"] not in failures:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            totals["batches"] += 1
            totals["messages"] += len(messages)
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    env.console.print(
        f"invoked the handler with {totals['batches']} SQS batches ({totals['messages']} messages); "
        f"batch item failures: {failed}"
    )
    _show_lake(env, s3)


def _download(s3: Any, prefix: str, into: Path) -> list[Path]:
    paths = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=LAKE, Prefix=prefix):
        for item in page.get("Contents", []):
            path = into / item["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(LAKE, item["Key"], str(path))
            paths.append(path)
    return paths


def _show_lake(env: DemoEnv, s3: Any) -> None:
    import duckdb

    local = env.out / "log-etl"
    shutil.rmtree(local, ignore_errors=True)
    files = _download(s3, "lake/", local)
    quarantine = _download(s3, "quarantine/", local)
    manifests = [json.loads(p.read_text()) for p in _download(s3, "manifests/", local)]
    env.console.print(f"lake copied to {local}/lake ({len(files)} Parquet files); queried with DuckDB")

    per_object = Table(title="per object: lines in = rows out + rejected + skipped")
    for col in ("format", "lines in", "rows out", "rejected", "skipped", "hours", "note"):
        per_object.add_column(col, justify="left" if col in ("format", "note") else "right")
    for m in sorted(manifests, key=lambda m: (m["format"], m["source"]["key"])):
        note = "unreadable: quarantined" if m["unreadable"] else ("balanced" if m["balanced"] else "NOT BALANCED")
        per_object.add_row(
            m["format"], str(m["lines_in"]), str(m["rows_out"]), str(m["rows_rejected"]), str(m["lines_skipped"]),
            str(len(m["partitions"])), note,
        )  # fmt: skip
    env.console.print(per_object)

    con = duckdb.connect()
    lake = local / "lake"

    def query(sql: str) -> list[tuple[Any, ...]]:
        return con.execute(sql.replace("{lake}", str(lake))).fetchall()

    status = Table(title="ALB requests per status code")
    status.add_column("elb_status_code")
    status.add_column("requests", justify="right")
    for code, n in query(
        "SELECT elb_status_code, count(*) FROM read_parquet('{lake}/format=alb/*/*/*.parquet', hive_partitioning=true)"
        " GROUP BY 1 ORDER BY 1"
    ):
        status.add_row(str(code), str(n))
    env.console.print(status)

    top = Table(title="top client IPs (ALB + CloudFront + S3 access)")
    top.add_column("client ip")
    top.add_column("requests", justify="right")
    for ip, n in query(
        "SELECT ip, count(*) AS n FROM ("
        " SELECT client_ip AS ip FROM read_parquet('{lake}/format=alb/*/*/*.parquet')"
        " UNION ALL SELECT c_ip FROM read_parquet('{lake}/format=cloudfront/*/*/*.parquet')"
        " UNION ALL SELECT remote_ip FROM read_parquet('{lake}/format=s3_access/*/*/*.parquet')"
        ") GROUP BY ip ORDER BY n DESC, ip LIMIT 5"
    ):
        top.add_row(ip, str(n))
    env.console.print(top)

    reasons: Counter[tuple[str, str]] = Counter()
    for path in quarantine:
        fmt = path.parent.name.removeprefix("format=")
        for line in gzip.decompress(path.read_bytes()).splitlines():
            reasons[(fmt, json.loads(line)["reason"][:60])] += 1
    why = Table(title="rejected lines by reason (quarantine)")
    for col in ("format", "reason", "lines"):
        why.add_column(col, justify="right" if col == "lines" else "left")
    for (fmt, reason), n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        why.add_row(fmt, reason, str(n))
    env.console.print(why)
    partitions = {(m["format"], p) for m in manifests for p in m["partitions"]}
    summary = {"objects": manifests, "rejected_by_reason": {f"{f}: {r}": n for (f, r), n in reasons.items()}}
    path = env.write("log-etl/summary.json", summary)
    env.console.print(f"Hive partitions (format, dt, hour) in the lake: {len(partitions)}; summary in {path}")
