"""What AWS answers on delete, and how each answer is recorded: already gone, in use, replicated by Lambda@Edge,
throttled past retries, refused; reads that fail; the time budget."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from functions.lambda_housekeeping.task import TASK
from shared.aws import Clients
from shared.errors import RunFailed
from shared.runner import execute
from tests.faults import ErrorOn, _events, answer, instant_retries
from tests.functional.lambda_housekeeping import estate
from tests.functional.lambda_housekeeping.conftest import Seeded
from tests.helpers import FakeContext

REPLICATED = (
    "Lambda was unable to delete arn:aws:lambda:us-east-1:123456789012:function:site-edge:{v} because it is a "
    "replicated function. Please see our documentation for Deleting Lambda@Edge Functions and Replicas."
)


@pytest.fixture(autouse=True)
def _no_sleep() -> Iterator[None]:
    with instant_retries():
        yield


class AnswerOn:
    """Answer every HTTP attempt (retries included) of the calls ``when`` picks with an AWS error; count them."""

    def __init__(self, when: Callable[[str, str], bool], status: int, code: str, message: Callable[[str], str]):
        self.when, self.status, self.code, self.message = when, status, code, message
        self.attempts: list[str] = []
        self._lock = threading.Lock()

    def attach(self, target: Any) -> AnswerOn:
        _events(target).register_first("before-send.lambda", self._before_send)
        return self

    def _before_send(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        if not self.when(operation, request.url):
            return None
        with self._lock:
            self.attempts.append(request.url)
        qualifier = request.url.rsplit("Qualifier=", 1)[-1]
        return answer(request, "json", self.status, self.code, self.message(qualifier))


def run(clients: Clients, **extra: Any) -> dict[str, Any]:
    """One run, its report written to the reports bucket (made here when a test has not seeded it)."""
    buckets = estate.session().client("s3").list_buckets()["Buckets"]
    if estate.BUCKET not in {b["Name"] for b in buckets}:
        estate.reports_bucket()
    return execute(TASK, {"report_bucket": estate.BUCKET} | extra, FakeContext(), clients=clients)


def delete_of(function: str, version: int | None = None) -> Callable[[str, dict[str, Any]], bool]:
    def when(op: str, params: dict[str, Any]) -> bool:
        return (
            op == "DeleteFunction"
            and params["FunctionName"].endswith(f":function:{function}")
            and (version is None or params["Qualifier"] == str(version))
        )

    return when


def test_not_found_on_delete_counts_as_done(seeded: Seeded) -> None:
    clients = Clients(estate.session())
    gone = ErrorOn(delete_of("api", 1), "ResourceNotFoundException", status=404).attach(clients.session)
    report = run(clients)
    assert len(gone.hits) == 1
    assert report["status"] == "succeeded"
    [one] = [a for a in estate.actions(report) if a["resource"].endswith(":function:api:1")]
    assert (one["status"], one["detail"]["note"]) == ("done", "already gone")
    assert report["units"][0]["counts"]["deleted"] == 52


def test_a_version_aws_finds_in_use_is_skipped_and_recorded_not_failed(seeded: Seeded) -> None:
    clients = Clients(estate.session())
    message = "Unable to delete version because the following aliases reference it: [rollback]"
    conflict = ErrorOn(delete_of("api", 3), "ResourceConflictException", status=409)
    conflict.message = message  # type: ignore[attr-defined]
    conflict.attach(clients.session)
    report = run(clients)
    assert report["status"] == "succeeded"
    assert 3 in estate.versions(seeded.lam, "api")
    [three] = [a for a in estate.actions(report) if a["resource"].endswith(":function:api:3")]
    assert three["status"] == "skipped"
    assert three["detail"]["error_code"] == "ResourceConflictException"
    assert "in use or busy, left as it is" in three["reason"]
    assert report["units"][0]["counts"]["skipped"] == 1
    assert report["units"][0]["failures"] == []


def test_a_lambda_edge_replica_refused_by_aws_is_recorded_once_per_version_never_failed_or_retried(aws: None) -> None:
    lam = estate.lam("us-east-1")
    estate.function(lam, "site-edge", 8)
    estate.function(lam, "site-api", 8)
    clients = Clients(estate.session("us-east-1"))
    refused = AnswerOn(
        lambda op, url: op == "DeleteFunction" and "site-edge" in url,
        400,
        "InvalidParameterValueException",
        lambda q: REPLICATED.format(v=q),
    ).attach(clients.session)
    report = run(clients, regions=["us-east-1"])
    assert report["status"] == "succeeded"
    assert sorted(u.rsplit("=", 1)[-1] for u in refused.attempts) == ["1", "2", "3", "4", "5"]  # one attempt each
    assert estate.versions(lam, "site-edge") == list(range(1, 9))
    assert estate.versions(lam, "site-api") == [6, 7, 8]
    unit = report["units"][0]
    assert (unit["counts"]["refused"], unit["counts"]["deleted"], unit["failures"]) == (5, 5, [])
    edge = [a for a in estate.actions(report) if a["action"] == "delete" and "site-edge" in a["resource"]]
    assert {a["status"] for a in edge} == {"skipped"}
    assert all("a Lambda@Edge replica exists" in a["reason"] for a in edge)


def test_another_invalid_parameter_answer_fails_the_deletion(aws: None) -> None:
    lam = estate.lam()
    estate.function(lam, "api", 5)
    clients = Clients(estate.session())
    AnswerOn(
        lambda op, url: op == "DeleteFunction" and url.endswith("Qualifier=1"),
        400,
        "InvalidParameterValueException",
        lambda q: "Invalid qualifier",
    ).attach(clients.session)
    with pytest.raises(RunFailed) as caught:
        run(clients, layers={"enabled": False})
    failures = caught.value.report["units"][0]["failures"]
    assert [(f["operation"], f["error_code"]) for f in failures] == [("delete", "InvalidParameterValueException")]
    assert estate.versions(lam, "api") == [1, 3, 4, 5]


def test_throttling_that_outlives_retries_defers_the_deletion_to_the_next_run(aws: None) -> None:
    lam = estate.lam()
    estate.function(lam, "api", 6)
    clients = Clients(estate.session())
    throttled = AnswerOn(
        lambda op, url: op == "DeleteFunction" and url.endswith("Qualifier=2"),
        429,
        "TooManyRequestsException",
        lambda q: "Rate exceeded",
    ).attach(clients.session)
    report = run(clients, layers={"enabled": False})
    assert len(throttled.attempts) == 8  # botocore's standard retry mode, as configured in shared/aws.py
    assert report["status"] == "incomplete"
    unit = report["units"][0]
    assert (unit["counts"]["deferred"], unit["counts"]["deleted"], unit["failures"]) == (1, 2, [])
    assert estate.versions(lam, "api") == [2, 4, 5, 6]

    again = run(Clients(estate.session()), layers={"enabled": False})
    assert again["status"] == "succeeded"
    assert estate.versions(lam, "api") == [4, 5, 6]


def test_a_failed_deletion_is_recorded_the_rest_go_on_and_the_run_fails_at_the_end(seeded: Seeded) -> None:
    clients = Clients(estate.session())
    ErrorOn(delete_of("worker", 2), "AccessDeniedException", status=403).attach(clients.session)
    with pytest.raises(RunFailed) as caught:
        run(clients)
    report = caught.value.report
    assert report["status"] == "failed"
    failures = report["units"][0]["failures"]
    assert [(f["operation"], f["error_code"]) for f in failures] == [("delete", "AccessDeniedException")]
    assert failures[0]["resource"].endswith(":function:worker:2")
    assert estate.versions(seeded.lam, "worker") == [2, *Seeded.WORKER_KEPT]
    assert estate.versions(seeded.lam, "api") == list(Seeded.API_KEPT)
    assert estate.report_from_s3(report["location"])["status"] == "failed"


def test_a_function_whose_aliases_cannot_be_read_keeps_every_version_and_fails_the_run(seeded: Seeded) -> None:
    clients = Clients(estate.session())
    ErrorOn(lambda op, p: op == "ListAliases" and p["FunctionName"] == "api", "AccessDeniedException").attach(
        clients.session
    )
    with pytest.raises(RunFailed) as caught:
        run(clients)
    report = caught.value.report
    assert [f["operation"] for f in report["units"][0]["failures"]] == ["read-usage"]
    assert estate.versions(seeded.lam, "api") == list(range(1, 31))
    assert estate.versions(seeded.lam, "worker") == list(Seeded.WORKER_KEPT)
    reasons = estate.reasons(report)
    assert reasons["api:1"].endswith("but its aliases and provisioned concurrency were not read")


def test_a_layer_version_whose_policy_cannot_be_read_is_kept_and_the_run_fails(seeded: Seeded) -> None:
    clients = Clients(estate.session())
    ErrorOn(lambda op, p: op == "GetLayerVersionPolicy" and p["VersionNumber"] == 2, "ServiceException").attach(
        clients.session
    )
    with pytest.raises(RunFailed) as caught:
        run(clients)
    report = caught.value.report
    assert [f["operation"] for f in report["units"][0]["failures"]] == ["read-layer-version", "read-layer-version"]
    assert 2 in estate.layer_versions(seeded.lam, "deps")
    assert 2 in estate.layer_versions(seeded.lam, "shared")
    assert estate.reasons(report)["deps:2"] == "not used by any function here, but its sharing was not read"


def test_code_storage_that_cannot_be_read_is_a_failure_but_the_pruning_goes_on(seeded: Seeded) -> None:
    clients = Clients(estate.session())
    ErrorOn(lambda op, p: op == "GetAccountSettings", "AccessDeniedException").attach(clients.session)
    with pytest.raises(RunFailed) as caught:
        run(clients)
    report = caught.value.report
    assert [f["operation"] for f in report["units"][0]["failures"]] == ["read-account-settings"]
    assert report["units"][0]["counts"]["deleted"] == 52
    [measure] = [a for a in estate.actions(report) if a["action"] == "measure"]
    assert measure["detail"]["used_bytes"] is None
    assert "Lambda code storage unknown of unknown" in measure["reason"]


class ShrinkingContext(FakeContext):
    """A Lambda context whose remaining time drops by ``step_ms`` with every DeleteFunction call made."""

    def __init__(self, calls: list[str], start_ms: int, step_ms: int) -> None:
        super().__init__(remaining_ms=start_ms)
        self.calls, self.start_ms, self.step_ms = calls, start_ms, step_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.start_ms - self.step_ms * self.calls.count("DeleteFunction")


def test_a_run_out_of_time_stops_cleanly_and_a_later_run_finishes_the_job(aws: None) -> None:
    lam = estate.lam()
    estate.function(lam, "api", 12)
    clients, log = estate.counted_clients()
    calls: list[str] = []
    log.calls = _Recorder(calls)  # type: ignore[assignment]
    # 60 s left, 30 s margin, each delete "takes" 10 s: deletions stop being started after the fourth.
    first = execute(
        TASK, {"max_workers": 1, "layers": {"enabled": False}}, ShrinkingContext(calls, 60_000, 10_000), clients=clients
    )
    assert first["status"] == "incomplete"
    counts = first["units"][0]["counts"]
    assert (counts["deleted"], counts["deferred"]) == (4, 5)
    assert len(estate.versions(lam, "api")) == 8
    later = execute(TASK, {"layers": {"enabled": False}}, FakeContext(), clients=Clients(estate.session()))
    assert later["status"] == "succeeded"
    assert estate.versions(lam, "api") == [10, 11, 12]


class _Recorder(list):  # type: ignore[type-arg]
    """Keeps CallLog's (service, operation, params) entries and exposes the operations to the context."""

    def __init__(self, ops: list[str]) -> None:
        super().__init__()
        self.ops = ops

    def append(self, item: Any) -> None:
        super().append(item)
        self.ops.append(item[1])
