"""App Home's Settings section (workspace admins only) and its modals: connecting Pilot Status, pasting the
webhook's signing secret. Pure Block Kit builders.

Invariant: nothing built here ever shows a key or a secret (the environment's are masked; a stored one is only
"set" or "not set"), and every text comes from the catalogue. The section is at most `MAX_SETTINGS_BLOCKS` blocks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.i18n import Translator

SETTINGS_PREFIX = "askcall_settings"
CONNECT_ACTION = f"{SETTINGS_PREFIX}_connect"
SECRET_ACTION = f"{SETTINGS_PREFIX}_secret"
CONNECT_VIEW = f"{SETTINGS_PREFIX}_connect_view"
SECRET_VIEW = f"{SETTINGS_PREFIX}_secret_view"
KEY_BLOCK, KEY_INPUT = "askcall_settings_key", "key"
SECRET_BLOCK, SECRET_INPUT = "askcall_settings_secret_value", "secret"
MAX_SETTINGS_BLOCKS = 8
MAX_NUMBERS_SHOWN = 3


@dataclass(frozen=True)
class NumberShown:
    """What the section says of one connected number (never its key or secret)."""

    name: str
    webhook_url: str | None
    secret_set: bool


def settings_blocks(tr: Translator, numbers: Sequence[NumberShown], *, read_only: bool) -> list[dict[str, Any]]:
    """The Settings section: each number and whether its secret is set; buttons to connect and paste the secret
    (none when `read_only`: single-workspace mode, where the environment holds the settings)."""
    blocks: list[dict[str, Any]] = [
        {"type": "divider"},
        {"type": "header", "text": {"type": "plain_text", "text": tr.t("settings.header")}},
    ]
    if read_only:
        lines = [tr.t("settings.env_number", name=n.name, masked="ps_••••") for n in numbers[:MAX_NUMBERS_SHOWN]]
        blocks.append(_context(tr.t("settings.env_only")))
        blocks.append(_section("\n".join(lines) or tr.t("settings.none")))
        return blocks
    if not numbers:
        blocks.append(_section(tr.t("settings.not_connected")))
    for number in numbers[:MAX_NUMBERS_SHOWN]:
        state = tr.t("settings.secret_set") if number.secret_set else tr.t("settings.hint_mode")
        blocks.append(_section(tr.t("settings.number", name=number.name) + "\n" + state))
    elements: list[dict[str, Any]] = [
        _button(tr.t("settings.connect_button"), CONNECT_ACTION, "connect", primary=not numbers),
    ]
    if numbers:
        elements.append(_button(tr.t("settings.secret_button"), SECRET_ACTION, numbers[0].name))
    blocks.append({"type": "actions", "block_id": SETTINGS_PREFIX, "elements": elements})
    return blocks


def connect_modal(tr: Translator) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": CONNECT_VIEW,
        "title": {"type": "plain_text", "text": tr.t("settings.connect_title")[:24]},
        "submit": {"type": "plain_text", "text": tr.t("settings.connect_submit")[:24]},
        "close": {"type": "plain_text", "text": tr.t("settings.cancel")[:24]},
        "blocks": [
            _section(tr.t("settings.connect_help")),
            {
                "type": "input",
                "block_id": KEY_BLOCK,
                "label": {"type": "plain_text", "text": tr.t("settings.key_label")},
                "element": {"type": "plain_text_input", "action_id": KEY_INPUT, "max_length": 200},
            },
        ],
    }


def secret_modal(tr: Translator, number: str, webhook_url: str | None) -> dict[str, Any]:
    """Where to find the signing secret (Pilot Status never returns it through the API), and the field for it."""
    return {
        "type": "modal",
        "callback_id": SECRET_VIEW,
        "private_metadata": json.dumps({"number": number}),
        "title": {"type": "plain_text", "text": tr.t("settings.secret_title")[:24]},
        "submit": {"type": "plain_text", "text": tr.t("settings.secret_submit")[:24]},
        "close": {"type": "plain_text", "text": tr.t("settings.cancel")[:24]},
        "blocks": [
            _section(tr.t("settings.secret_help", url=webhook_url or "")),
            {
                "type": "input",
                "block_id": SECRET_BLOCK,
                "label": {"type": "plain_text", "text": tr.t("settings.secret_label")},
                "element": {"type": "plain_text_input", "action_id": SECRET_INPUT, "max_length": 500},
            },
        ],
    }


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _button(text: str, action_id: str, value: str, *, primary: bool = False) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text[:75]},
        "action_id": action_id,
        "value": value,
    }
    if primary:
        button["style"] = "primary"
    return button
