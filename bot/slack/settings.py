"""App Home's Settings section (workspace admins only) and its modals: connecting Pilot Status, pasting the
webhook's signing secret, which channels use which WhatsApp number, and the workspace's own settings (who may use
AskCall, the default language, the per-rep hourly budget, retention). Pure Block Kit builders, and the reading of
what the modals submit.

Invariant: nothing built here ever shows a key or a secret (the environment's are masked; a stored one is only
"set" or "not set"), and every text comes from the catalogue. The section is at most `MAX_SETTINGS_BLOCKS` blocks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.i18n import LANGUAGES, Translator
from bot.tenant_config import TenantConfig

SETTINGS_PREFIX = "askcall_settings"
CONNECT_ACTION = f"{SETTINGS_PREFIX}_connect"
SECRET_ACTION = f"{SETTINGS_PREFIX}_secret"
NUMBERS_ACTION = f"{SETTINGS_PREFIX}_numbers"
WORKSPACE_ACTION = f"{SETTINGS_PREFIX}_workspace"
CONNECT_VIEW = f"{SETTINGS_PREFIX}_connect_view"
SECRET_VIEW = f"{SETTINGS_PREFIX}_secret_view"
NUMBERS_VIEW = f"{SETTINGS_PREFIX}_numbers_view"
WORKSPACE_VIEW = f"{SETTINGS_PREFIX}_workspace_view"
KEY_BLOCK, KEY_INPUT = "askcall_settings_key", "key"
NAME_BLOCK, NAME_INPUT = "askcall_settings_name", "name"
SECRET_BLOCK, SECRET_INPUT = "askcall_settings_secret_value", "secret"
# The numbers modal: one block per number, its id this prefix and the number's name.
NUMBER_BLOCK_PREFIX, NUMBER_INPUT = "askcall_settings_number_", "channels"
# The workspace modal's blocks (each holds one input whose action id is "value").
LANGUAGE_BLOCK = "askcall_settings_language"
BUDGET_BLOCK = "askcall_settings_budget"
RETENTION_BLOCK = "askcall_settings_retention"
CHANNELS_BLOCK = "askcall_settings_channels"
USERS_BLOCK = "askcall_settings_users"
GROUPS_BLOCK = "askcall_settings_groups"
CONTACT_BLOCK = "askcall_settings_contact"
VALUE = "value"
MAX_SETTINGS_BLOCKS = 8
MAX_NUMBERS_SHOWN = 3
# A modal holds 100 blocks; far more numbers than any workspace has, and each is one block.
MAX_NUMBERS_EDITED = 20
MAX_BUDGET = 100_000
MAX_RETENTION_DAYS = 36_500
MAX_LISTED = 100  # channels, users or user groups in one list
MAX_CONTACT = 200


@dataclass(frozen=True)
class NumberShown:
    """What the section says of one connected number (never its key or secret)."""

    name: str
    webhook_url: str | None
    secret_set: bool
    channels: tuple[str, ...] = ()


def settings_blocks(
    tr: Translator, numbers: Sequence[NumberShown], config: TenantConfig, *, read_only: bool
) -> list[dict[str, Any]]:
    """The Settings section: each number (its channels, whether its secret is set) and the workspace's settings;
    buttons to connect, paste a secret, pick each number's channels and edit the settings (none when `read_only`:
    single-workspace mode, where the environment holds the settings)."""
    blocks: list[dict[str, Any]] = [
        {"type": "divider"},
        {"type": "header", "text": {"type": "plain_text", "text": tr.t("settings.header")}},
    ]
    if read_only:
        lines = [
            tr.t("settings.env_number", name=n.name, masked="ps_••••") + _channels_line(tr, n)
            for n in numbers[:MAX_NUMBERS_SHOWN]
        ]
        blocks.append(_context(tr.t("settings.env_only")))
        blocks.append(_section("\n".join(lines) or tr.t("settings.none")))
        blocks.append(_section(workspace_summary(tr, config)))
        return blocks
    if not numbers:
        blocks.append(_section(tr.t("settings.not_connected")))
    for number in numbers[:MAX_NUMBERS_SHOWN]:
        state = tr.t("settings.secret_set") if number.secret_set else tr.t("settings.hint_mode")
        section = _section(tr.t("settings.number", name=number.name) + _channels_line(tr, number) + "\n" + state)
        section["accessory"] = _button(tr.t("settings.secret_button"), SECRET_ACTION, number.name)
        blocks.append(section)
    blocks.append(_section(workspace_summary(tr, config)))
    elements: list[dict[str, Any]] = [
        _button(tr.t("settings.connect_button"), CONNECT_ACTION, "connect", primary=not numbers),
    ]
    if numbers:
        elements.append(_button(tr.t("settings.numbers_button"), NUMBERS_ACTION, "numbers"))
    elements.append(_button(tr.t("settings.workspace_button"), WORKSPACE_ACTION, "workspace"))
    blocks.append({"type": "actions", "block_id": SETTINGS_PREFIX, "elements": elements})
    return blocks


def workspace_summary(tr: Translator, config: TenantConfig) -> str:
    """The workspace's settings in a few lines (ids as Slack mentions: Slack shows their names)."""
    budget = (
        tr.t("settings.budget_none")
        if config.max_per_rep_per_hour == 0
        else tr.t("settings.budget_value", count=config.max_per_rep_per_hour)
    )
    retention = (
        tr.t("settings.retention_never")
        if config.retention_days == 0
        else tr.t("settings.retention_value", days=config.retention_days)
    )
    who = [f"<#{c}>" for c in sorted(config.allowed_channels)]
    people = [f"<@{u}>" for u in sorted(config.allowed_users)] + [
        f"<!subteam^{g}>" for g in sorted(config.allowed_usergroups)
    ]
    return tr.t(
        "settings.summary",
        language=tr.t(f"settings.language_{config.language}"),
        budget=budget,
        retention=retention,
        channels=", ".join(who[:MAX_LISTED]) or tr.t("settings.everywhere"),
        people=", ".join(people[:MAX_LISTED]) or tr.t("settings.everyone"),
    )


def _channels_line(tr: Translator, number: NumberShown) -> str:
    if number.channels:
        return "\n" + tr.t("settings.number_channels", channels=", ".join(f"<#{c}>" for c in number.channels))
    return "\n" + tr.t("settings.number_other_channels")


def connect_modal(tr: Translator, *, problem: str | None = None) -> dict[str, Any]:
    """The connect form; `problem`: why the last key was refused (shown above the fields, nothing was saved)."""
    warning = [_section("⚠️ " + problem + "\n" + tr.t("settings.try_again"))] if problem else []
    return {
        "type": "modal",
        "callback_id": CONNECT_VIEW,
        "title": {"type": "plain_text", "text": tr.t("settings.connect_title")[:24]},
        "submit": {"type": "plain_text", "text": tr.t("settings.connect_submit")[:24]},
        "close": {"type": "plain_text", "text": tr.t("settings.cancel")[:24]},
        "blocks": [
            *warning,
            _section(tr.t("settings.connect_help")),
            {
                "type": "input",
                "block_id": KEY_BLOCK,
                "label": {"type": "plain_text", "text": tr.t("settings.key_label")},
                "element": {"type": "plain_text_input", "action_id": KEY_INPUT, "max_length": 200},
            },
            {
                "type": "input",
                "block_id": NAME_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": tr.t("settings.name_label")},
                "hint": {"type": "plain_text", "text": tr.t("settings.name_hint")},
                "element": {"type": "plain_text_input", "action_id": NAME_INPUT, "max_length": 40},
            },
        ],
    }


def checking_modal(tr: Translator) -> dict[str, Any]:
    """Shown while Pilot Status checks the key (after the submission's ack); replaced by the outcome."""
    return _modal(tr, CONNECT_VIEW, "settings.connect_title", [_section(tr.t("settings.checking"))], submit=None)


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


def numbers_modal(tr: Translator, numbers: Sequence[NumberShown]) -> dict[str, Any]:
    """Which channels use which number: one channel picker per number (the default number serves the rest)."""
    blocks: list[dict[str, Any]] = [_section(tr.t("settings.numbers_help"))]
    for number in numbers[:MAX_NUMBERS_EDITED]:
        element = _channel_picker(NUMBER_INPUT, number.channels)
        blocks.append(
            {
                "type": "input",
                "block_id": NUMBER_BLOCK_PREFIX + number.name,
                "optional": True,
                "label": {"type": "plain_text", "text": tr.t("settings.number_label", name=number.name)[:2000]},
                "element": element,
            }
        )
    return _modal(tr, NUMBERS_VIEW, "settings.numbers_title", blocks)


def workspace_modal(tr: Translator, config: TenantConfig) -> dict[str, Any]:
    """The workspace's own settings, filled in with the current ones."""
    options = {lang: _option(tr.t(f"settings.language_{lang}"), lang) for lang in LANGUAGES}
    channels = _channel_picker(VALUE, sorted(config.allowed_channels))
    users: dict[str, Any] = {"type": "multi_users_select", "action_id": VALUE, "max_selected_items": MAX_LISTED}
    if config.allowed_users:
        users["initial_users"] = sorted(config.allowed_users)[:MAX_LISTED]
    groups: dict[str, Any] = {"type": "plain_text_input", "action_id": VALUE, "max_length": 2000}
    if config.allowed_usergroups:
        groups["initial_value"] = ", ".join(sorted(config.allowed_usergroups))
    contact: dict[str, Any] = {"type": "plain_text_input", "action_id": VALUE, "max_length": MAX_CONTACT}
    if config.access_contact:
        contact["initial_value"] = config.access_contact
    return _modal(
        tr,
        WORKSPACE_VIEW,
        "settings.workspace_title",
        [
            _input(
                tr,
                LANGUAGE_BLOCK,
                "settings.language_label",
                {
                    "type": "static_select",
                    "action_id": VALUE,
                    "options": list(options.values()),
                    "initial_option": options.get(config.language, options[LANGUAGES[0]]),
                },
                hint="settings.language_hint",
            ),
            _input(
                tr,
                BUDGET_BLOCK,
                "settings.budget_label",
                _number(config.max_per_rep_per_hour, MAX_BUDGET),
                hint="settings.budget_hint",
            ),
            _input(
                tr,
                RETENTION_BLOCK,
                "settings.retention_label",
                _number(config.retention_days, MAX_RETENTION_DAYS),
                hint="settings.retention_hint",
            ),
            _optional(tr, CHANNELS_BLOCK, "channels", channels),
            _optional(tr, USERS_BLOCK, "users", users),
            _optional(tr, GROUPS_BLOCK, "groups", groups),
            _optional(tr, CONTACT_BLOCK, "contact", contact),
        ],
    )


def submitted(body: dict[str, Any], block: str, action: str = VALUE) -> dict[str, Any]:
    """The state of one input of a submitted view (empty when absent or not shaped as Slack shapes it)."""
    state: Any = body
    for key in ("view", "state", "values", block, action):
        state = state.get(key) if isinstance(state, dict) else None
    return state if isinstance(state, dict) else {}


def submitted_text(body: dict[str, Any], block: str, action: str = VALUE) -> str:
    return str(submitted(body, block, action).get("value") or "")


def submitted_ids(body: dict[str, Any], block: str, key: str, action: str = VALUE) -> tuple[str, ...]:
    """The ids a multi-select submitted (`key`: selected_conversations, selected_users…), as strings."""
    chosen = submitted(body, block, action).get(key) or []
    return tuple(str(v) for v in chosen) if isinstance(chosen, list) else ()


def _modal(
    tr: Translator, callback_id: str, title: str, blocks: list[dict[str, Any]], *, submit: str | None = "settings.save"
) -> dict[str, Any]:
    modal: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": {"type": "plain_text", "text": tr.t(title)[:24]},
        "close": {"type": "plain_text", "text": tr.t("settings.cancel")[:24]},
        "blocks": blocks,
    }
    if submit is not None:
        modal["submit"] = {"type": "plain_text", "text": tr.t(submit)[:24]}
    return modal


def _input(
    tr: Translator, block_id: str, label: str, element: dict[str, Any], *, hint: str, optional: bool = False
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": tr.t(label)},
        "hint": {"type": "plain_text", "text": tr.t(hint)},
        "element": element,
    }
    if optional:
        block["optional"] = True
    return block


def _channel_picker(action_id: str, initial: Sequence[str]) -> dict[str, Any]:
    """Public and private channels, at most `MAX_LISTED`; `initial` preselected."""
    picker: dict[str, Any] = {
        "type": "multi_conversations_select",
        "action_id": action_id,
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
        "max_selected_items": MAX_LISTED,
    }
    if initial:
        picker["initial_conversations"] = list(initial[:MAX_LISTED])
    return picker


def _optional(tr: Translator, block_id: str, name: str, element: dict[str, Any]) -> dict[str, Any]:
    return _input(tr, block_id, f"settings.{name}_label", element, hint=f"settings.{name}_hint", optional=True)


def _number(value: int, high: int) -> dict[str, Any]:
    return {
        "type": "number_input",
        "action_id": VALUE,
        "is_decimal_allowed": False,
        "min_value": "0",
        "max_value": str(high),
        "initial_value": str(min(max(value, 0), high)),
    }


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text}, "value": value}


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
