"""Input validation names the bad field; tags of new snapshots and DR copies stay valid and owned."""

from __future__ import annotations

from typing import Any

import pytest

from functions.snapshot_rotation.execute import MAX_TAGS, copy_tags, snapshot_tags
from functions.snapshot_rotation.models import (
    MANAGED_TAG,
    POLICY_TAG,
    SOURCE_REGION_TAG,
    SOURCE_SNAPSHOT_TAG,
    VOLUME_TAG,
    Policy,
    SnapshotRotationInput,
    VolumeView,
)
from shared.errors import InputError
from shared.inputs import parse_input
from tests.helpers import load_event
from tests.unit.snapshot_rotation.strategies import at


def parse(event: Any, env: dict[str, str] | None = None) -> SnapshotRotationInput:
    return parse_input(event, SnapshotRotationInput, env=env or {})


@pytest.mark.parametrize(
    ("event", "field", "words"),
    [
        ({"policy": {"retention": {"daily": -1}}}, "policy.retention.daily", "greater than or equal to 0"),
        ({"policy": {"retention": {"keep_last": 0}}}, "policy.retention.keep_last", "greater than or equal to 1"),
        ({"policy": {"retention": {"max_age_days": 0}}}, "policy.retention.max_age_days", "greater than"),
        ({"policy": {"retention": {"timezone": "Mars/Olympus"}}}, "policy.retention.timezone", "unknown time zone"),
        ({"policy": {"retention": {"dayly": 3}}}, "policy.retention.dayly", "Extra inputs are not permitted"),
        ({"policy": {"name": "no spaces"}}, "policy.name", "should match pattern"),
        ({"policy": {"period": "month"}}, "policy.period", "'hour', 'day' or 'week'"),
        ({"policy": {"volume_tag_key": None}}, "policy", "set volume_tag_key or instance_tag_key"),
        ({"policy": {"volume_tag_values": []}}, "policy.volume_tag_values", "at least 1 item"),
        ({"policy": {"dr": {"region": "nowhere"}}}, "policy.dr.region", "not a region botocore"),
        ({"policy": {"dr": {"region": "eu-central-1", "max_in_flight": 21}}}, "policy.dr.max_in_flight", "20"),
        ({"regions": ["eu-west-1"], "policy": {"dr": {"region": "eu-west-1"}}}, "policy.dr.region", "source region"),
        ({"regions": ["Ireland"]}, "regions.0", "not a region botocore"),
        ({"create": "sometimes"}, "create", "valid boolean"),
        ({"rotate_everything": True}, "rotate_everything", "Extra inputs are not permitted"),
    ],
)
def test_invalid_input_raises_an_input_error_naming_the_field(event: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        parse(event)
    assert any(p.startswith(field) for p in caught.value.problems), caught.value.problems
    assert words in str(caught.value)


def test_every_bad_field_is_named_at_once() -> None:
    with pytest.raises(InputError) as caught:
        parse(load_event("snapshot_rotation/invalid/bad_retention.json"))
    fields = sorted(p.split(":")[0] for p in caught.value.problems)
    assert fields == ["policy.retention.daily", "policy.retention.timezone"]


def test_bad_configuration_from_the_environment_is_named_too() -> None:
    env = {"DEVOPS_TASKS_POLICY": '{"retention": {"weekly": 9999}}'}
    with pytest.raises(InputError, match=r"policy\.retention\.weekly"):
        parse({}, env)


def test_the_schedule_input_and_environment_defaults_parse() -> None:
    params = parse(load_event("snapshot_rotation/schedule_input.json"), {"DEVOPS_TASKS_REPORT_BUCKET": "reports"})
    assert params.policy.retention.yearly == 1
    assert params.report_bucket == "reports"
    assert params.create
    assert params.rotate
    assert not params.dry_run


def test_a_raw_scheduled_event_takes_everything_from_the_environment() -> None:
    env = {"DEVOPS_TASKS_POLICY": '{"name": "from-env", "retention": {"daily": 3}}', "DEVOPS_TASKS_DRY_RUN": "true"}
    params = parse(load_event("eventbridge_scheduled.json"), env)
    assert (params.policy.name, params.policy.retention.daily, params.dry_run) == ("from-env", 3, True)


def volume(tags: dict[str, str]) -> VolumeView:
    return VolumeView("vol-0a", "in-use", tags)


def test_new_snapshots_carry_volume_tags_a_name_and_the_ownership_tags() -> None:
    tags = snapshot_tags(
        volume({"Name": "db", "aws:cloudformation:stack-name": "s", "Team": "data", MANAGED_TAG: "x"}),
        Policy(name="nightly"),
        at("2024-05-10 03:00"),
    )
    assert {t["Key"]: t["Value"] for t in tags} == {
        "Team": "data",
        "Name": "db 2024-05-10",
        MANAGED_TAG: "true",
        POLICY_TAG: "nightly",
        VOLUME_TAG: "vol-0a",
    }


def test_new_snapshot_tags_stay_within_aws_limits() -> None:
    many = {f"k{i:02d}": "v" for i in range(60)} | {"Name": "n" * 256}
    tags = snapshot_tags(volume(many), Policy(name="nightly"), at("2024-05-10 03:00"))
    assert len(tags) == MAX_TAGS
    assert all(len(t["Value"]) <= 256 for t in tags)
    keys = {t["Key"] for t in tags}
    assert {MANAGED_TAG, POLICY_TAG, VOLUME_TAG, "Name"} <= keys


def test_dr_copies_keep_the_ownership_tags_and_name_their_source() -> None:
    own = {MANAGED_TAG: "true", POLICY_TAG: "nightly", VOLUME_TAG: "vol-0a"}
    # A source at the 50-tag limit, ownership tags first, as DescribeSnapshots may return them.
    source = own | {f"k{i:02d}": "v" for i in range(MAX_TAGS - len(own))}
    tags = {t["Key"]: t["Value"] for t in copy_tags(source, "snap-1", "eu-west-1")}
    assert len(tags) <= MAX_TAGS
    assert own.items() <= tags.items()
    assert tags[SOURCE_SNAPSHOT_TAG] == "snap-1"
    assert tags[SOURCE_REGION_TAG] == "eu-west-1"


@pytest.mark.parametrize("name", ["schedule_input.json", "manual_dry_run.json", "dr_copy.json"])
def test_the_sample_inputs_are_valid(name: str) -> None:
    event = load_event(f"snapshot_rotation/{name}")
    params = parse(event)
    parsed = params.model_dump(mode="json")
    assert parsed["regions"] == event["regions"]
    assert parsed["dry_run"] is event.get("dry_run", False)
    policy = event["policy"]
    assert parsed["policy"]["name"] == policy["name"]
    assert policy["retention"].items() <= parsed["policy"]["retention"].items()
    assert {k: v for k, v in policy.items() if k not in ("name", "retention", "dr")}.items() <= parsed["policy"].items()
    assert policy.get("dr", {}).items() <= (parsed["policy"]["dr"] or {}).items()
    assert (parsed["policy"]["dr"] is None) is ("dr" not in policy)
