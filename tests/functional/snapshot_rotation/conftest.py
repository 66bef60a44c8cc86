"""Fixtures of the snapshot rotation functional tests."""

from __future__ import annotations

import pytest

from shared.aws import Clients


@pytest.fixture
def warm_clients(aws: None, monkeypatch: pytest.MonkeyPatch) -> Clients:
    """One Clients for every run of a test, as in a warm Lambda container: botocore loads its models once."""
    clients = Clients()
    monkeypatch.setattr("shared.runner.Clients", lambda: clients)
    return clients
