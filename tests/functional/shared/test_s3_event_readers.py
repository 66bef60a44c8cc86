"""Every S3 event reader (log ETL, artefact mover, upload logger) names the record it cannot read, and never
crashes on records that are not objects: ``{"Records": ["x"]}``, ``{"Records": [null]}``, ``[null]``."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from functions.artefact_mover.handler import handler as mover
from functions.log_etl.handler import handler as log_etl
from functions.s3_upload_logger.handler import handler as upload_logger
from shared.errors import InputError, RunFailed
from tests.helpers import REGION, FakeContext

RECORDS = [({"Records": ["x"]}, "str"), ({"Records": [None]}, "NoneType")]


@pytest.fixture
def configured(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in ("etl-lake", "etl-logs", "art-bkt"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    monkeypatch.setenv("DEVOPS_TASKS_LAKE_BUCKET", "etl-lake")
    monkeypatch.setenv("DEVOPS_TASKS_SOURCE_BUCKET", "etl-logs")
    monkeypatch.setenv("DEVOPS_TASKS_BUCKET", "art-bkt")


@pytest.mark.usefixtures("configured")
@pytest.mark.parametrize(("event", "kind"), RECORDS, ids=["string", "null"])
def test_the_log_etl_refuses_a_record_that_is_not_an_object(event: dict[str, Any], kind: str) -> None:
    with pytest.raises(InputError, match=f"S3 event record 0 is not a JSON object \\(got {kind}\\)"):
        log_etl(event, FakeContext())


@pytest.mark.usefixtures("configured")
@pytest.mark.parametrize(("event", "kind"), RECORDS, ids=["string", "null"])
def test_the_artefact_mover_refuses_a_record_that_is_not_an_object(event: dict[str, Any], kind: str) -> None:
    with pytest.raises(RunFailed) as failed:
        mover(event, FakeContext())
    (run,) = failed.value.report["runs"]
    assert run == {
        "marker": "record 0",
        "status": "refused",
        "error": f"S3 event record 0 is not a JSON object (got {kind})",
    }


@pytest.mark.parametrize(("event", "kind"), RECORDS, ids=["string", "null"])
def test_the_upload_logger_rejects_a_record_that_is_not_an_object(event: dict[str, Any], kind: str) -> None:
    assert upload_logger(event, FakeContext())["rejected"] == 1


@pytest.mark.usefixtures("configured")
@pytest.mark.parametrize("handler", [log_etl, mover, upload_logger], ids=["log_etl", "mover", "logger"])
def test_an_event_that_is_a_list_is_refused_as_input(handler: Any) -> None:
    with pytest.raises(InputError):
        handler([None], FakeContext())
