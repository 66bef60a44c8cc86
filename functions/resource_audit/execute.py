"""The only module that writes: the three renderings to the reports bucket (dated keys and ``latest``) and to a
local folder, and the read of the previous report that the diff compares with. The audit changes no resource.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from functions.resource_audit.findings import AuditReport
from shared.aws import error_code
from shared.observability import logger

FORMATS = {"json": "application/json", "csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8"}
LOCAL_LATEST = "resource-audit-latest"


def report_keys(prefix: str, task: str, started_at: datetime, run_id: str) -> dict[str, dict[str, str]]:
    """Object keys of the three formats.

    ``dated``: ``<prefix>/<task>/YYYY/MM/DD/<HHMMSS>Z-<run id>.audit.<ext>``;
    ``latest``: ``<prefix>/<task>/latest.<ext>``.
    """
    head = f"{prefix}/{task}" if prefix else task
    stamp = f"{head}/{started_at:%Y/%m/%d}/{started_at:%H%M%S}Z-{run_id}.audit"
    return {
        "dated": {ext: f"{stamp}.{ext}" for ext in FORMATS},
        "latest": {ext: f"{head}/latest.{ext}" for ext in FORMATS},
    }


def parse_previous(raw: bytes | str, where: str) -> AuditReport | None:
    """A previous report, or None (with a warning) when it cannot be read as this schema."""
    try:
        return AuditReport.from_json(raw)
    except ValidationError as exc:
        logger.warning("previous report unreadable; no diff this run", location=where, error=str(exc)[:500])
        return None


def read_previous(s3: Any, bucket: str, key: str) -> AuditReport | None:
    """The report at the ``latest`` key, or None when there is none yet."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404"):
            return None
        raise
    return parse_previous(body, f"s3://{bucket}/{key}")


def write_s3(s3: Any, bucket: str, keys: dict[str, dict[str, str]], bodies: dict[str, str], *, latest: bool) -> None:
    """The dated objects first, then (unless ``latest`` is False) the ``latest`` ones that the next diff reads."""
    targets = [keys["dated"]] + ([keys["latest"]] if latest else [])
    for target in targets:
        for ext, key in target.items():
            s3.put_object(Bucket=bucket, Key=key, Body=bodies[ext].encode(), ContentType=FORMATS[ext])
            logger.info("audit report written", bucket=bucket, key=key, size=len(bodies[ext]))


def presign(s3: Any, bucket: str, key: str, seconds: int) -> str:
    """A GET link to one object (no AWS call). It never outlives the signing credentials' session."""
    url: str = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds)
    return url


def read_local_previous(folder: str) -> AuditReport | None:
    path = Path(folder) / f"{LOCAL_LATEST}.json"
    return parse_previous(path.read_bytes(), str(path)) if path.exists() else None


def write_local(folder: str, stamp: str, bodies: dict[str, str], *, latest: bool) -> dict[str, str]:
    """``resource-audit-<stamp>.<ext>`` and ``resource-audit-latest.<ext>`` in ``folder``; returns the dated paths."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for ext, body in bodies.items():
        path = out / f"resource-audit-{stamp}.{ext}"
        path.write_text(body, encoding="utf-8")
        written[ext] = str(path)
        if latest:
            (out / f"{LOCAL_LATEST}.{ext}").write_text(body, encoding="utf-8")
    return written
