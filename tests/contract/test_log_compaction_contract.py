"""The compaction's wiring: only its role deletes from the lake or moves a partition, one run at a time."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.contract


def _statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    props = template["Resources"][role]["Properties"]
    return [s for p in props["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _granting(template: dict[str, Any], role: str, action: str) -> list[dict[str, Any]]:
    return [s for s in _statements(template, role) if action in _as_list(s["Action"]) and s["Effect"] == "Allow"]


def test_the_compaction_deletes_and_writes_only_under_the_lake_and_compacted_prefixes(
    template: dict[str, Any],
) -> None:
    (delete,) = _granting(template, "LogCompactionRole", "s3:DeleteObject")
    assert _as_list(delete["Action"]) == ["s3:DeleteObject"]
    assert delete["Resource"] == [
        {"Fn::Sub": "${LogEtlLakeBucket.Arn}/lake/*"},
        {"Fn::Sub": "${LogEtlLakeBucket.Arn}/compacted/*"},
    ]
    writes = [r for s in _granting(template, "LogCompactionRole", "s3:PutObject") for r in _as_list(s["Resource"])]
    assert writes == [
        {"Fn::Sub": "${LogEtlLakeBucket.Arn}/compacted/*"},
        {"Fn::Sub": "${ReportsBucket.Arn}/reports/log-compaction/*"},
    ], "never into the ETL's prefix, its quarantine or its manifests"


def test_the_loader_can_neither_delete_from_the_lake_nor_move_a_partition(template: dict[str, Any]) -> None:
    for action in ("s3:DeleteObject", "glue:UpdatePartition", "glue:BatchUpdatePartition"):
        assert _granting(template, "LogEtlRole", action) == [], action


def test_one_compaction_runs_at_a_time_with_pyarrow_from_the_layer(template: dict[str, Any]) -> None:
    props = template["Resources"]["LogCompactionLambdaFunction"]["Properties"]
    assert props["ReservedConcurrentExecutions"] == 1
    assert any(":336392948345:layer:AWSSDKPandas-Python312-Arm64:" in str(layer) for layer in props["Layers"])
    assert props["Environment"]["Variables"]["DEVOPS_TASKS_LAKE_BUCKET"] == {"Ref": "LogEtlLakeBucket"}
