"""The app manifest in the repo asks for what the function uses, and no more."""

from __future__ import annotations

import yaml

from functions.chatops.models import ChatopsConfig
from tests.helpers import ROOT


def test_the_manifest_declares_the_command_its_interactivity_and_only_the_scopes_used() -> None:
    manifest = yaml.safe_load((ROOT / "functions" / "chatops" / "manifest.yml").read_text())
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == ChatopsConfig().command
    assert command["url"] == manifest["settings"]["interactivity"]["request_url"] == "FUNCTION_URL"
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is False
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == ["chat:write", "commands", "usergroups:read"]
    assert "user" not in manifest["oauth_config"]["scopes"]
