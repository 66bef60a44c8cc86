"""The Lambda housekeeping role against its scope: deletions only with a qualifier, only of the functions and layers
the schedule's input selects, and what IAM cannot say (left to the code, tested there)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli.registry import _CfnLoader
from functions.lambda_housekeeping.execute import RefusedCall, layer_deleter, version_deleter
from functions.lambda_housekeeping.plan import Decision
from functions.lambda_housekeeping.task import PERMISSIONS
from shared.permissions import ASYNC_FAILURES, LAMBDA_RUNTIME, ORGANIZATIONS, RUNNER
from tests.contract.test_serverless_contract import actions, role_statements

pytestmark = pytest.mark.contract

ACCOUNT = "123456789012"
ARN = f"arn:aws:lambda:eu-west-1:{ACCOUNT}"
TASK_YML = Path(__file__).resolve().parents[2] / "functions" / "lambda_housekeeping" / "serverless.yml"


def resources(statement: dict[str, Any], params: dict[str, str] | None = None) -> list[str]:
    """A statement's resource ARNs with the template's Sub variables (and any serverless params) filled in."""
    raw = statement["Resource"]
    found = []
    for r in raw if isinstance(raw, list) else [raw]:
        text = r.get("Fn::Sub", str(r)) if isinstance(r, dict) else r  # a Ref (the topic) names no Lambda ARN
        text = text.replace("${AWS::Partition}", "aws").replace("${AWS::AccountId}", ACCOUNT)
        for name, value in (params or {}).items():
            text = text.replace("${param:" + name + "}", value)
        found.append(text)
    return found


def matches(pattern: str, arn: str) -> bool:
    """IAM's ARN wildcards: ``*`` any run of characters, ``?`` any one (the permissive reading, across colons)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn) is not None


def allowed(statements: list[dict[str, Any]], action: str, arn: str, params: dict[str, str] | None = None) -> bool:
    return any(
        s["Effect"] == "Allow" and action in actions(s) and any(matches(p, arn) for p in resources(s, params))
        for s in statements
    )


@pytest.fixture(scope="module")
def statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    props = template["Resources"]["LambdaHousekeepingLambdaFunction"]["Properties"]
    return role_statements(template, props)


def test_the_role_grants_exactly_the_declared_actions(statements: list[dict[str, Any]]) -> None:
    granted = {a for s in statements if s["Effect"] == "Allow" for a in actions(s)}
    # a scheduled task, working in the organization's accounts
    assert granted == set(PERMISSIONS) | RUNNER | LAMBDA_RUNTIME | ASYNC_FAILURES | ORGANIZATIONS


def test_delete_function_is_allowed_only_with_a_qualifier(statements: list[dict[str, Any]]) -> None:
    deleting = [s for s in statements if "lambda:DeleteFunction" in actions(s)]
    assert len(deleting) == 1
    assert actions(deleting[0]) == ["lambda:DeleteFunction"]
    assert "Condition" not in deleting[0]
    assert allowed(statements, "lambda:DeleteFunction", f"{ARN}:function:api:7")
    assert not allowed(statements, "lambda:DeleteFunction", f"{ARN}:function:api"), "the function itself"
    assert not allowed(statements, "lambda:DeleteFunction", "arn:aws:lambda:eu-west-1:999999999999:function:api:7")


def test_delete_layer_version_is_allowed_only_on_layer_versions(statements: list[dict[str, Any]]) -> None:
    deleting = [s for s in statements if "lambda:DeleteLayerVersion" in actions(s)]
    assert len(deleting) == 1
    assert actions(deleting[0]) == ["lambda:DeleteLayerVersion"]
    assert allowed(statements, "lambda:DeleteLayerVersion", f"{ARN}:layer:deps:3")
    assert not allowed(statements, "lambda:DeleteLayerVersion", f"{ARN}:layer:deps")


def test_reads_of_one_function_or_layer_are_scoped_and_only_listings_are_account_wide(
    statements: list[dict[str, Any]],
) -> None:
    wide = {a for s in statements if s["Effect"] == "Allow" and "*" in resources(s) for a in actions(s)}
    assert {a for a in wide if a.startswith("lambda:")} == {
        "lambda:ListFunctions",
        "lambda:ListEventSourceMappings",
        "lambda:ListLayers",
        "lambda:ListTags",
        "lambda:GetAccountSettings",
    }


def task_yaml() -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(TASK_YML.read_text(), Loader=_CfnLoader)
    return data


def yaml_statements() -> list[dict[str, Any]]:
    role = task_yaml()["resources"]["Resources"]["LambdaHousekeepingRole"]["Properties"]
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _as_template(statement: dict[str, Any]) -> dict[str, Any]:
    """The YAML reads ``!Sub "..."`` as the string ``!Sub ...``; shape it as the template's ``Fn::Sub``."""
    res = statement["Resource"]
    fix = (
        [{"Fn::Sub": r.removeprefix("!Sub ")} if r.startswith("!Sub ") else r for r in res]
        if isinstance(res, list)
        else ({"Fn::Sub": res.removeprefix("!Sub ")} if res.startswith("!Sub ") else res)
    )
    return statement | {"Resource": fix}


def test_the_role_is_scoped_by_the_stage_parameters_and_covers_the_default_policy() -> None:
    """Deletions and per-function reads are scoped by lambdaHousekeepingFunctions / lambdaHousekeepingLayers; the
    default policy selects within the default scope (all), and a narrowed scope keeps the role off the rest."""
    policy = task_yaml()["policies"]["daily"]["input"]
    stmts = [_as_template(s) for s in yaml_statements()]
    defaults = {"lambdaHousekeepingFunctions": "*", "lambdaHousekeepingLayers": "*"}
    for pattern in policy["functions"]["names"]:
        assert allowed(stmts, "lambda:DeleteFunction", f"{ARN}:function:{pattern.replace('*', 'x')}:4", defaults)
    for pattern in policy["layers"]["names"]:
        assert allowed(stmts, "lambda:DeleteLayerVersion", f"{ARN}:layer:{pattern.replace('*', 'x')}:2", defaults)
    narrowed = {"lambdaHousekeepingFunctions": "payments-*", "lambdaHousekeepingLayers": "payments-deps"}
    assert allowed(stmts, "lambda:DeleteFunction", f"{ARN}:function:payments-api:4", narrowed)
    assert not allowed(stmts, "lambda:DeleteFunction", f"{ARN}:function:billing:4", narrowed)
    assert not allowed(stmts, "lambda:ListAliases", f"{ARN}:function:billing", narrowed)
    assert not allowed(stmts, "lambda:ListProvisionedConcurrencyConfigs", f"{ARN}:function:billing", narrowed)
    assert allowed(stmts, "lambda:ListAliases", f"{ARN}:function:payments-api", narrowed)
    assert allowed(stmts, "lambda:DeleteLayerVersion", f"{ARN}:layer:payments-deps:2", narrowed)
    assert not allowed(stmts, "lambda:DeleteLayerVersion", f"{ARN}:layer:other-deps:2", narrowed)
    assert not allowed(stmts, "lambda:GetLayerVersionPolicy", f"{ARN}:layer:other-deps:2", narrowed)
    assert not allowed(stmts, "lambda:ListLayerVersions", f"{ARN}:layer:other-deps", narrowed)


def test_what_iam_cannot_say_the_deleter_refuses_before_any_call(statements: list[dict[str, Any]]) -> None:
    """An ARN pattern cannot tell a version number from ``$LATEST`` or an alias name, nor see tags on layers (which
    have none), aliases, mappings, Lambda@Edge replicas or sharing: the role allows these ARNs, so the deleter
    refuses anything but a version number and the planner decides the rest."""
    for qualifier in ("$LATEST", "live"):
        assert allowed(statements, "lambda:DeleteFunction", f"{ARN}:function:api:{qualifier}")

    class NoCalls:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"called {name}")

    delete = version_deleter(NoCalls())
    for qualifier in ("$LATEST", "live", ""):
        d = Decision("version", f"{ARN}:function:api:{qualifier}", "api", qualifier, "delete", "r")
        with pytest.raises(RefusedCall):
            delete(d)
    with pytest.raises(RefusedCall):
        delete(Decision("version", f"{ARN}:function:api:7", "api", "8", "delete", "r"))  # ARN and version disagree
    with pytest.raises(RefusedCall):
        layer_deleter(NoCalls())(Decision("layer", f"{ARN}:layer:deps", "deps", "", "delete", "r"))
