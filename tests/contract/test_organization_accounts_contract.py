"""Only the tasks that work in member accounts (they declare MEMBER_PERMISSIONS, the member role grants them, and
their function role may list the organization) accept ``accounts: {"organization": ...}``; every other task refuses
it as input, before any AWS call, rather than failing at discovery with AccessDenied."""

from __future__ import annotations

import pytest

from cli.registry import functions
from shared.errors import InputError
from shared.inputs import parse_input

ORGANIZATION = {"accounts": {"organization": {"include_ous": ["ou-ab12-cdef3456"]}}}
TASKS = {info.task_dir: info.task_module() for info in functions() if hasattr(info.task_module(), "TASK")}


def test_the_tasks_of_the_project_are_all_checked() -> None:
    assert {"snapshot_rotation", "resource_audit", "lambda_housekeeping", "log_etl", "artefact_mover"} <= set(TASKS)


@pytest.mark.parametrize("task_dir", sorted(TASKS))
def test_a_task_accepts_organization_accounts_exactly_when_it_works_in_member_accounts(task_dir: str) -> None:
    module = TASKS[task_dir]
    model = module.TASK.params_model
    assert model.works_in_member_accounts == bool(getattr(module, "MEMBER_PERMISSIONS", None)), task_dir


@pytest.mark.parametrize("task_dir", sorted(d for d, m in TASKS.items() if not getattr(m, "MEMBER_PERMISSIONS", None)))
def test_a_task_that_does_not_work_in_member_accounts_refuses_the_organization_naming_the_field(task_dir: str) -> None:
    with pytest.raises(InputError) as refused:
        parse_input(ORGANIZATION, TASKS[task_dir].TASK.params_model, env={})
    assert "accounts" in str(refused.value)
    assert "does not work in an organization's member accounts" in str(refused.value)


@pytest.mark.parametrize("task_dir", sorted(d for d, m in TASKS.items() if getattr(m, "MEMBER_PERMISSIONS", None)))
def test_a_task_that_works_in_member_accounts_takes_the_organization(task_dir: str) -> None:
    params = parse_input(ORGANIZATION, TASKS[task_dir].TASK.params_model, env={})
    assert params.accounts.organization.include_ous == ["ou-ab12-cdef3456"]
