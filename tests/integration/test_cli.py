"""The ``devops-tasks`` command as a person runs it: list, invoke against an endpoint, demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "cli.main"]


def run_cli(*args: str, endpoint: str | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT")} | {"COLUMNS": "200"}
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return subprocess.run(
        [*CLI, *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=300, check=False
    )


def test_list_shows_every_function_of_serverless_yml_with_its_triggers() -> None:
    proc = run_cli("list")
    assert proc.returncode == 0, proc.stderr
    assert "snapshot-rotation" in proc.stdout
    assert "cron(15 3 * * ? *)" in proc.stdout


def test_invoke_dry_run_json_plans_against_the_endpoint_and_changes_nothing(moto_server: str) -> None:
    ec2 = boto3.client("ec2")
    ec2.create_volume(
        AvailabilityZone="eu-west-1a",
        Size=1,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Backup", "Value": "true"}]}],
    )
    proc = run_cli("invoke", "snapshot-rotation", "--dry-run", "--json", "--region", "eu-west-1", endpoint=moto_server)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["dry_run"] is True
    assert report["units"][0]["counts"] == {"create_planned": 1}
    assert ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []


def test_invoke_with_an_invalid_event_exits_non_zero_naming_the_field(moto_server: str) -> None:
    proc = run_cli(
        "invoke", "snapshot-rotation", "--event", "-", stdin='{"policy": {"period": "fortnight"}}', endpoint=moto_server
    )
    assert proc.returncode == 1
    assert "policy.period" in proc.stdout + proc.stderr


def test_invoke_an_unknown_task_says_which_tasks_exist() -> None:
    proc = run_cli("invoke", "no-such-task")
    assert proc.returncode == 2
    assert "snapshot-rotation" in proc.stdout + proc.stderr


def test_the_demo_runs_every_task_and_writes_reports(tmp_path: Path) -> None:
    proc = run_cli("demo", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "snapshot-rotation" / "report.json").read_text())
    assert report["status"] == "succeeded"
    assert report["units"][0]["counts"]["copied"] > 0
    assert "demo finished" in proc.stdout
    organization_fanned_out(tmp_path / "out" / "organization", proc.stdout)


def organization_fanned_out(out: Path, stdout: str) -> None:
    """The organization part: every seeded unit once in the final report, the per-account table's rows what the
    seeded estate should come to, and its total row their sum."""
    seeded = json.loads((out / "seeded.json").read_text())
    final = json.loads((out / "final-report.json").read_text())
    table = json.loads((out / "accounts.json").read_text())
    assert 4 <= len(seeded) <= 6
    units = sorted((u["account"], u["region"]) for u in final["units"])
    assert units == sorted((a, r) for a, s in seeded.items() for r in s["regions"]), "every unit exactly once"
    assert final["status"] == "succeeded"
    assert final["dry_run"] is False
    assert table["final_key"] == f"reports/snapshot-rotation/runs/{final['run_id']}/final.json"
    *rows, total = table["rows"]
    assert sorted(r["account"] for r in rows) == sorted(seeded), "every account of the organization"
    for row in rows:
        s = seeded[row["account"]]
        assert (row["name"], row["ou"]) == (s["name"], s["ou"])
        assert s["member_role"] == "CREATE_COMPLETE"
        assert sorted(row["regions"]) == sorted(s["regions"])
        assert (row["units"], row["ok"], row["failed"], row["incomplete"]) == (
            len(s["regions"]),
            len(s["regions"]),
            0,
            0,
        )
        for key in ("deleted", "kept", "copied", "created"):
            assert row["counts"].get(key, 0) == sum(r[key] for r in s["regions"].values()), (row["account"], key)
    assert total["account"] == "total"
    for key in ("units", "ok", "failed", "incomplete", "failures"):
        assert total[key] == sum(r[key] for r in rows), key
    for key in {k for r in rows for k in r["counts"]}:
        assert total["counts"][key] == sum(r["counts"].get(key, 0) for r in rows), key
    assert total["counts"]["deleted"] > 0
    assert total["counts"]["kept"] > 0
    assert f"fanned out over {len(units)} units (0 never reported)" in final["notes"]
    assert "production's fanout_above is 20" in stdout
    assert "SendMessageBatch" in stdout
    assert (out / "accounts.txt").read_text().count("total") == 1
    audited = json.loads((out / "audit-accounts.json").read_text())
    *audit_rows, audit_total = audited["rows"]
    assert sorted(r["account"] for r in audit_rows) == sorted(seeded)
    assert audit_total["units"] == len(units)
    assert audit_total["ok"] == len(units)
    # every unattached volume seeded fails in its region; the password policy once per account (account-wide)
    expected = {a: sum(r["unattached volumes"] for r in s["regions"].values()) + 1 for a, s in seeded.items()}
    assert {r["account"]: r["counts"].get("findings_fail", 0) for r in audit_rows} == expected
    assert audited["summary_by_account"] == expected
    per_account = {r["account"]: r for r in audited["per_account"]}  # the audit report's per-account summary
    assert {a: r["by_status"]["FAIL"] for a, r in per_account.items()} == expected
    assert all(sorted(r["regions"]) == sorted(seeded[a]["regions"]) for a, r in per_account.items())
    assert audit_total["counts"]["findings_fail"] == sum(expected.values())
