"""Checks for the Slack app manifest (manifest.yml at the repository root).

The manifest is validated against the SchemaStore community JSON schema for Slack app
manifests. The shared copy lives at ``../shared/slack-app-manifest.schema.json`` relative to the
repository root; when that is missing (e.g. a plain clone of this repository) the byte-for-byte
copy in ``tests/data/`` is used, so the schema test never silently skips.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
MANIFEST_PATH = REPO_ROOT / "manifest.yml"
SCHEMA_NAME = "slack-app-manifest.schema.json"
SHARED_SCHEMA_PATH = REPO_ROOT.parent / "shared" / SCHEMA_NAME
BUNDLED_SCHEMA_PATH = TESTS_DIR / "data" / SCHEMA_NAME

# Keep the bot scopes minimal: any new scope must be added here on purpose.
EXPECTED_BOT_SCOPES = {
    "commands",
    "chat:write",
    "chat:write.public",
    # Only to check, after a crash, whether AskCall's own message was already posted
    # (reading a public channel's history needs membership: join it; a DM needs its D… id).
    "channels:history",
    "groups:history",
    "im:history",
    "channels:join",
    "im:write",
    # Each rep's locale (language), and membership of ASKCALL_ALLOWED_USERGROUPS.
    "users:read",
    "usergroups:read",
}


def _schema_path() -> Path:
    if SHARED_SCHEMA_PATH.is_file():
        return SHARED_SCHEMA_PATH
    if BUNDLED_SCHEMA_PATH.is_file():
        return BUNDLED_SCHEMA_PATH
    raise FileNotFoundError(f"Slack manifest schema not found at {SHARED_SCHEMA_PATH} nor {BUNDLED_SCHEMA_PATH}")


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(_schema_path().read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft7Validator:
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "manifest.yml must be a YAML mapping"
    return data


def _errors(validator: Draft7Validator, instance: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    ]


def test_bundled_schema_is_a_copy_of_the_shared_one() -> None:
    assert BUNDLED_SCHEMA_PATH.is_file(), "tests/data must hold a fallback copy of the schema"
    if not SHARED_SCHEMA_PATH.is_file():
        pytest.skip("shared schema not present; the bundled copy is used")
    assert BUNDLED_SCHEMA_PATH.read_bytes() == SHARED_SCHEMA_PATH.read_bytes(), (
        f"{BUNDLED_SCHEMA_PATH} is out of date: copy {SHARED_SCHEMA_PATH} over it"
    )


def test_manifest_validates_against_schema(validator: Draft7Validator, manifest: dict[str, Any]) -> None:
    assert _errors(validator, manifest) == []


def test_display_information(manifest: dict[str, Any]) -> None:
    info = manifest["display_information"]
    assert info["name"] == "AskCall"
    assert 0 < len(info["description"]) <= 140
    assert info["long_description"].strip()
    assert info["background_color"].startswith("#")


def test_bot_user(manifest: dict[str, Any]) -> None:
    bot_user = manifest["features"]["bot_user"]
    assert bot_user["display_name"] == "askcall"
    assert bot_user["always_online"] is True


def test_slash_command(manifest: dict[str, Any]) -> None:
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == ["/askcall"]
    (command,) = commands
    assert command["should_escape"] is False
    assert command["url"].startswith("https://")
    assert command["url"].endswith("/slack/events")
    assert command["description"].strip()
    assert command["usage_hint"].strip()


def test_interactivity(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    interactivity = settings["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"].startswith("https://")
    assert interactivity["request_url"].endswith("/slack/events")
    # HTTP mode: Bolt serves commands and interactivity on the same URL.
    assert interactivity["request_url"] == manifest["features"]["slash_commands"][0]["url"]
    assert settings["socket_mode_enabled"] is False
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False


def test_bot_scopes_are_exactly_the_minimal_set(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]
    bot_scopes = scopes["bot"]
    assert len(bot_scopes) == len(set(bot_scopes)), "duplicate bot scopes"
    assert set(bot_scopes) == EXPECTED_BOT_SCOPES
    assert not scopes.get("user"), "AskCall must not request user scopes"


def _set(instance: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    target: Any = instance
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


@pytest.mark.parametrize(
    ("path", "value", "error_path"),
    [
        (("features", "bot_user", "display_name"), "ask call", "features/bot_user/display_name"),
        (("features", "slash_commands", 0, "command"), "askcall", "features/slash_commands/0/command"),
        (("display_information", "description"), "x" * 141, "display_information/description"),
        (("settings", "interactivity", "is_enabled"), "yes", "settings/interactivity/is_enabled"),
        (("settings", "no_such_setting"), True, "settings"),
    ],
    ids=[
        "display-name-with-space",
        "command-without-slash",
        "description-too-long",
        "non-bool",
        "unknown-key",
    ],
)
def test_validator_rejects_broken_manifest(
    validator: Draft7Validator,
    manifest: dict[str, Any],
    path: tuple[str | int, ...],
    value: Any,
    error_path: str,
) -> None:
    broken = copy.deepcopy(manifest)
    _set(broken, path, value)
    errors = _errors(validator, broken)
    assert errors, "the schema validator accepted a broken manifest"
    assert any(e.startswith(f"{error_path}: ") for e in errors), errors


SOCKET_MANIFEST_PATH = REPO_ROOT / "manifest.socket.yml"


@pytest.fixture(scope="module")
def socket_manifest() -> dict[str, Any]:
    with SOCKET_MANIFEST_PATH.open(encoding="utf-8") as file:
        return yaml.safe_load(file)


# App Home, and leaving: an uninstall or a revocation deletes the workspace's tokens (bot/listeners/installs.py).
EVENTS = ["app_home_opened", "app_uninstalled", "tokens_revoked"]


def test_socket_mode_manifest_validates_and_has_no_request_urls(
    validator: Draft7Validator, socket_manifest: dict[str, Any], manifest: dict[str, Any]
) -> None:
    assert _errors(validator, socket_manifest) == []
    assert socket_manifest["settings"]["socket_mode_enabled"] is True
    assert "askcall.example.com" not in yaml.safe_dump(socket_manifest)
    # Same app otherwise: same command, shortcuts, events and scopes as the HTTP manifest.
    assert socket_manifest["oauth_config"]["scopes"] == manifest["oauth_config"]["scopes"]
    assert "redirect_urls" not in socket_manifest["oauth_config"]  # Add to Slack needs HTTP
    assert socket_manifest["features"]["shortcuts"] == manifest["features"]["shortcuts"]
    assert socket_manifest["settings"]["event_subscriptions"]["bot_events"] == EVENTS


def test_the_redirect_url_is_the_oauth_flows(manifest: dict[str, Any]) -> None:
    from bot.web.install import REDIRECT_PATH

    assert manifest["oauth_config"]["redirect_urls"] == [f"https://askcall.example.com{REDIRECT_PATH}"]


def test_shortcuts_and_home_match_the_listeners(manifest: dict[str, Any]) -> None:
    from bot.listeners.shortcuts import GLOBAL_SHORTCUT, MESSAGE_SHORTCUT

    shortcuts = {s["callback_id"]: s["type"] for s in manifest["features"]["shortcuts"]}
    assert shortcuts == {MESSAGE_SHORTCUT: "message", GLOBAL_SHORTCUT: "global"}
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == EVENTS
    assert manifest["settings"]["event_subscriptions"]["request_url"].endswith("/slack/events")
