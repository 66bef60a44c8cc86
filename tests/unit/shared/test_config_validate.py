"""``devops-tasks validate`` and ``schema``: every policy checked by the handlers' own models, each problem named by
file, line and field, a typo answered with the nearest known field, a non-zero exit when anything is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import config, main
from functions.snapshot_rotation.models import SnapshotRotationInput
from tests.helpers import ROOT

EXAMPLE = ROOT / "config" / "example.yml"

GOOD = """\
tasks:
  snapshot-rotation:
    policies:
      berlin:
        schedule: cron(15 2 * * ? *)
        timezone: Europe/Berlin
        input:
          regions: [eu-central-1]
          policy: {name: berlin, retention: {keep_last: 3, timezone: Europe/Berlin}}
      new-york:
        schedule: rate(12 hours)
        timezone: America/New_York
  log-etl:
    enabled: false
  log-compaction:
    enabled: false
"""


def problems(text: str) -> list[config.Problem]:
    return config.check_text(text, "stage.yml").problems


def only(text: str) -> config.Problem:
    found = problems(text)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def test_a_good_file_has_no_problem_and_lists_its_policies() -> None:
    checker = config.check_text(GOOD, "stage.yml")
    assert checker.problems == []
    assert [(p.task, p.name, p.schedule, p.timezone) for p in checker.policies] == [
        ("snapshot-rotation", "berlin", "cron(15 2 * * ? *)", "Europe/Berlin"),
        ("snapshot-rotation", "new-york", "rate(12 hours)", "America/New_York"),
    ]


def test_the_example_and_the_project_defaults_are_valid() -> None:
    assert config.check_file(EXAMPLE).problems == []
    defaults = config.check_defaults()
    assert defaults.problems == []
    assert {p.task for p in defaults.policies} == {
        "snapshot-rotation",
        "resource-audit",
        "log-etl",
        "log-compaction",
        "artefact-mover",
        "lambda-housekeeping",
    }


def test_a_typo_in_an_input_field_names_the_file_line_field_and_the_nearest_known_field() -> None:
    text = GOOD.replace("retention: {keep_last: 3", "retentoin: {keep_last: 3")
    problem = only(text)
    assert problem.file == "stage.yml"
    assert problem.line == 9
    assert problem.field == "tasks.snapshot-rotation.policies.berlin.input.policy.retentoin"
    assert problem.message == "unknown field (did you mean 'retention'?)"
    assert str(problem).startswith("stage.yml:9: tasks.snapshot-rotation.policies.berlin.input.policy.retentoin: ")


def test_a_typo_at_the_top_of_an_input_is_answered_from_the_task_model() -> None:
    problem = only(GOOD.replace("regions: [eu-central-1]", "regoins: [eu-central-1]"))
    assert (problem.line, problem.field.rsplit(".", 1)[1]) == (8, "regoins")
    assert "did you mean 'regions'?" in problem.message


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "words"),
    [
        ("snapshot-rotation:", "snapshot-rotaton:", 2, "tasks.snapshot-rotaton", "did you mean 'snapshot-rotation'?"),
        ("  log-etl:\n    enabled: false", "  log-etl:\n    enabld: false", 14, "tasks.log-etl.enabld", "'enabled'"),
        ("enabled: false", "enabled: nope", 14, "tasks.log-etl.enabled", "true or false"),
        ("timezone: Europe/Berlin\n", "timezone: Europe/Berlinn\n", 6, "berlin.timezone", "unknown time zone"),
        ("schedule: rate(12 hours)", "schedule: every 12 hours", 11, "new-york.schedule", "is not cron("),
        ("schedule: rate(12 hours)", "schedul: rate(12 hours)", 11, "new-york.schedul", "did you mean 'schedule'?"),
        ("      new-york:", "      New_York:", 10, "policies.New_York", "lower-case letters"),
        ("keep_last: 3", "keep_last: 0", 9, "berlin.input.policy.retention.keep_last", "greater than or equal to 1"),
        ("regions: [eu-central-1]", "regions: [eu-centrl-1]", 8, "input.regions.0", "did you mean 'eu-central-1'?"),
        ("regions: [eu-central-1]", "regions: [xx-fake-9]", 8, "input.regions.0", "'xx-fake-9' is not an AWS region"),
        ("regions: [eu-central-1]", "schedule: {policy: x}", 8, "input.schedule", "set by the schedule itself"),
    ],
)
def test_each_mistake_is_named_where_it_is(old: str, new: str, line: int, field: str, words: str) -> None:
    assert old in GOOD
    found = [p for p in problems(GOOD.replace(old, new, 1)) if p.field.endswith(field)]
    assert len(found) == 1, found
    problem = found[0]
    assert problem.line == line, str(problem)
    assert problem.field.endswith(field), str(problem)
    assert words in problem.message, str(problem)


def test_a_rule_of_the_model_itself_reads_as_english() -> None:
    text = GOOD.replace("policy: {name: berlin,", "policy: {name: berlin, volume_tag_key: null,")
    problem = only(text)
    assert problem.field.endswith("input.policy")
    assert problem.message == "set volume_tag_key or instance_tag_key: a policy must select volumes by tag"


def test_a_dr_region_botocore_does_not_know_is_refused_though_it_looks_like_one() -> None:
    text = GOOD.replace("retention: {keep_last: 3", "dr: {region: eu-north-9}, retention: {keep_last: 3")
    problem = only(text)
    assert problem.field.endswith("input.policy.dr.region")
    assert "not an AWS region" in problem.message


def test_a_task_that_is_not_scheduled_takes_no_policies() -> None:
    text = GOOD + "  s3-upload-logger:\n    policies:\n      daily: {schedule: rate(1 day)}\n"
    problem = only(text)
    assert (problem.line, problem.field) == (18, "tasks.s3-upload-logger.policies")
    assert "not run on a schedule" in problem.message


def test_yaml_that_does_not_parse_and_keys_given_twice_are_named_by_line() -> None:
    broken = only("tasks:\n  log-etl:\n    enabled: [false\n")
    assert broken.line is not None
    assert broken.message.startswith("not valid YAML")
    twice = only("tasks:\n  log-etl:\n    enabled: false\n  log-etl:\n    enabled: true\n")
    assert (twice.line, twice.field) == (4, "tasks.log-etl")
    assert "twice" in twice.message


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = GOOD.replace("Europe/Berlin\n", "Mars/Olympus\n", 1).replace("regions: [eu-central-1]", "regions: [x-1]")
    assert len(problems(text)) == 2


def test_validate_exits_non_zero_and_prints_each_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "prod.yml"
    bad.write_text(GOOD.replace("retention: {keep_last: 3", "retentoin: {keep_last: 3"))
    assert main.main(["validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:9: tasks.snapshot-rotation.policies.berlin.input.policy.retentoin: unknown field" in out
    assert "1 problem(s)" in out


def test_validate_exits_zero_on_good_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "prod.yml"
    good.write_text(GOOD)
    assert main.main(["validate", str(good), str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "snapshot-rotation/berlin, snapshot-rotation/new-york" in out
    assert main.main(["validate", str(tmp_path / "missing.yml")]) == 1
    assert "cannot read it" in capsys.readouterr().out


def test_schema_prints_the_input_schema_of_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main(["schema", "snapshot-rotation"]) == 0
    schema = json.loads(capsys.readouterr().out)
    expected = SnapshotRotationInput.model_json_schema()
    assert schema["properties"]["policy"] == expected["properties"]["policy"]
    assert set(schema["properties"]) == set(expected["properties"]) - {"schedule"}
    assert schema["$defs"]["Retention"] == expected["$defs"]["Retention"]


def test_schema_of_an_unknown_or_unscheduled_task_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main(["schema", "snapshot-rotaton"]) == 2
    assert "no task named" in capsys.readouterr().out
    assert main.main(["schema", "s3-upload-logger"]) == 2
    assert "not run on a schedule" in capsys.readouterr().out


def test_policy_names_that_would_make_the_same_resource_name_are_refused() -> None:
    text = GOOD.replace("      new-york:", "      berlin-1:").replace("      berlin:", "      berlin1:")
    problem = only(text)
    assert problem.field == "tasks.snapshot-rotation.policies.berlin-1"
    assert "clashes with policy berlin1" in problem.message
