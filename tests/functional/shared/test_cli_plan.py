"""``devops-tasks invoke`` shows what a run will do: the plan, one row per action, readable at 80 columns."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from rich.console import Console

from cli.main import ProgressBar, main
from cli.plan import SHOWN_PER_GROUP, human_size, print_accounts, print_counts, print_plan
from tests.helpers import REGION

VOLUMES = 13


@pytest.fixture
def volumes(aws: None) -> list[str]:
    ec2 = boto3.client("ec2", region_name=REGION)
    tags = [{"ResourceType": "volume", "Tags": [{"Key": "Backup", "Value": "true"}]}]
    return sorted(
        ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1, TagSpecifications=tags)["VolumeId"]  # type: ignore[arg-type]
        for _ in range(VOLUMES)
    )


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    monkeypatch.setenv("COLUMNS", "80")
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_a_dry_run_prints_its_plan_grouped_and_truncated_within_80_columns(
    volumes: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(monkeypatch, capsys, "invoke", "snapshot-rotation", "--dry-run", "--region", REGION)
    assert code == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80, out
    assert f"create planned ({VOLUMES})" in out
    shown = [v for v in volumes if v in out]
    assert len(shown) == SHOWN_PER_GROUP
    more = VOLUMES - SHOWN_PER_GROUP
    assert f"... {more} more create planned" in out
    assert f"{more} more row(s) not shown: --all shows every row" in out
    row = next(line for line in lines if shown[0] in line)
    assert "create" in row
    assert REGION in row
    assert "no snapshot yet" in out  # the reason, wrapped inside its column
    assert boto3.client("ec2", region_name=REGION).describe_snapshots(OwnerIds=["self"])["Snapshots"] == []


def test_all_shows_every_row_of_the_plan(
    volumes: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(monkeypatch, capsys, "invoke", "snapshot-rotation", "--dry-run", "--all", "--region", REGION)
    assert code == 0
    assert all(v in out for v in volumes)
    assert "more row(s) not shown" not in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_json_carries_the_totals_and_the_same_plan(
    volumes: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the README's `devops-tasks invoke snapshot-rotation --json | jq .totals`
    code, out = run(monkeypatch, capsys, "invoke", "snapshot-rotation", "--dry-run", "--json", "--region", REGION)
    assert code == 0
    response = json.loads(out)
    assert response["totals"] == {"create_planned": VOLUMES}
    (group,) = response["plan"]
    assert group["group"] == "create planned"
    assert group["count"] == VOLUMES
    assert sorted(r["resource"] for r in group["rows"]) == volumes
    assert {r["region"] for r in group["rows"]} == {REGION}
    assert all(r["reason"] for r in group["rows"])


def test_a_plan_with_sizes_shows_them_human_readable() -> None:
    response = {
        "dry_run": True,
        "units": [
            {
                "account": "123456789012",
                "region": REGION,
                "actions": [
                    {
                        "action": "copy",
                        "resource": "s3://artefacts/builds/app/main/41/app.tar.gz",
                        "reason": "promote build 41 of app/main to releases/app/1.4.0/",
                        "status": "planned",
                        "detail": {"size": 3 * 1024**3 + 512 * 1024**2},
                    }
                ],
            }
        ],
    }
    console = Console(file=io.StringIO(), width=80)
    print_plan(console, response)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "3.5 GiB" in out
    assert max(len(line) for line in out.splitlines()) <= 80


@pytest.mark.parametrize(
    ("n", "text"), [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (5 * 1024**4, "5.0 TiB")]
)
def test_human_sizes(n: int, text: str) -> None:
    assert human_size(n) == text


def test_counts_too_wide_for_80_columns_are_transposed() -> None:
    counts = {f"{kind}_{state}": 1 for kind in ("create", "copy", "delete", "keep") for state in ("planned", "done")}
    units = [{"unit": f"123456789012/{r}", "counts": counts} for r in ("eu-west-1", "us-east-1")]
    console = Console(file=io.StringIO(), width=80)
    print_counts(console, "snapshot-rotation", units)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert max(len(line) for line in out.splitlines()) <= 80
    assert all(any(line.lstrip("│ ").startswith(key) for line in out.splitlines()) for key in counts)


def test_units_of_several_accounts_are_added_up_per_account_with_a_total_row() -> None:
    def unit(account: str, region: str, deleted: int, *, complete: bool = True) -> dict[str, Any]:
        return {"account": account, "region": region, "complete": complete, "counts": {"deleted": deleted}}

    units = [
        unit("111111111111", "eu-west-1", 2),
        unit("111111111111", "us-east-1", 3, complete=False),
        unit("222222222222", "eu-west-1", 4),
    ]

    def cells(width: int) -> dict[str, list[str]]:
        console = Console(file=io.StringIO(), width=width)
        assert print_accounts(console, "snapshot-rotation", units)
        lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
        assert max(len(line) for line in lines) <= width
        return {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]] for line in lines if "│" in line}

    wide = cells(120)  # account: regions, ok, failed, incomplete, failures, deleted
    assert wide["111111111111"] == ["eu-west-1, us-east-1", "1", "0", "1", "0", "5"]
    assert wide["222222222222"] == ["eu-west-1", "1", "0", "0", "0", "4"]
    assert wide["total"] == ["2", "2", "0", "1", "0", "9"]
    assert cells(80)["total"] == ["2", "2", "0", "1", "0"]  # no room for the counts: the statuses still
    one_account = Console(file=io.StringIO(), width=80)
    assert not print_accounts(one_account, "snapshot-rotation", units[:2])  # the per-unit table says it all
    assert one_account.file.getvalue() == ""  # type: ignore[attr-defined]


def test_a_spinner_moves_from_the_start_while_nothing_else_does() -> None:
    stream = io.StringIO()
    console = Console(file=stream, width=80, force_terminal=True)
    with ProgressBar(console, enabled=True, title="running snapshot-rotation"):
        time.sleep(1.3)
    drawn = stream.getvalue()
    assert "running snapshot-rotation" in drawn
    frames = {c for c in drawn if "\u2800" <= c <= "\u28ff"}  # rich's default "dots" spinner
    assert len(frames) > 3


def test_invoking_the_upload_logger_prints_its_result(
    aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    event = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "eventTime": "2026-12-01T00:00:00.000Z",
                "awsRegion": REGION,
                "s3": {"bucket": {"name": "uploads"}, "object": {"key": "a+b.txt", "size": 2048, "eTag": "e"}},
            }
        ]
    }
    (tmp_path / "event.json").write_text(json.dumps(event))
    code, out = run(monkeypatch, capsys, "invoke", "s3-upload-logger", "--event", str(tmp_path / "event.json"))
    assert code == 0
    assert "s3-upload-logger (ok)" in out
    assert "uploads: 1" in out
    assert "bytes: 2.0 KiB" in out


def test_open_says_where_the_file_is_when_no_browser_can_open_it(
    aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("webbrowser.open", lambda *_a, **_k: False)  # what webbrowser returns with no browser
    code, out = run(
        monkeypatch, capsys, "invoke", "resource-audit", "--open", "--out", str(tmp_path), "--region", REGION
    )
    assert code == 0
    said = next(line for line in out.splitlines() if line.startswith("no browser could open it here: open "))
    assert Path(said.removeprefix("no browser could open it here: open ")).is_file()


def _no_aws_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(var, raising=False)


def test_against_an_endpoint_without_credentials_or_region_dummy_ones_are_used_and_said(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_aws_configured(monkeypatch)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    code, out = run(monkeypatch, capsys, "invoke", "snapshot-rotation", "--dry-run", "--endpoint-url", moto_server)
    assert code == 0, out
    assert f"no AWS credentials configured: using dummy ones (testing/testing) for {moto_server}" in out
    assert f"no AWS region configured: using us-east-1 for {moto_server}" in out
    assert "us-east-1" in out.split("no AWS region configured")[1]  # the run's unit


def test_configured_credentials_and_region_are_kept_against_an_endpoint(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(monkeypatch, capsys, "invoke", "snapshot-rotation", "--dry-run", "--region", REGION)
    assert code == 0, out
    assert "no AWS credentials configured" not in out
    assert "no AWS region configured" not in out


def test_without_an_endpoint_missing_credentials_are_not_papered_over(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.local import use_endpoint

    _no_aws_configured(monkeypatch)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert use_endpoint(None) == []
    assert "AWS_ACCESS_KEY_ID" not in os.environ
