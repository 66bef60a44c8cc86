"""serverless.yml against the code: handlers, schedule inputs, IAM grants, template lint."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

from shared.fanout import FanOutSettings
from shared.permissions import ASYNC_FAILURES, FANOUT, LAMBDA_RUNTIME, ORGANIZATIONS, RUNNER

pytestmark = pytest.mark.contract


def functions_of(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, res in template["Resources"].items():
        if res["Type"] == "AWS::Lambda::Function":
            yield logical_id, res["Properties"]


def task_module(props: dict[str, Any]) -> ModuleType:
    """``functions/<task>/handler.handler`` -> the module ``functions.<task>.task``."""
    package = props["Handler"].rsplit("/", 1)[0].replace("/", ".")
    return importlib.import_module(f"{package}.task")


def role_id(props: dict[str, Any]) -> str:
    """The logical id of a function's role: ``!Sub "${XRole.Arn}"`` or ``!GetAtt XRole.Arn``."""
    role = props["Role"]
    if "Fn::Sub" in role:
        return str(role["Fn::Sub"]).removeprefix("${").removesuffix(".Arn}")
    return str(role["Fn::GetAtt"][0])


def role_statements(template: dict[str, Any], props: dict[str, Any]) -> list[dict[str, Any]]:
    role = template["Resources"][role_id(props)]["Properties"]
    return [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def actions(statement: dict[str, Any]) -> list[str]:
    act = statement["Action"]
    return [act] if isinstance(act, str) else list(act)


def test_every_function_has_its_own_role_and_an_importable_handler(template: dict[str, Any]) -> None:
    roles = []
    found = list(functions_of(template))
    assert found, "the template has no function"
    for _, props in found:
        module_path, func = props["Handler"].rsplit(".", 1)
        module = importlib.import_module(module_path.replace("/", "."))
        assert callable(getattr(module, func)), props["Handler"]
        roles.append(role_id(props))
    assert len(set(roles)) == len(roles), "each function must have a role of its own"


def has_failure_destination(template: dict[str, Any], function_id: str) -> bool:
    """Whether Lambda sends the function's failed asynchronous invocations somewhere (with the function's role)."""
    return any(
        r["Type"] == "AWS::Lambda::EventInvokeConfig"
        and r["Properties"]["FunctionName"] == {"Ref": function_id}
        and "OnFailure" in r["Properties"].get("DestinationConfig", {})
        for r in template["Resources"].values()
    )


def test_each_role_grants_exactly_the_declared_actions(template: dict[str, Any]) -> None:
    for logical_id, props in functions_of(template):
        module = task_module(props)
        shared = RUNNER if getattr(module, "USES_RUNNER", True) else frozenset()
        destined = ASYNC_FAILURES if has_failure_destination(template, logical_id) else frozenset()
        organization = ORGANIZATIONS if getattr(module, "MEMBER_PERMISSIONS", None) else frozenset()
        task = getattr(module, "TASK", None)
        fans_out = FANOUT if task and issubclass(task.params_model, FanOutSettings) else frozenset()
        declared = set(module.PERMISSIONS) | shared | LAMBDA_RUNTIME | destined | organization | fans_out
        granted = {a for s in role_statements(template, props) if s["Effect"] == "Allow" for a in actions(s)}
        assert granted == declared, (
            f"{logical_id}: granted but not declared {sorted(granted - declared)}, "
            f"declared but not granted {sorted(declared - granted)}"
        )


def test_no_wildcard_actions(template: dict[str, Any]) -> None:
    for logical_id, props in functions_of(template):
        for statement in role_statements(template, props):
            for action in actions(statement):
                assert "*" not in action, f"{logical_id} grants wildcard action {action}"


def test_snapshots_can_only_be_deleted_when_tagged_as_owned(template: dict[str, Any]) -> None:
    props = template["Resources"]["SnapshotRotationLambdaFunction"]["Properties"]
    deleting = [s for s in role_statements(template, props) if "ec2:DeleteSnapshot" in actions(s)]
    assert len(deleting) == 1
    assert deleting[0]["Condition"] == {"StringEquals": {"aws:ResourceTag/devops-tasks:managed": "true"}}
    assert actions(deleting[0]) == ["ec2:DeleteSnapshot"]


def _allows(statement: dict[str, Any], action: str, context: dict[str, str]) -> bool:
    """Whether an Allow statement with StringEquals conditions grants ``action`` in this condition context."""
    if statement["Effect"] != "Allow" or action not in actions(statement):
        return False
    conditions = statement.get("Condition", {})
    assert set(conditions) <= {"StringEquals"}, f"unexpected condition operator in {statement}"
    return all(context.get(key) == value for key, value in conditions.get("StringEquals", {}).items())


def test_copy_snapshot_is_allowed_on_an_owned_source_and_a_copy_tagged_as_owned(template: dict[str, Any]) -> None:
    # CopySnapshot authorises the source snapshot as well as the new copy. The request's tags describe the copy
    # only: the source is matched on its own tags, so a statement on aws:RequestTag alone would refuse it.
    props = template["Resources"]["SnapshotRotationLambdaFunction"]["Properties"]
    statements = role_statements(template, props)
    owned = {"aws:ResourceTag/devops-tasks:managed": "true"}
    tagged_as_owned = {"aws:RequestTag/devops-tasks:managed": "true"}
    assert any(_allows(s, "ec2:CopySnapshot", owned) for s in statements), "an owned source snapshot"
    assert any(_allows(s, "ec2:CopySnapshot", tagged_as_owned) for s in statements), "a copy tagged as owned"
    assert not any(_allows(s, "ec2:CopySnapshot", {}) for s in statements), "an unowned source or untagged copy"


def schedule_inputs(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for logical_id, res in template["Resources"].items():
        if res["Type"] != "AWS::Scheduler::Schedule":
            continue
        target = res["Properties"]["Target"]
        yield logical_id, target["Arn"]["Fn::GetAtt"][0], json.loads(target.get("Input", "{}"))


def test_schedule_inputs_validate_against_the_task_input_model(template: dict[str, Any]) -> None:
    from shared.inputs import parse_input

    seen = 0
    for rule_id, function_id, payload in schedule_inputs(template):
        task = getattr(task_module(template["Resources"][function_id]["Properties"]), "TASK", None)
        if task is None:
            continue
        model: type[BaseModel] = task.params_model
        parsed = parse_input(payload, model, env={})
        assert parsed is not None, rule_id
        assert parsed.schedule is not None, f"{rule_id}: the run must know which policy's schedule started it"
        seen += 1
    assert seen >= 1


def test_snapshot_rotation_runs_daily_with_one_run_and_its_units_at_once(template: dict[str, Any]) -> None:
    props = template["Resources"]["SnapshotRotationLambdaFunction"]["Properties"]
    [mapping] = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"]["FunctionName"] == {"Fn::GetAtt": ["SnapshotRotationLambdaFunction", "Arn"]}
    ]
    # one scheduled run (or dispatch) beside the units of a fanned-out run: never more
    assert props["ReservedConcurrentExecutions"] == mapping["ScalingConfig"]["MaximumConcurrency"] + 1
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert any("AWSLambdaPowertoolsPythonV3-python312-arm64" in layer for layer in props["Layers"])
    rules = [r for r, f, _ in schedule_inputs(template) if f == "SnapshotRotationLambdaFunction"]
    assert len(rules) == 1
    assert template["Resources"][rules[0]]["Properties"]["ScheduleExpression"] == "cron(15 3 * * ? *)"
    assert template["Resources"][rules[0]]["Properties"]["ScheduleExpressionTimezone"] == "UTC"


def test_schedules_are_not_retried_dead_letter_and_run_with_the_scheduler_role(template: dict[str, Any]) -> None:
    schedules = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Scheduler::Schedule"]
    assert schedules
    for props in schedules:
        target = props["Target"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0, props["Name"]
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}}
        assert target["RoleArn"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
        assert props["GroupName"] == {"Ref": "ScheduleGroup"}
        assert props["ScheduleExpressionTimezone"]
    role = template["Resources"]["SchedulerRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    assert {a for s in statements for a in actions(s)} == {"lambda:InvokeFunction", "sqs:SendMessage"}
    [invoke] = [s for s in statements if actions(s) == ["lambda:InvokeFunction"]]
    scheduled = {p["Target"]["Arn"]["Fn::GetAtt"][0] for p in schedules}
    assert {r["Fn::GetAtt"][0] for r in invoke["Resource"]} == scheduled, (
        "the role invokes the scheduled functions only"
    )


def test_every_enabled_schedule_has_a_heartbeat_alarm_on_its_policy(template: dict[str, Any]) -> None:
    beats = {
        (d[0]["Value"], d[1]["Value"]): res["Properties"]
        for res in template["Resources"].values()
        if res["Type"] == "AWS::CloudWatch::Alarm"
        and res["Properties"].get("MetricName") == "scheduled_runs"
        and (d := res["Properties"]["Dimensions"])
    }
    expected = set()
    for _, function_id, payload in schedule_inputs(template):
        service = template["Resources"][function_id]["Properties"]["Environment"]["Variables"][
            "POWERTOOLS_SERVICE_NAME"
        ]
        expected.add((service, payload["schedule"]["policy"]))
    assert set(beats) == expected
    for props in beats.values():
        assert props["TreatMissingData"] == "breaching"
        assert props["ComparisonOperator"] == "LessThanThreshold"
        assert props["DatapointsToAlarm"] == props["EvaluationPeriods"]
        assert props["Period"] * props["EvaluationPeriods"] <= 7 * 86400  # CloudWatch's longest evaluation range


def test_service_names_are_the_task_names(template: dict[str, Any]) -> None:
    # metrics carry the service dimension from POWERTOOLS_SERVICE_NAME; heartbeat alarms name the task
    for logical_id, props in functions_of(template):
        assert props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == task_module(props).NAME, logical_id


def test_every_alarm_also_reports_its_return_to_ok(template: dict[str, Any]) -> None:
    alarms = {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms
    for logical_id, props in alarms.items():
        assert props["AlarmActions"] == [{"Ref": "AlertsTopic"}], logical_id
        assert props["OKActions"] == props["AlarmActions"], logical_id


def test_errors_alarm_for_every_function_goes_to_the_alerts_topic(template: dict[str, Any]) -> None:
    alarmed = {
        res["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for res in template["Resources"].values()
        if res["Type"] == "AWS::CloudWatch::Alarm"
        and res["Properties"]["MetricName"] == "Errors"
        and res["Properties"]["AlarmActions"] == [{"Ref": "AlertsTopic"}]
    }
    assert alarmed == {logical_id for logical_id, _ in functions_of(template)}


def test_reports_bucket_is_private_encrypted_tls_only_and_expires(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["ReportsBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] > 0
    policy = template["Resources"]["ReportsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy)


def test_data_buckets_keep_their_data_when_the_stack_is_removed_or_the_bucket_replaced(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    for data_bucket in ("ReportsBucket", "LogEtlLakeBucket"):
        assert resources[data_bucket]["DeletionPolicy"] == "Retain", data_bucket
        assert resources[data_bucket]["UpdateReplacePolicy"] == "Retain", data_bucket


def test_packages_hold_the_task_and_the_shared_library_only(package_dir: Path, template: dict[str, Any]) -> None:
    from cli import registry

    # a task that works on another's resources (``requires``) carries that task's code too
    required = {info.task_dir: {r.replace("-", "_") for r in info.requires} for info in registry.functions()}
    for _, props in functions_of(template):
        task_dir = props["Handler"].rsplit("/", 1)[0]
        name = props["Code"]["S3Key"].rsplit("/", 1)[1]
        with zipfile.ZipFile(package_dir / name) as zf:
            files = zf.namelist()
        assert f"{task_dir}/handler.py" in files
        assert "shared/runner.py" in files
        others = {f.split("/")[1] for f in files if f.startswith("functions/") and f.count("/") > 1}
        own = task_dir.split("/")[1]
        assert others == {own} | required[own], f"{name} carries other tasks: {others}"
        assert not [f for f in files if f.startswith(("tests/", "cli/", "node_modules/"))]
        assert not [f for f in files if f.endswith(("serverless.yml", ".pyc"))]


def test_template_passes_cfn_lint(package_dir: Path) -> None:
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--",
            str(package_dir / "cloudformation-template-update-stack.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
