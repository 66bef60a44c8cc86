"""The only module that writes: the three renderings to the reports bucket (dated keys and ``latest``) and to a
local folder, the optional exports (Security Hub, OCSF lines), and the read of the previous report that the diff
compares with. The audit changes no resource.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from functions.resource_audit.asff import batches
from functions.resource_audit.findings import SCHEMA, SCHEMA_VERSION, AuditReport
from shared.aws import error_code
from shared.observability import logger
from shared.report import UnitResult

FORMATS = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "accounts.csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}
LOCAL_LATEST = "resource-audit-latest"


def report_keys(prefix: str, task: str, started_at: datetime, run_id: str) -> dict[str, dict[str, str]]:
    """Object keys of the three formats.

    ``dated``: ``<prefix>/<task>/YYYY/MM/DD/<HHMMSS>Z-<run id>.audit.<ext>``;
    ``latest``: ``<prefix>/<task>/latest.<ext>``;
    ``ocsf``: ``<prefix>/<task>/YYYY/MM/DD/<HHMMSS>Z-<run id>.ocsf.jsonl``.
    """
    head = f"{prefix}/{task}" if prefix else task
    stamp = f"{head}/{started_at:%Y/%m/%d}/{started_at:%H%M%S}Z-{run_id}.audit"
    return {
        "dated": {ext: f"{stamp}.{ext}" for ext in FORMATS},
        "latest": {ext: f"{head}/latest.{ext}" for ext in FORMATS},
        "ocsf": {"ocsf.jsonl": f"{stamp.removesuffix('.audit')}.ocsf.jsonl"},
    }


Previous = tuple[AuditReport | None, str | None]
"""The previous report (None when there is none or it cannot be used) and, when one exists but cannot be used,
why: the report says so instead of passing for a first report."""


def parse_previous(raw: bytes | str, where: str) -> Previous:
    """A previous report, or None and the reason (with a warning) when it cannot be read as this schema."""
    try:
        return AuditReport.from_json(raw), None
    except ValueError as exc:  # pydantic's ValidationError (bad JSON or schema) and undecodable bytes
        logger.warning("previous report unreadable; no diff this run", location=where, error=str(exc)[:500])
        return None, f"the previous report {where} could not be read (not a {SCHEMA} v{SCHEMA_VERSION} report)"


def read_previous(s3: Any, bucket: str, key: str) -> Previous:
    """The report at the ``latest`` key; None when there is none yet, or (with the reason) when it cannot be
    fetched: the diff's baseline never stops the audit being written."""
    where = f"s3://{bucket}/{key}"
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404"):
            return None, None
        logger.warning("previous report not fetched; no diff this run", location=where, error_code=error_code(exc))
        return None, f"the previous report {where} could not be read ({error_code(exc)})"
    except BotoCoreError as exc:
        logger.warning("previous report not fetched; no diff this run", location=where, error=str(exc))
        return None, f"the previous report {where} could not be read ({error_code(exc)})"
    return parse_previous(body, where)


def write_s3(s3: Any, bucket: str, keys: dict[str, dict[str, str]], bodies: dict[str, str], *, latest: bool) -> None:
    """The dated objects first, then (unless ``latest`` is False) the ``latest`` ones that the next diff reads."""
    targets = [keys["dated"]] + ([keys["latest"]] if latest else [])
    for target in targets:
        for ext, key in target.items():
            s3.put_object(Bucket=bucket, Key=key, Body=bodies[ext].encode(), ContentType=FORMATS[ext])
            logger.info("audit report written", bucket=bucket, key=key, size=len(bodies[ext]))


CONSOLES = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}


def console_url(partition: str, region: str, bucket: str, key: str) -> str:
    """The S3 console's page of one object: it opens only for someone signed in with access to the bucket."""
    host = CONSOLES.get(partition, CONSOLES["aws"])
    return f"https://{host}/s3/object/{quote(bucket)}?region={quote(region)}&prefix={quote(key, safe='')}"


def presign(s3: Any, bucket: str, key: str, seconds: int) -> str:
    """A GET link to one object (no AWS call). It never outlives the signing credentials' session."""
    url: str = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds)
    return url


def read_local_previous(folder: str) -> Previous:
    path = Path(folder) / f"{LOCAL_LATEST}.json"
    if not path.exists():
        return None, None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, f"the previous report {path} could not be read ({exc.strerror})"
    return parse_previous(raw, str(path))


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


OCSF_TYPE = "application/x-ndjson"


def write_ocsf(s3: Any, bucket: str, key: str, body: str) -> None:
    """The run's OCSF Detection Findings, one JSON object a line, at the dated key (never ``latest``)."""
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType=OCSF_TYPE)
    logger.info("ocsf findings written", bucket=bucket, key=key, size=len(body))


def import_findings(securityhub: Any, findings: list[dict[str, Any]], result: UnitResult) -> int:
    """BatchImportFindings in batches of at most 100 (one account's findings, its own client; paced by
    shared.pacing within Security Hub's 10 per second). A finding Security Hub refuses (FailedFindings) and a batch
    that fails as a whole are failures of ``result``; the other batches still go. Returns how many findings
    Security Hub took. A finding here stays under 10 KB (ASFF's text limits), so a batch is far below the 6 MB
    a call may carry."""
    imported = 0
    for batch in batches(findings):
        try:
            answer = securityhub.batch_import_findings(Findings=batch)
        except (ClientError, BotoCoreError) as exc:
            logger.warning("security hub batch refused", findings=len(batch), error_code=error_code(exc))
            result.fail("securityhub:BatchImportFindings", exc, resource=f"{len(batch)} findings from {batch[0]['Id']}")
            continue
        imported += int(answer.get("SuccessCount", 0))
        for failed in answer.get("FailedFindings", []):
            logger.warning(
                "security hub refused a finding", finding=failed.get("Id"), error_code=failed.get("ErrorCode")
            )
            result.fail(
                "securityhub:BatchImportFindings",
                str(failed.get("ErrorMessage") or "refused"),
                resource=failed.get("Id"),
                code=str(failed.get("ErrorCode") or "FailedFinding"),
            )
        result.count("securityhub_imported", int(answer.get("SuccessCount", 0)))
    return imported
