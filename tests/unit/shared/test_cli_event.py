"""The event ``devops-tasks invoke`` hands to a handler: flags win over the event, bad files get a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import main, registry
from functions.snapshot_rotation.models import SnapshotRotationInput
from shared.inputs import parse_input
from tests.helpers import load_event


@pytest.fixture(autouse=True)
def _restore_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # _event() sets the DEVOPS_TASKS_* defaults of this process (as the CLI does); undo that after each test.
    monkeypatch.delenv("DEVOPS_TASKS_DRY_RUN", raising=False)
    monkeypatch.delenv("DEVOPS_TASKS_REGIONS", raising=False)


def invoke_args(*extra: str) -> object:
    return main._parser().parse_args(["invoke", "snapshot-rotation", *extra])


def test_dry_run_and_region_flags_win_over_an_eventbridge_event_detail(tmp_path: Path) -> None:
    event = load_event("eventbridge_scheduled.json") | {"detail": {"dry_run": False, "regions": ["us-east-1"]}}
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))

    built = main._event(invoke_args("--event", str(path), "--dry-run", "--region", "eu-west-1"), _info())

    params = parse_input(built, SnapshotRotationInput)
    assert params.dry_run is True
    assert params.regions == ["eu-west-1"]


def test_dry_run_flag_wins_over_a_manual_payload(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"dry_run": False}))
    built = main._event(invoke_args("--event", str(path), "--dry-run"), _info())
    assert parse_input(built, SnapshotRotationInput).dry_run is True


def test_a_missing_event_file_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(main.EventFileError, match=r"nope\.json"):
        main._event(invoke_args("--event", str(missing)), _info())


def test_an_event_file_that_is_not_json_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(main.EventFileError, match=r"broken\.json.*not valid JSON"):
        main._event(invoke_args("--event", str(path)), _info())


def test_invoke_with_a_missing_event_file_exits_2_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main.main(["invoke", "snapshot-rotation", "--json", "--event", str(tmp_path / "nope.json")])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert "nope.json" in err.replace("\n", "")  # rich wraps long lines
    assert "Traceback" not in err


def _info() -> registry.FunctionInfo:
    return registry.find("snapshot-rotation")
