"""App Home's Settings section and its modals (bot/slack/settings.py): valid Block Kit in every language, within
their block budget, and never a key or a secret."""

from __future__ import annotations

import json

import pytest

from bot.fakes import blockkit
from bot.i18n import LANGUAGES, Translator
from bot.slack.settings import (
    CONNECT_ACTION,
    MAX_SETTINGS_BLOCKS,
    SECRET_ACTION,
    NumberShown,
    connect_modal,
    secret_modal,
    settings_blocks,
)

NUMBERS = [
    NumberShown(f"n{k}", f"https://askcall.example/webhooks/pilot-status/t/tok{k}", k % 2 == 0) for k in range(9)
]


def home(blocks: list[dict[str, object]]) -> dict[str, object]:
    return {"type": "home", "blocks": blocks}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("numbers", [[], NUMBERS[:1], NUMBERS])
def test_the_section_is_valid_and_within_its_budget(lang: str, numbers: list[NumberShown]) -> None:
    tr = Translator(lang)
    for read_only in (False, True):
        blocks = settings_blocks(tr, numbers, read_only=read_only)
        assert blockkit.view_error(home(blocks)) is None
        assert len(blocks) <= MAX_SETTINGS_BLOCKS
    editable = json.dumps(settings_blocks(tr, numbers, read_only=False))
    assert CONNECT_ACTION in editable and (SECRET_ACTION in editable) == bool(numbers)
    assert CONNECT_ACTION not in json.dumps(settings_blocks(tr, numbers, read_only=True))
    assert "tok" not in editable  # the webhook token is in the secret modal only, for the admin who connects


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_modals_are_valid_and_say_where_the_secret_is(lang: str) -> None:
    tr = Translator(lang)
    assert blockkit.view_error(connect_modal(tr)) is None
    modal = secret_modal(tr, "default", "https://askcall.example/webhooks/pilot-status/t/tok")
    assert blockkit.view_error(modal) is None
    assert "Webhooks" in json.dumps(modal) and json.loads(modal["private_metadata"]) == {"number": "default"}
