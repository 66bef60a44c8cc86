"""Every property test in the suite runs with the project's hypothesis profile: no deadline and no "input
generation is slow" health check (both fail on a loaded machine without saying anything about the property), and
never fewer examples than hypothesis's default unless the test itself asks for fewer."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.conftest import BASE_PROFILE

TESTS = Path(__file__).resolve().parents[1]


def property_tests() -> Iterator[tuple[str, Any]]:
    for path in sorted(TESTS.rglob("test_*.py")):
        if "@given" not in path.read_text():
            continue
        module = importlib.import_module(".".join(path.relative_to(TESTS.parent).with_suffix("").parts))
        for name, value in vars(module).items():
            if name.startswith("test_") and getattr(value, "is_hypothesis_test", False):
                yield f"{path.relative_to(TESTS)}::{name}", value


FOUND = list(property_tests())


def test_the_suite_has_property_tests_to_check() -> None:
    assert len(FOUND) >= 20


@pytest.mark.parametrize(("name", "test"), FOUND, ids=[name for name, _ in FOUND])
def test_a_property_test_has_no_deadline_and_no_slow_generation_check(name: str, test: Any) -> None:
    active: settings = test._hypothesis_internal_use_settings
    assert active.deadline is None, name
    assert HealthCheck.too_slow in active.suppress_health_check, name
    assert HealthCheck.filter_too_much not in active.suppress_health_check, name
    assert HealthCheck.data_too_large not in active.suppress_health_check, name


def test_the_profile_changes_nothing_but_the_deadline_and_the_slow_generation_check() -> None:
    ours, default = settings.get_profile("devops-tasks"), settings.get_profile(BASE_PROFILE)
    assert settings.default.deadline is None
    assert ours.max_examples == default.max_examples
    assert ours.derandomize == default.derandomize
    assert ours.phases == default.phases
    assert ours.database == default.database
    assert set(ours.suppress_health_check) == {HealthCheck.too_slow}
