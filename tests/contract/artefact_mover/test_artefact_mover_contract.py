"""serverless.yml against the artefact mover: scoped S3 grants, the marker trigger, its DLQ, the configured layout."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.artefact_mover.handler import marker_name
from functions.artefact_mover.models import ArtefactMoverInput
from shared.inputs import parse_input

pytestmark = pytest.mark.contract

FUNCTION = "ArtefactMoverLambdaFunction"
ROLE = "ArtefactMoverRole"


def statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    props = template["Resources"][role]["Properties"]
    return [s for p in props["Policies"] for s in p["PolicyDocument"]["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_object_actions_are_scoped_to_the_artefact_prefixes(template: dict[str, Any]) -> None:
    for statement in statements(template, ROLE):
        s3_actions = [a for a in as_list(statement["Action"]) if a.startswith("s3:")]
        if not s3_actions:
            continue
        assert "s3:*" not in s3_actions
        for resource in as_list(statement["Resource"]):
            assert resource != "*", statement["Sid"]
            text = json.dumps(resource)
            if statement["Sid"] == "WriteReports":
                assert "reports/artefact-mover/*" in text
            elif statement["Sid"] == "ListArtefacts":
                # listing the stack's own bucket: missing objects then read as 404, not 403
                assert statement["Action"] == "s3:ListBucket"
                assert resource["Fn::Sub"].endswith("-artefacts")
            else:
                arn = resource["Fn::Sub"]
                assert "-artefacts/" in arn
                assert arn.endswith(("/builds/*", "/releases/*", "/archive/*")), arn


def test_builds_are_never_written_only_deleted_after_verification(template: dict[str, Any]) -> None:
    by_sid = {s["Sid"]: s for s in statements(template, ROLE)}
    writes = json.dumps(by_sid["WriteReleasesAndArchive"]["Resource"])
    assert "builds/*" not in writes
    assert "builds/*" in json.dumps(by_sid["DeleteVerifiedSourcesAndBadCopies"]["Resource"])
    # versions are removed only of our own bad copies, at the destinations: a build's versions never
    assert by_sid["RemoveOwnBadCopies"]["Action"] == "s3:DeleteObjectVersion"
    assert "builds/*" not in json.dumps(by_sid["RemoveOwnBadCopies"]["Resource"])
    assert "s3:DeleteObjectVersion" not in json.dumps(by_sid["DeleteVerifiedSourcesAndBadCopies"]["Action"])


def test_marker_uploads_reach_the_function_through_a_queue_with_a_dead_letter_queue(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    bucket = resources["ArtefactsBucket"]["Properties"]
    (notification,) = bucket["NotificationConfiguration"]["QueueConfigurations"]
    rules = {r["Name"]: r["Value"] for r in notification["Filter"]["S3Key"]["Rules"]}
    env = {k: v for k, v in resources[FUNCTION]["Properties"]["Environment"]["Variables"].items() if isinstance(v, str)}
    assert rules == {"prefix": "builds/", "suffix": "/" + marker_name(env)}
    # markers are taken only from the configured builds bucket: the one that notifies
    assert resources[FUNCTION]["Properties"]["Environment"]["Variables"]["DEVOPS_TASKS_BUCKET"] == {
        "Ref": "ArtefactsBucket"
    }
    assert notification["Event"] == "s3:ObjectCreated:*"
    queue = resources["ArtefactMarkerQueue"]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert queue["VisibilityTimeout"] >= 6 * resources[FUNCTION]["Properties"]["Timeout"]
    mappings = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"]["FunctionName"] == {"Fn::GetAtt": [FUNCTION, "Arn"]}
    ]
    assert [m["FunctionResponseTypes"] for m in mappings] == [["ReportBatchItemFailures"]]
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"


def test_the_function_environment_is_a_valid_configuration(template: dict[str, Any]) -> None:
    env = template["Resources"][FUNCTION]["Properties"]["Environment"]["Variables"]
    literal = {k: v for k, v in env.items() if isinstance(v, str)} | {"DEVOPS_TASKS_BUCKET": "artefacts-bucket"}
    params = parse_input({"marker_key": "builds/web/7/_BUILD_COMPLETE"}, ArtefactMoverInput, env=literal)
    assert params.operation == "promote"
    assert params.places()[1].prefix == "releases/web/7/"
    assert params.layout.archive == "archive/{project}/{build}/"
