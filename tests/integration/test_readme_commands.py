"""Every command of the README is exercised: the CLI's are run here, as written, against moto server; each of the
others names the test (or the demo) that runs it. A command added to the README without either fails here."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.integration

ELSEWHERE = {
    "make demo": "tests/integration/test_cli.py::test_the_demo_runs_every_task_and_writes_reports",
    "make test": "the whole suite (what CI runs)",
    "npm ci": "tests/contract/conftest.py (serverless package runs the osls that npm ci installs)",
    "npx serverless deploy --stage dev": "tests/integration/test_serverless_deploy.py",
    'npx serverless deploy --stage prod --param="dryRun=true"': "tests/integration/test_serverless_deploy.py",
    "npx serverless invoke -f snapshotRotation": "none: invoking the deployed function needs Lambda itself",
    "npx serverless invoke local -f snapshotRotation": "tests/integration/test_serverless_deploy.py",
    "aws sns subscribe": "none: an SNS email subscription needs a mailbox to confirm it",
}


def readme_commands() -> list[str]:
    """The commands of the README's bash blocks, and the inline ``.venv/bin/...`` and ``aws ...`` ones."""
    text = (ROOT / "README.md").read_text()
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command:
                found.append(command)
    found += re.findall(r"`((?:\.venv/bin/|aws )[^`]+)`", text)
    return list(dict.fromkeys(found))


def test_every_readme_command_is_run_here_or_names_where_it_is_exercised() -> None:
    for command in readme_commands():
        if _is_cli(command):
            continue
        where = [test for prefix, test in ELSEWHERE.items() if command.startswith(prefix)]
        assert where, f"README command not exercised anywhere: {command}"
        path = where[0].split("::")[0].split(" ")[0]
        if path.startswith("tests/"):
            assert (ROOT / path).is_file(), path
            if "::" in where[0]:
                assert f"def {where[0].split('::')[1]}(" in (ROOT / path).read_text()


@pytest.fixture
def workdir(moto_server: str, tmp_path: Path) -> Path:
    """A shell's working directory as the README assumes: .venv there, the event files the commands name."""
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / "config").mkdir()
    shutil.copy(ROOT / "config" / "example.yml", tmp_path / "config" / "prod.yml")
    shutil.copytree(ROOT / "config" / "schema", tmp_path / "config" / "schema")
    (tmp_path / "my-policy.json").write_text(json.dumps({"policy": {"name": "readme", "volume_tag_key": "Backup"}}))
    shutil.copy(ROOT / "tests" / "events" / "artefact_mover" / "promote_manual.json", tmp_path / "promote.json")
    shutil.copy(ROOT / "tests" / "events" / "log_etl" / "backfill_range.json", tmp_path / "backfill.json")
    for region in ("eu-west-1", "us-east-1"):
        boto3.client("ec2", region_name=region).create_volume(
            AvailabilityZone=f"{region}a",
            Size=1,
            TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Backup", "Value": "true"}]}],
        )
    s3 = boto3.client("s3", region_name="eu-west-1")
    for bucket in ("artefacts-bucket", "amzn-s3-demo-logs", "my-lake"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for key in ("builds/web/1234/web.tar.gz", "builds/web/1234/_BUILD_COMPLETE"):
        s3.put_object(Bucket="artefacts-bucket", Key=key, Body=b"web 1234")
    return tmp_path


def _is_cli(command: str) -> bool:
    return re.match(r"^([A-Z_]+=\S+ )*\.venv/bin/devops-tasks ", command) is not None


CLI_COMMANDS = [c for c in readme_commands() if _is_cli(c)]


@pytest.mark.parametrize("command", CLI_COMMANDS)
def test_the_readme_cli_command_runs_as_written(command: str, workdir: Path, moto_server: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT")} | {
        "AWS_ENDPOINT_URL": moto_server,
        "COLUMNS": "80",
        "BROWSER": "true",  # --open: a "browser" that opens anything
    }
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{command}\n{output[-3000:]}"
    assert proc.stdout.strip(), f"{command} printed nothing"
    assert "Traceback" not in output
    tables = [line for line in proc.stdout.splitlines() if re.search("[\u2500-\u257f]", line)]
    assert all(len(line) <= 80 for line in tables), proc.stdout  # paths and URLs are left whole, to be copied
    if "jq .totals" in command:
        assert json.loads(proc.stdout) == {"created": 1}
