"""config/load.js (what serverless.yml deploys) against the Python side: the schema files are the models' own, the
loader deploys what ``devops-tasks validate`` reads in a file, refuses what it refuses, and sizes heartbeats right."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from cli import config, schema
from tests.helpers import ROOT

pytestmark = pytest.mark.contract

SCHEMA_DIR = ROOT / "config" / "schema"
EXAMPLE = ROOT / "config" / "example.yml"


def node(script: str, *args: str) -> Any:
    """Run ``script`` with config/load.js as ``load``; it prints one JSON value."""
    exe = shutil.which("node")
    assert exe, "node is required"
    proc = subprocess.run(
        [exe, "-e", f"const load = require({json.dumps(str(ROOT / 'config' / 'load.js'))});\n{script}", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def build(config_file: Path, stage: str = "contract") -> dict[str, Any]:
    result: dict[str, Any] = node(
        "const b = load.build({stage: process.argv[1], env: {DEVOPS_TASKS_CONFIG: process.argv[2]}});"
        "console.log(JSON.stringify({functions: b.functions, resources: b.resources}));",
        stage,
        str(config_file),
    )
    return result


def refusal(config_file: Path) -> str:
    result: str = node(
        "try { load.build({stage: 'contract', env: {DEVOPS_TASKS_CONFIG: process.argv[1]}});"
        " console.log(JSON.stringify('')); }"
        " catch (e) { if (!(e instanceof load.ConfigError)) throw e; console.log(JSON.stringify(e.message)); }",
        str(config_file),
    )
    return result


def test_schema_files_are_the_models_own_output() -> None:
    """config/schema/ is generated (`make schema`): a model change without it fails here."""
    on_disk = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.json")}
    expected = {name: schema.render(s) for name, s in schema.schemas().items()}
    assert sorted(on_disk) == sorted(expected), "run `make schema`"
    for name, text in expected.items():
        assert on_disk[name] == text, f"config/schema/{name} is stale: run `make schema`"


def test_the_example_names_the_schema_and_the_schema_accepts_it() -> None:
    first = EXAMPLE.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=./schema/config.json"
    registry = Registry().with_resources(
        (path.name, Resource.from_contents(json.loads(path.read_text()))) for path in SCHEMA_DIR.glob("*.json")
    )
    top = json.loads((SCHEMA_DIR / "config.json").read_text())
    validator = Draft202012Validator(top, registry=registry)
    assert list(validator.iter_errors(yaml.safe_load(EXAMPLE.read_text()))) == []
    bad = yaml.safe_load(EXAMPLE.read_text())
    bad["tasks"]["snapshot-rotation"]["policies"]["nightly"]["input"]["policy"]["retentoin"] = {}
    assert [e.message for e in validator.iter_errors(bad)], "an editor must flag an unknown field"


def test_the_loader_deploys_what_validate_reads_in_the_example() -> None:
    built = build(EXAMPLE)
    checked = config.check_file(EXAMPLE)
    schedules = {
        r["Properties"]["Name"]: r["Properties"]
        for r in built["resources"]["Resources"].values()
        if r["Type"] == "AWS::Scheduler::Schedule"
    }
    defaults = {f"{p.task}-{p.name}": p for p in config.check_defaults().policies if p.task == "artefact-mover"}
    expected = {f"{p.task}-{p.name}": p for p in checked.policies} | defaults
    assert set(schedules) == set(expected)
    for name, policy in expected.items():
        props = schedules[name]
        assert (props["ScheduleExpression"], props["ScheduleExpressionTimezone"]) == (policy.schedule, policy.timezone)
        sent = json.loads(props["Target"]["Input"])
        assert sent.pop("schedule")["policy"] == policy.name
        assert sent == policy.input
    assert "logEtl" not in built["functions"], "log-etl is disabled in the example"
    assert not [k for k in built["resources"]["Resources"] if k.startswith("LogEtl")]
    assert {
        "snapshotRotation",
        "resourceAudit",
        "artefactMover",
        "s3UploadLogger",
        "lambdaHousekeeping",
        "chatops",
    } == set(built["functions"])


def test_without_a_file_the_loader_deploys_every_task_with_its_defaults(tmp_path: Path) -> None:
    built = build(tmp_path / "none.yml")
    names = {
        r["Properties"]["Name"]
        for r in built["resources"]["Resources"].values()
        if r["Type"] == "AWS::Scheduler::Schedule"
    }
    assert names == {f"{p.task}-{p.name}" for p in config.check_defaults().policies}
    assert len(built["functions"]) == len(list((ROOT / "functions").glob("*/serverless.yml")))


def test_with_every_task_disabled_nothing_of_theirs_is_deployed(tmp_path: Path) -> None:
    file = tmp_path / "off.yml"
    names = [p.parent.name.replace("_", "-") for p in (ROOT / "functions").glob("*/serverless.yml")]
    file.write_text(yaml.safe_dump({"tasks": {n: {"enabled": False} for n in names}}))
    built = build(file)
    assert built["functions"] == {}
    assert built["resources"]["Resources"] == {}, "no schedule role, group or dead-letter queue either"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("tasks: {snapshot-rotaton: {enabled: false}}", "tasks.snapshot-rotaton: no such task"),
        ("tasks: {log-etl: {enabld: false}}", "tasks.log-etl.enabld: unknown field"),
        ("taks: {}", "taks: unknown field"),
        ("tasks: {log-etl: {policies: {daily: {schedule: daily}}}}", "policies.daily.schedule: must be cron("),
        (
            "tasks: {log-etl: {policies: {daily: {schedule: rate(1 day), timezone: Mars/Olympus}}}}",
            "policies.daily.timezone: unknown time zone",
        ),
        (
            "tasks: {log-etl: {policies: {daily: {schedule: rate(1 day), input: {lookback_dayz: 2}}}}}",
            "policies.daily.input.lookback_dayz: unknown field",
        ),
        (
            "tasks: {log-etl: {policies: {daily: {schedule: rate(1 day), input: {schedule: {policy: x}}}}}}",
            "input.schedule: is set by the schedule itself",
        ),
        ("tasks: {s3-upload-logger: {policies: {d: {schedule: rate(1 day)}}}}", "is not run on a schedule"),
        ("tasks: {log-etl: {enabled: false}}", "tasks.log-compaction: needs log-etl"),
        ("tasks: {log-etl: {policies: {Daily: {schedule: rate(1 day)}}}}", "a policy name is lower-case"),
        (
            "tasks: {log-etl: {policies: {a1: {schedule: rate(1 day)}, a-1: {schedule: rate(2 days)}}}}",
            "policies.a-1: clashes with policy a1",
        ),
    ],
)
def test_the_loader_refuses_what_validate_refuses(tmp_path: Path, text: str, words: str) -> None:
    file = tmp_path / "bad.yml"
    file.write_text(text + "\n")
    message = refusal(file)
    assert words in message, message
    assert message.startswith(str(file)), "the loader names the file"
    assert config.check_file(file).problems, "validate refuses it too"


@pytest.mark.parametrize(
    ("expression", "gap_hours"),
    [
        ("rate(12 hours)", 12),
        ("rate(5 minutes)", 5 / 60),
        ("cron(15 3 * * ? *)", 24),
        ("cron(5 * * * ? *)", 1),
        ("cron(0 8,18 * * ? *)", 14),
        ("cron(30 6 ? * MON-FRI *)", 72),
        ("cron(0 4 ? * SUN *)", 168),
        ("cron(0 0 */2 * ? *)", 48),  # the 29th of a 30-day month, then the 1st
        ("cron(0 3 1 * ? *)", 31 * 24),
        ("cron(0 3 L * ? *)", None),
        ("cron(0 3 * * ? 2030)", None),
    ],
)
def test_the_longest_gap_between_runs(expression: str, gap_hours: float | None) -> None:
    gap = node("console.log(JSON.stringify(load.longestGap(process.argv[1])));", expression)
    assert gap == (None if gap_hours is None else round(gap_hours * 3600))


@pytest.mark.parametrize(
    ("expression", "period", "periods"),
    [
        ("cron(15 3 * * ? *)", 3600, 27),  # a day and a tenth: 26.4 hours, whole hours up
        ("rate(12 hours)", 3600, 14),  # 12 hours and the one-hour minimum margin
        ("rate(5 minutes)", 300, 13),  # 5 minutes and an hour, in 5-minute periods
        ("cron(30 6 ? * MON-FRI *)", 3600, 80),
        ("cron(0 4 ? * SUN *)", None, None),  # a week and a margin is more than CloudWatch looks back
        ("cron(0 3 1 * ? *)", None, None),
    ],
)
def test_heartbeat_windows_cover_the_gap_and_a_margin_within_cloudwatch_limits(
    expression: str, period: int | None, periods: int | None
) -> None:
    beat = node("console.log(JSON.stringify(load.heartbeat(process.argv[1])));", expression)
    if period is None:
        assert beat is None
        return
    assert (beat["period"], beat["periods"]) == (period, periods)
    gap = node("console.log(JSON.stringify(load.longestGap(process.argv[1])));", expression)
    assert beat["period"] * beat["periods"] >= gap + 3600
