"""retain (archive or delete old builds) and the event triggers: S3 marker notifications, through SQS."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from freezegun import freeze_time

from functions.artefact_mover.handler import handler
from functions.artefact_mover.task import TASK
from shared import aws as shared_aws
from shared.aws import Clients
from shared.clock import utcnow
from shared.errors import RunFailed
from shared.runner import execute
from tests.faults import CallLog
from tests.functional.artefact_mover.conftest import Estate
from tests.helpers import REGION, FakeContext, load_event

LATER = utcnow() + timedelta(days=3)
ENV = {"DEVOPS_TASKS_OPERATION": "move", "DEVOPS_TASKS_BUCKET": "art-bkt", "DEVOPS_TASKS_RELEASE_BUCKET": "rel-bkt"}


def retain(payload: dict[str, Any]) -> dict[str, Any]:
    session = boto3.Session(region_name=REGION)
    return execute(TASK, payload, FakeContext(), clients=Clients(session), env={}, clock=lambda: LATER)


def seed_builds(estate: Estate) -> None:
    estate.bucket("ci-bkt")
    for project in ("web", "api"):
        for n in range(1, 5):
            estate.s3.put_object(Bucket="ci-bkt", Key=f"ci/{project}/main/{n}/app.zip", Body=b"a" * n)
            estate.s3.put_object(Bucket="ci-bkt", Key=f"ci/{project}/main/{n}/app.sha", Body=b"s")
    estate.s3.put_object(Bucket="ci-bkt", Key="ci/web/feature-x/1/app.zip", Body=b"f")
    estate.s3.put_object(Bucket="ci-bkt", Key="ci/README", Body=b"not a build")


LAYOUT = {"builds": "ci/{project}/{branch}/{build}/", "archive": "old/{project}/{branch}/{build}/"}


def test_retain_archives_all_but_the_newest_builds_of_each_branch(estate: Estate) -> None:
    seed_builds(estate)
    estate.bucket("archive-bkt")

    report = retain(
        {
            "operation": "retain",
            "bucket": "ci-bkt",
            "archive_bucket": "archive-bkt",
            "layout": LAYOUT,
            "retention": {"keep_last": 2},
            "archive_storage_class": "GLACIER_IR",
        }
    )

    assert report["status"] == "succeeded"
    kept = {k.rsplit("/", 1)[0] for k in estate.keys("ci-bkt", "ci/") if k != "ci/README"}
    assert kept == {"ci/web/main/3", "ci/web/main/4", "ci/api/main/3", "ci/api/main/4", "ci/web/feature-x/1"}
    assert "ci/README" in estate.keys("ci-bkt")
    archived = estate.keys("archive-bkt")
    assert {k.rsplit("/", 1)[0] for k in archived} == {f"old/{p}/main/{n}" for p in ("web", "api") for n in (1, 2)}
    assert estate.body("archive-bkt", "old/web/main/2/app.zip") == b"aa"
    head = estate.s3.head_object(Bucket="archive-bkt", Key="old/api/main/1/app.zip")
    assert head["StorageClass"] == "GLACIER_IR"
    counts = report["units"][0]["counts"]
    assert (counts["builds_kept"], counts["builds_archived"]) == (5, 4)
    assert retain(
        {
            "operation": "retain",
            "bucket": "ci-bkt",
            "archive_bucket": "archive-bkt",
            "layout": LAYOUT,
            "retention": {"keep_last": 2},
        }
    )["units"][0]["counts"] == {"builds_kept": 5}


def test_retain_can_delete_and_never_touches_young_builds(estate: Estate) -> None:
    seed_builds(estate)
    young = {
        "operation": "retain",
        "bucket": "ci-bkt",
        "layout": LAYOUT,
        "retention": {"keep_last": 1, "action": "delete", "min_age_hours": 24 * 7},
    }
    assert retain(young)["units"][0]["counts"] == {"builds_kept": 9}

    report = retain(young | {"retention": {"keep_last": 1, "action": "delete", "min_age_hours": 1}})

    assert report["units"][0]["counts"]["builds_deleted"] == 6
    assert {k.rsplit("/", 1)[0] for k in estate.keys("ci-bkt", "ci/") if k != "ci/README"} == {
        "ci/web/main/4",
        "ci/api/main/4",
        "ci/web/feature-x/1",
    }


def test_retain_dry_run_plans_only(estate: Estate) -> None:
    seed_builds(estate)
    before = estate.keys("ci-bkt")
    report = retain(
        {"operation": "retain", "bucket": "ci-bkt", "layout": LAYOUT, "dry_run": True, "retention": {"keep_last": 3}}
    )
    assert report["units"][0]["counts"] == {"builds_kept": 7, "archive_planned": 2}
    assert estate.keys("ci-bkt") == before


def _sqs_event(estate: Estate, bucket: str, build_keys: list[str], marker: bytes = b"") -> dict[str, Any]:
    """Upload objects to a bucket that notifies an SQS queue (as S3 does), and wrap the messages as Lambda would."""
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="markers")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    estate.s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": "_BUILD_COMPLETE"}]}},
                }
            ]
        },
    )
    for key in build_keys:
        estate.s3.put_object(Bucket=bucket, Key=key, Body=marker)
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    template = load_event("artefact_mover/sqs_s3_marker.json")["Records"][0]
    return {"Records": [template | {"messageId": m["MessageId"], "body": m["Body"]} for m in messages]}


def test_a_marker_upload_through_sqs_moves_its_build(estate: Estate, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    estate.bucket("art-bkt")
    estate.bucket("rel-bkt")
    files = estate.build("art-bkt", "builds/my app/77/")
    event = _sqs_event(estate, "art-bkt", ["builds/my app/77/_BUILD_COMPLETE"], b'{"version": "2.0.0"}')

    result = handler(event, FakeContext())

    assert result == {"batchItemFailures": []}
    assert estate.keys("art-bkt") == set()
    released = estate.keys("rel-bkt")
    assert {k.replace("releases/my app/2.0.0/", "builds/my app/77/") for k in released} == set(files) | {
        "builds/my app/77/_BUILD_COMPLETE",
        "builds/my app/77/release-manifest.json",
    }


def test_each_failed_marker_fails_only_its_message(estate: Estate, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    estate.bucket("art-bkt")
    estate.bucket("rel-bkt")
    estate.build("art-bkt", "builds/web/1/")
    estate.build("art-bkt", "builds/web/2/")
    estate.s3.put_object(Bucket="rel-bkt", Key="releases/web/2/app.zip", Body=b"an older release")
    event = _sqs_event(estate, "art-bkt", ["builds/web/1/_BUILD_COMPLETE", "builds/web/2/_BUILD_COMPLETE"])
    records = {r["messageId"]: json.loads(r["body"]).get("Records", [{}])[0] for r in event["Records"]}
    keys = {m: unquote_plus(rec.get("s3", {}).get("object", {}).get("key", "")) for m, rec in records.items()}
    conflicting = {m for m, key in keys.items() if key.startswith("builds/web/2/")}
    event["Records"].append(event["Records"][0] | {"messageId": "not-an-s3-event", "body": "{}"})

    result = handler(event, FakeContext())

    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    assert failed == conflicting | {"not-an-s3-event"}
    assert len(conflicting) == 1
    assert estate.keys("art-bkt", "builds/web/1/") == set()


def test_a_direct_s3_notification_with_an_encoded_key_runs_and_fails_loudly(
    estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    estate.bucket("art-bkt")
    estate.bucket("rel-bkt")
    estate.build("art-bkt", "builds/web app/3+1/")
    event = load_event("artefact_mover/s3_marker_created.json")

    result = handler(event, FakeContext())

    (run,) = result["runs"]
    assert run["status"] == "succeeded"
    assert estate.keys("rel-bkt", "releases/web app/3+1/")
    event["Records"][0]["s3"]["object"]["key"] = "builds/web+app/missing/_BUILD_COMPLETE"
    with pytest.raises(RunFailed):
        handler(event, FakeContext())


def test_a_marker_run_out_of_time_fails_its_message_so_sqs_delivers_it_again(
    estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    estate.bucket("art-bkt")
    estate.bucket("rel-bkt")
    files = estate.build("art-bkt", "builds/web/5/")
    event = _sqs_event(estate, "art-bkt", ["builds/web/5/_BUILD_COMPLETE"])
    (message,) = [r["messageId"] for r in event["Records"] if "_BUILD_COMPLETE" in r["body"]]

    result = handler(event, FakeContext(remaining_ms=1_000))  # less than the time margin: nothing starts

    assert result == {"batchItemFailures": [{"itemIdentifier": message}]}
    assert estate.keys("art-bkt", "builds/web/5/") == set(files) | {"builds/web/5/_BUILD_COMPLETE"}
    assert handler(event, FakeContext()) == {"batchItemFailures": []}
    assert estate.keys("art-bkt") == set()
    released = estate.keys("rel-bkt", "releases/web/5/")
    assert {"releases/web/5/app.zip", "releases/web/5/release-manifest.json"} <= released


def test_a_build_whose_sources_are_not_all_deleted_is_not_reported_archived(estate: Estate) -> None:
    """DeleteObjects answers 200 with an error for one key: the build stays, reported not archived, the run fails."""
    seed_builds(estate)
    session = boto3.Session(region_name=REGION)

    batches: list[list[str]] = []

    def seen(params: dict[str, Any], **_: Any) -> None:
        batches.append([o["Key"] for o in params["Delete"]["Objects"]])

    def partly_denied(**_: Any) -> Any:
        key = batches[-1][0]
        ok = AWSResponse("", 200, {}, None)  # type: ignore[arg-type]
        return ok, {"Errors": [{"Key": key, "Code": "AccessDenied", "Message": "denied"}], "Deleted": []}

    session.events.register("before-parameter-build.s3.DeleteObjects", seen)
    session.events.register_first("before-call.s3.DeleteObjects", partly_denied)
    payload = {"operation": "retain", "bucket": "ci-bkt", "layout": LAYOUT, "retention": {"keep_last": 3}}

    with pytest.raises(RunFailed) as failed:
        execute(TASK, payload, FakeContext(), clients=Clients(session), env={}, clock=lambda: LATER)

    (unit,) = failed.value.report["units"]
    assert "builds_archived" not in unit["counts"]
    assert unit["counts"]["builds_not_archived"] == 2
    archived = [a for a in unit["actions"] if a["action"] == "archive"]
    assert {a["status"] for a in archived} == {"failed"}
    assert {"ci/web/main/1/app.zip", "ci/api/main/1/app.zip"} <= estate.keys("ci-bkt", "ci/")


def _marker(key: str, bucket: str = "art-bkt") -> dict[str, Any]:
    """The record of a marker's upload, as S3 notifies it (key URL-encoded)."""
    template = load_event("artefact_mover/s3_marker_created.json")["Records"][0]
    s3 = template["s3"] | {"bucket": {"name": bucket}, "object": {"key": quote_plus(key, safe="/"), "size": 0}}
    return template | {"s3": s3}


def _notification(*records: Any) -> dict[str, Any]:
    return {"Records": list(records)}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> CallLog:
    """Every AWS call the handler makes, through the sessions it creates."""
    log = CallLog()
    real = shared_aws.new_session

    def logged(*args: Any, **kwargs: Any) -> boto3.Session:
        session = real(*args, **kwargs)
        log.attach(session)
        return session

    monkeypatch.setattr(shared_aws, "new_session", logged)
    return log


def test_a_marker_in_a_bucket_other_than_the_configured_one_is_refused_before_any_call(
    estate: Estate, monkeypatch: pytest.MonkeyPatch, calls: CallLog
) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    estate.bucket("other-bkt")
    estate.bucket("rel-bkt")
    files = estate.build("other-bkt", "builds/web/1/")

    with pytest.raises(RunFailed) as failed:
        handler(_notification(_marker("builds/web/1/_BUILD_COMPLETE", "other-bkt")), FakeContext())

    (run,) = failed.value.report["runs"]
    assert run["status"] == "refused"
    assert "other-bkt is not the configured builds bucket art-bkt" in run["error"]
    assert calls.calls == []
    assert estate.keys("other-bkt") == set(files)
    assert estate.keys("rel-bkt") == set()


def test_each_marker_of_a_direct_notification_runs_on_its_own(estate: Estate, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    estate.bucket("art-bkt")
    estate.bucket("rel-bkt")
    estate.build("art-bkt", "builds/web/2/")
    event = _notification(
        _marker("builds/web/1/deep/_BUILD_COMPLETE"), None, "x", _marker("builds/web/2/_BUILD_COMPLETE")
    )

    with pytest.raises(RunFailed) as failed:
        handler(event, FakeContext())

    runs = failed.value.report["runs"]
    assert [r["status"] for r in runs] == ["refused", "refused", "refused", "succeeded"]
    assert "not at the root of its build" in runs[0]["error"]
    assert runs[1]["error"] == "S3 event record 1 is not a JSON object (got NoneType)"
    assert runs[2]["error"] == "S3 event record 2 is not a JSON object (got str)"
    assert estate.keys("art-bkt", "builds/web/2/") == set()
    assert estate.keys("rel-bkt", "releases/web/2/")


@pytest.mark.parametrize(
    "declared",
    [
        {"file_count": 5},
        {"files": ["app.zip", "lib/core.jar", "docs/read me+notes.txt", "empty.txt", "late.bin"]},
    ],
    ids=["count", "list"],
)
def test_a_build_still_uploading_is_deferred_until_it_is_all_there(
    estate: Estate, monkeypatch: pytest.MonkeyPatch, declared: dict[str, Any]
) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    estate.bucket("art-bkt")
    estate.bucket("rel-bkt")
    files = estate.build("art-bkt", "builds/web/5/")
    event = _sqs_event(estate, "art-bkt", ["builds/web/5/_BUILD_COMPLETE"], json.dumps(declared).encode())
    (message,) = [r["messageId"] for r in event["Records"] if "_BUILD_COMPLETE" in r["body"]]

    result = handler(event, FakeContext())

    assert result == {"batchItemFailures": [{"itemIdentifier": message}]}
    assert estate.keys("rel-bkt") == set()
    assert estate.keys("art-bkt") == set(files) | {"builds/web/5/_BUILD_COMPLETE"}
    estate.s3.put_object(Bucket="art-bkt", Key="builds/web/5/late.bin", Body=b"the last file")
    assert handler(event, FakeContext()) == {"batchItemFailures": []}
    assert "releases/web/5/late.bin" in estate.keys("rel-bkt")
    assert estate.keys("art-bkt") == set()


def test_a_deferred_build_says_why(estate: Estate, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    estate.bucket("art-bkt")
    estate.bucket("rel-bkt")
    estate.build("art-bkt", "builds/web/6/", marker="_BUILD_COMPLETE")
    estate.s3.put_object(Bucket="art-bkt", Key="builds/web/6/_BUILD_COMPLETE", Body=b'{"file_count": 9}')

    with pytest.raises(RunFailed) as failed:
        handler(_notification(_marker("builds/web/6/_BUILD_COMPLETE")), FakeContext())

    (run,) = failed.value.report["runs"]
    assert run["status"] == "incomplete"
    (deferred,) = [a for u in run["units"] for a in u["actions"] if a["action"] == "transfer"]
    assert deferred["status"] == "skipped"
    assert deferred["reason"] == "the marker declares 9 files and 4 are there: still uploading; deferred"
    assert estate.keys("rel-bkt") == set()


@pytest.mark.parametrize(
    ("body", "field"),
    [(b'{"file_count": "many"}', "file_count"), (b'{"files": "app.zip"}', "files"), (b'{"version": 3}', "version")],
)
def test_a_marker_that_declares_nonsense_is_refused_naming_the_field(
    estate: Estate, monkeypatch: pytest.MonkeyPatch, body: bytes, field: str
) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    estate.bucket("art-bkt")
    estate.bucket("rel-bkt")
    files = estate.build("art-bkt", "builds/web/7/")
    estate.s3.put_object(Bucket="art-bkt", Key="builds/web/7/_BUILD_COMPLETE", Body=body)

    with pytest.raises(RunFailed) as failed:
        handler(_notification(_marker("builds/web/7/_BUILD_COMPLETE")), FakeContext())

    (run,) = failed.value.report["runs"]
    (failure,) = [f for u in run["units"] for f in u["failures"]]
    assert field in failure["message"]
    assert estate.keys("art-bkt", "builds/web/7/") == set(files) | {"builds/web/7/_BUILD_COMPLETE"}
    assert estate.keys("rel-bkt") == set()


def test_an_eventbridge_object_created_event_for_a_marker_moves_its_build(
    estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    estate.bucket("art-bkt")
    estate.bucket("rel-bkt")
    files = estate.build("art-bkt", "builds/web/8/", marker="_BUILD_COMPLETE")
    event = load_event("s3_upload_logger/eventbridge_object_created.json")
    event["detail"]["bucket"]["name"] = "art-bkt"
    event["detail"]["object"]["key"] = "builds/web/8/_BUILD_COMPLETE"

    (run,) = handler(event, FakeContext())["runs"]

    assert run["status"] == "succeeded"
    assert estate.keys("art-bkt") == set()
    assert len(estate.keys("rel-bkt", "releases/web/1.4.0/")) == len(files) + 1  # and the manifest


def test_markers_of_one_batch_in_the_same_second_each_keep_their_own_report(
    estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One invocation runs a task per marker: each run has its own id, so neither report overwrites the other."""
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("DEVOPS_TASKS_REPORT_BUCKET", "reports-bkt")
    for name in ("art-bkt", "rel-bkt", "reports-bkt"):
        estate.bucket(name)
    estate.build("art-bkt", "builds/web/1/")
    estate.build("art-bkt", "builds/web/2/")
    event = _sqs_event(estate, "art-bkt", ["builds/web/1/_BUILD_COMPLETE", "builds/web/2/_BUILD_COMPLETE"])
    context = FakeContext()

    with freeze_time("2026-03-02T10:00:00Z"):
        result = handler(event, context)

    assert result == {"batchItemFailures": []}
    keys = sorted(estate.keys("reports-bkt"))
    assert len(keys) == 2, keys
    reports = [json.loads(estate.s3.get_object(Bucket="reports-bkt", Key=key)["Body"].read()) for key in keys]
    assert sorted(r["run_id"] for r in reports) == sorted([context.aws_request_id, f"{context.aws_request_id}-2"])
    assert all(r["status"] == "succeeded" for r in reports)
    assert {r["run_id"] for r in reports} == {key.rsplit("Z-", 1)[1].removesuffix(".json") for key in keys}
