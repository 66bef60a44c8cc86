"""ChatOps under in-process moto: the reports bucket, its SecureString parameters, a schedule of the snapshot
rotation, a fake Slack on 127.0.0.1, Lambda emulated at the SDK edge, and every AWS call recorded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chatops_support import APPROVER, BUCKET, OTHER, PLANNER, SNAPSHOT_FN, Rig, rig_for

__all__ = ["APPROVER", "BUCKET", "OTHER", "PLANNER", "SNAPSHOT_FN", "Rig"]


@pytest.fixture
def rig(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    yield from rig_for(monkeypatch)
