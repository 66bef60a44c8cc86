"""Every list and every number a task accepts is bounded, and every float is finite: an input can ask for a lot of
work, never for an unbounded amount (5,000 tag values where EC2 takes 200, a margin of ``inf`` seconds)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from functions.artefact_mover.models import ArtefactMoverInput
from functions.lambda_housekeeping.models import LambdaHousekeepingInput
from functions.log_etl.models import LogEtlInput
from functions.resource_audit.models import ResourceAuditInput
from functions.s3_upload_logger.models import UploadLoggerSettings
from functions.snapshot_rotation.models import SnapshotRotationInput
from shared.errors import InputError
from shared.inputs import TaskSettings, parse_input

MODELS: list[type[TaskSettings]] = [
    SnapshotRotationInput,
    ResourceAuditInput,
    ArtefactMoverInput,
    LogEtlInput,
    UploadLoggerSettings,
    LambdaHousekeepingInput,
]
COLLECTIONS = (list, set, frozenset, tuple, dict)


def _metadata(info: FieldInfo | None, annotation: Any) -> list[Any]:
    found = list(info.metadata) if info is not None else []
    while get_origin(annotation) is Annotated:
        for extra in get_args(annotation)[1:]:
            found.extend(extra.metadata if isinstance(extra, FieldInfo) else [extra])
        annotation = get_args(annotation)[0]
    return found


def _bare(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _alternatives(annotation: Any) -> list[Any]:
    annotation = _bare(annotation)
    if get_origin(annotation) in (Union, UnionType):
        return [a for a in get_args(annotation) if a is not type(None)]
    return [annotation]


def _has(metadata: list[Any], *kinds: type) -> bool:
    return any(isinstance(m, kinds) for m in metadata)


def unbounded(model: type[BaseModel], where: str = "") -> Iterator[str]:
    """The fields (dotted paths, ``[]`` for list items) that accept an unbounded list or number."""
    for name, info in model.model_fields.items():
        yield from _check(f"{where}{name}", info.annotation, info)


def _check(path: str, annotation: Any, info: FieldInfo | None) -> Iterator[str]:
    outer = _metadata(info, annotation)
    for annotated in _alternatives(annotation):
        # a union's alternatives carry their own bounds (e.g. accounts: a list of at most 1,000, or an organization)
        metadata, alt = outer + _metadata(None, annotated), _bare(annotated)
        origin = get_origin(alt)
        if isinstance(alt, type) and issubclass(alt, BaseModel):
            yield from unbounded(alt, f"{path}.")
        elif origin in COLLECTIONS or alt in COLLECTIONS:
            if not _has(metadata, annotated_types.MaxLen):
                yield f"{path}: a list without max_length"
            for item in get_args(alt)[-1:] if origin is dict else get_args(alt):
                if item is not Ellipsis:
                    yield from _check(f"{path}[]", item, None)
        elif alt is bool or origin is Literal:
            continue
        elif alt in (int, float) and not _has(metadata, annotated_types.Le, annotated_types.Lt):
            yield f"{path}: a number without an upper bound"
        elif alt is str and path.endswith("[]") and not _has(metadata, annotated_types.MaxLen):
            yield f"{path}: list items without max_length"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_list_and_number_of_every_task_input_is_bounded(model: type[BaseModel]) -> None:
    assert list(unbounded(model)) == []


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_no_float_of_any_task_input_takes_infinity_or_nan(model: type[BaseModel], value: float) -> None:
    with pytest.raises(InputError, match="time_margin_seconds"):
        parse_input({"time_margin_seconds": value}, model, env={})


def test_infinity_written_in_json_is_refused_too() -> None:
    # Python's json module (the Lambda runtime's) reads Infinity and NaN
    with pytest.raises(InputError, match="max_seconds"):
        parse_input(json.loads('{"max_seconds": Infinity}'), TaskSettings, env={})


def test_snapshot_rotation_takes_at_most_the_200_tag_values_ec2_allows_in_one_filter() -> None:
    values = [f"v{i}" for i in range(200)]
    assert parse_input({"policy": {"volume_tag_values": values}}, SnapshotRotationInput, env={})
    with pytest.raises(InputError, match=r"policy\.volume_tag_values"):
        parse_input({"policy": {"volume_tag_values": [*values, "one-more"]}}, SnapshotRotationInput, env={})
    with pytest.raises(InputError, match=r"policy\.instance_tag_values"):
        parse_input({"policy": {"instance_tag_values": [f"v{i}" for i in range(5000)]}}, SnapshotRotationInput, env={})
    with pytest.raises(InputError, match=r"policy\.volume_tag_values\.0"):
        parse_input({"policy": {"volume_tag_values": ["x" * 257]}}, SnapshotRotationInput, env={})


def test_the_artefact_mover_refuses_an_infinite_minimum_age() -> None:
    with pytest.raises(InputError, match=r"retention\.min_age_hours"):
        parse_input(
            {"operation": "retain", "bucket": "builds", "retention": {"min_age_hours": math.inf}},
            ArtefactMoverInput,
            env={},
        )


def test_the_same_account_twice_is_refused() -> None:
    account = {"account_id": "123456789012", "role": "member"}
    with pytest.raises(InputError, match="accounts"):
        parse_input({"accounts": [account, account]}, TaskSettings, env={})


def test_local_dir_is_a_cli_option_refused_in_an_event() -> None:
    with pytest.raises(InputError, match=r"local_dir: .*CLI"):
        parse_input({"local_dir": "/tmp/audit"}, ResourceAuditInput, env={})
    with pytest.raises(InputError, match=r"local_dir: .*CLI"):
        parse_input({"detail-type": "Scheduled Event", "source": "aws.events", **_scheduled({"local_dir": "/x"})},
                    ResourceAuditInput, env={})  # fmt: skip


def test_local_dir_reaches_the_model_from_the_process_environment_the_cli_sets() -> None:
    parsed = parse_input({}, ResourceAuditInput, env={"DEVOPS_TASKS_LOCAL_DIR": "out/resource-audit"})
    assert parsed.local_dir == "out/resource-audit"


def _scheduled(detail: dict[str, Any]) -> dict[str, Any]:
    from tests.helpers import load_event

    event = load_event("eventbridge_scheduled.json")
    event["detail"] = detail
    return {k: v for k, v in event.items() if k not in ("detail-type", "source")}
