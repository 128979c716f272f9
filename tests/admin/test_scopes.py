"""REQUIRED_BOT_SCOPES (what `askcall check` demands) is exactly what manifest.yml asks Slack for."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.slack.scopes import REQUIRED_BOT_SCOPES, missing_scopes

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"


def test_required_scopes_equal_the_manifest_bot_scopes() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))

    assert sorted(REQUIRED_BOT_SCOPES) == sorted(manifest["oauth_config"]["scopes"]["bot"])
    assert len(set(REQUIRED_BOT_SCOPES)) == len(REQUIRED_BOT_SCOPES)


def test_missing_scopes_reads_the_header_as_slack_sends_it() -> None:
    assert missing_scopes(",".join(REQUIRED_BOT_SCOPES) + ",reactions:write") == []
    assert missing_scopes("commands, chat:write") == [
        "chat:write.public",
        "channels:history",
        "groups:history",
        "im:history",
        "channels:join",
        "im:write",
        "users:read",
        "usergroups:read",
    ]
    assert missing_scopes(None) == list(REQUIRED_BOT_SCOPES)
