"""The Lambda housekeeping handler under in-process moto: what is deleted and kept, the report, dry run, re-runs,
scope, event shapes and bad input."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from botocore.client import BaseClient

from cli.moto_lambda import QUOTA_BYTES
from functions.lambda_housekeeping.handler import handler
from functions.lambda_housekeeping.task import TASK
from shared.aws import Clients
from shared.errors import InputError
from shared.runner import execute
from tests.faults import is_mutating
from tests.functional.lambda_housekeeping import estate
from tests.functional.lambda_housekeeping.conftest import Seeded
from tests.helpers import FakeContext, load_event


def event(**extra: Any) -> dict[str, Any]:
    return {"report_bucket": estate.BUCKET} | extra


def run(clients: Clients | None = None, **extra: Any) -> dict[str, Any]:
    return execute(TASK, event(**extra), FakeContext(), clients=clients or Clients(estate.session()))


def deletions(report: dict[str, Any], status: str) -> list[tuple[str, str]]:
    return sorted(
        (a["resource"], a["reason"])
        for a in estate.actions(report)
        if a["action"] == "delete" and a["status"] == status
    )


def test_a_run_deletes_what_nobody_uses_and_keeps_what_is_in_use(seeded: Seeded) -> None:
    report = run()
    lam = seeded.lam
    assert report["status"] == "succeeded"
    assert estate.versions(lam, "api") == list(Seeded.API_KEPT)
    assert estate.versions(lam, "worker") == list(Seeded.WORKER_KEPT)
    assert estate.layer_versions(lam, "deps") == list(Seeded.DEPS_KEPT)
    assert estate.layer_versions(lam, "shared") == list(Seeded.SHARED_KEPT)
    counts = report["units"][0]["counts"]
    assert counts["deleted"] == (30 - 7) + (30 - 3) + 1 + 1
    assert counts.get("failed", 0) == 0

    reasons = estate.reasons(report)
    assert reasons["api:28"] == "in use: alias live"
    assert reasons["api:25"] == "in use: alias live (10% of its traffic)"
    assert reasons["api:5"] == "in use: alias old"
    assert reasons["api:7"] == f"in use: event source mapping {seeded.mappings['7']}"
    assert reasons["api:12"] == "in use: provisioned concurrency"
    assert reasons["api:$LATEST"] == "$LATEST is never deleted"
    assert reasons["api:1"] == "not one of the newest 3 and not in use"
    assert reasons["deps:1"].startswith("used by api:1, api:2, api:3 and ")
    assert reasons["shared:1"] == "shared with * (layers.include_shared is off)"
    assert reasons["deps:2"] == "not one of the newest 3 and not used by any function here"


def test_the_report_is_written_to_s3_with_code_storage_against_the_quota(seeded: Seeded) -> None:
    before = seeded.lam.get_account_settings()["AccountUsage"]["TotalCodeSize"]
    listed = sum(v["CodeSize"] for v in seeded.lam.list_functions(FunctionVersion="ALL")["Functions"])
    report = handler(event(), FakeContext())
    assert report["location"].startswith(f"s3://{estate.BUCKET}/reports/lambda-housekeeping/")
    assert estate.report_from_s3(report["location"]) | {"location": report["location"]} == report
    [measure] = [a for a in estate.actions(report) if a["action"] == "measure"]
    storage = measure["detail"]
    deleted = [a for a in estate.actions(report) if a["action"] == "delete" and a["status"] == "done"]
    assert storage["quota_bytes"] == QUOTA_BYTES
    assert storage["used_bytes"] == before
    assert storage["frees_bytes"] == storage["freed_bytes"] == sum(a["detail"]["size"] for a in deleted) > 0
    layer_sizes = {a["resource"]: a["detail"]["size"] for a in estate.actions(report, kind="layer-version")}
    assert sum(f["code_bytes"] for f in storage["functions"]) == listed
    assert storage["listed_bytes"] == listed + sum(layer_sizes.values())
    assert layer_sizes[seeded.deps[1]] > 0  # deleted: its size was read
    assert layer_sizes[seeded.deps[0]] > 0  # used by a function: its size is in the function's configuration
    after = seeded.lam.get_account_settings()["AccountUsage"]["TotalCodeSize"]
    assert after == before - storage["freed_bytes"]
    by_name = {f["name"]: f for f in storage["functions"]}
    assert by_name["api"]["versions"] == 31
    assert by_name["worker"]["frees_bytes"] == sum(
        a["detail"]["size"] for a in deleted if a["detail"]["name"] == "worker"
    )
    assert {s["name"] for s in storage["layers"]} == {"deps", "shared"}
    assert report["notes"] == [measure["reason"]]
    assert "of 75.0 GiB" in measure["reason"]
    assert "this run freed" in measure["reason"]
    assert "(50 versions, 2 layer versions)" in measure["reason"]


def test_dry_run_makes_no_mutating_call_and_returns_the_exact_plan(seeded: Seeded) -> None:
    clients, log = estate.counted_clients()
    planned = run(clients, dry_run=True)
    # the report only: written before any work (proving the bucket) and at the end
    assert [op for _, op, _ in log.calls if is_mutating(op)] == ["PutObject", "PutObject"]
    assert estate.versions(seeded.lam, "api") == list(range(1, 31))
    assert planned["dry_run"] is True
    assert planned["units"][0]["counts"]["delete_planned"] == 52
    assert "the plan frees" in planned["notes"][0]

    done = run()
    assert deletions(planned, "planned") == deletions(done, "done")
    assert len(deletions(done, "done")) == 52


def test_a_second_run_deletes_nothing(seeded: Seeded) -> None:
    run()
    clients, log = estate.counted_clients()
    again = run(clients)
    assert again["status"] == "succeeded"
    assert "deleted" not in again["units"][0]["counts"]
    assert not [op for _, op, _ in log.calls if op.startswith("Delete")]


def test_lambda_edge_functions_named_in_the_configuration_are_never_touched(seeded: Seeded) -> None:
    lam = estate.lam("us-east-1")
    estate.function(lam, "site-edge", 10)
    estate.function(lam, "site-api", 10)
    clients, log = estate.counted_clients("us-east-1")
    report = run(clients, regions=["us-east-1"], functions={"edge": ["*-edge"]})
    assert estate.versions(lam, "site-edge") == list(range(1, 11))
    assert estate.versions(lam, "site-api") == [8, 9, 10]
    targets = [p["FunctionName"] for _, op, p in log.calls if op == "DeleteFunction"]
    assert targets
    assert not [t for t in targets if t.endswith("site-edge")]
    edge = [a for a in estate.actions(report) if a["detail"].get("name") == "site-edge"]
    assert {a["reason"] for a in edge if a["detail"]["version"] in {"1", "2"}} == {
        "Lambda@Edge function (functions.edge): never deleted"
    }


def test_functions_and_layers_are_selected_by_name_and_tag(seeded: Seeded) -> None:
    clients, log = estate.counted_clients()
    report = run(clients, functions={"tags": {"team": ["data"]}}, layers={"names": ["dep*"]})
    assert estate.versions(seeded.lam, "api") == list(range(1, 31))
    assert estate.versions(seeded.lam, "worker") == list(Seeded.WORKER_KEPT)
    assert estate.layer_versions(seeded.lam, "shared") == [1, 2, 3, 4, 5]
    skips = {a["detail"]["name"]: a["reason"] for a in estate.actions(report) if a["action"] == "skip"}
    assert skips == {"api": "tags do not match", "shared": "not selected by layers.names / layers.exclude"}
    assert sorted(p["Resource"].rsplit(":", 1)[-1] for _, op, p in log.calls if op == "ListTags") == ["api", "worker"]

    excluded = run(functions={"exclude": ["api"]}, layers={"enabled": False})
    assert estate.versions(seeded.lam, "api") == list(range(1, 31))
    assert not [a for a in estate.actions(excluded) if a["detail"].get("kind") == "layer-version"]


def test_max_age_deletes_old_versions_among_the_newest_but_never_the_newest_one(aws: None) -> None:
    lam = estate.lam()
    estate.function(lam, "api", 5)
    now = estate.now()
    for version, days in ((1, 90), (2, 80), (3, 70), (4, 40), (5, 35)):
        estate.age("api", version, now - timedelta(days=days))
    report = execute(
        TASK, {"versions": {"keep_last": 3, "max_age_days": 60}, "layers": {"enabled": False}}, FakeContext()
    )
    assert estate.versions(lam, "api") == [4, 5]
    reasons = {a["detail"].get("version"): a["reason"] for a in estate.actions(report, kind="version")}
    assert reasons["3"] == "older than 60 days and not in use"
    again = execute(
        TASK, {"versions": {"keep_last": 3, "max_age_days": 30}, "layers": {"enabled": False}}, FakeContext()
    )
    assert estate.versions(lam, "api") == [5]
    assert {a["reason"] for a in estate.actions(again, kind="version") if a["detail"]["version"] == "5"} == {
        "newest published version (older than 30 days)"
    }


def test_include_shared_prunes_shared_layer_versions_too(seeded: Seeded) -> None:
    report = run(layers={"include_shared": True})
    assert estate.layer_versions(seeded.lam, "shared") == [3, 4, 5]
    shared = [a for a in estate.actions(report) if a["resource"].endswith(":layer:shared:1")]
    assert shared[0]["reason"].endswith("; shared with *")


def test_every_unit_reports_its_own_storage(seeded: Seeded) -> None:
    estate.function(estate.lam("us-east-1"), "cron", 6)
    report = run(regions=["eu-west-1", "us-east-1"])
    assert [u["region"] for u in report["units"]] == ["eu-west-1", "us-east-1"]
    assert report["units"][1]["counts"]["deleted"] == 3
    assert sorted(n.split(":")[0] for n in report["notes"]) == [
        f"{estate.ACCOUNT}/eu-west-1",
        f"{estate.ACCOUNT}/us-east-1",
    ]


def test_a_raw_scheduled_event_runs_with_the_configuration_from_the_environment(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVOPS_TASKS_REPORT_BUCKET", estate.BUCKET)
    monkeypatch.setenv("DEVOPS_TASKS_VERSIONS", json.dumps({"keep_last": 10}))
    report = handler(load_event("eventbridge_scheduled.json"), FakeContext())
    assert estate.versions(seeded.lam, "worker") == list(range(21, 31))
    assert estate.report_from_s3(report["location"])["run_id"] == report["run_id"]


def test_the_schedule_constant_input_runs(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVOPS_TASKS_REPORT_BUCKET", estate.BUCKET)
    report = handler(load_event("lambda_housekeeping/schedule_input.json"), FakeContext())
    assert report["status"] == "succeeded"
    assert estate.versions(seeded.lam, "api") == list(Seeded.API_KEPT)
    assert report["units"][0]["region"] == "eu-west-1"


class CountAllCalls:
    """Counts every botocore API call in the process, whichever client makes it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        original = BaseClient._make_api_call

        def counting(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            self.calls.append(operation)
            return original(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", counting)


@pytest.mark.parametrize(
    ("payload", "env", "field"),
    [
        ({"versions": {"keep_last": 0}}, {}, "versions.keep_last"),
        ({"functions": {"names": ["api/*"]}}, {}, "functions.names"),
        ({"functions": {"edge": "site-edge"}}, {}, "functions.edge"),
        ({"layers": {"include_shared": "maybe"}}, {}, "layers.include_shared"),
        ({"regions": ["Ireland"]}, {}, "regions"),
        ({"prune": True}, {}, "prune"),
        ({}, {"DEVOPS_TASKS_VERSIONS": '{"keep_last": "all"}'}, "versions.keep_last"),
        ("not an object", {}, "JSON object"),
        (load_event("eventbridge_scheduled.json") | {"detail": {"layers": {"keep_last": 0}}}, {}, "layers.keep_last"),
    ],
)
def test_bad_events_and_bad_config_raise_input_error_naming_the_field_before_any_aws_call(
    aws: None, monkeypatch: pytest.MonkeyPatch, payload: Any, env: dict[str, str], field: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    counter = CountAllCalls(monkeypatch)
    with pytest.raises(InputError, match=field.replace(".", r"\.")):
        handler(payload, FakeContext())
    assert counter.calls == []
