"""The message shortcut's pre-fill (bot/listeners/shortcuts.py): bounded, and only a suggestion."""

from __future__ import annotations

import pytest

from bot.listeners.shortcuts import FIRST_PHONE_SCAN_CHARS, first_phone
from tests.opcount import python_lines

REGION = "BR"


@pytest.mark.parametrize(
    "text",
    [
        "Cliente pediu retorno: (11) 98765-4321, falar com Ana",
        "ligar p/ \u202a+55 11 98765-4321\u202c hoje",  # copied from WhatsApp, bidi marks around it
        "11\u200b98765\u200b4321",
    ],
)
def test_the_first_mobile_in_a_message_is_suggested(text: str) -> None:
    assert first_phone(text, REGION) == "+55 11 98765-4321"


def test_a_number_past_the_scanned_start_of_a_long_message_is_not_suggested() -> None:
    assert first_phone("a" * FIRST_PHONE_SCAN_CHARS + " 11 98765-4321", REGION) == ""
    assert first_phone("a" * (FIRST_PHONE_SCAN_CHARS - 20) + " 11 98765-4321", REGION) == "+55 11 98765-4321"


@pytest.mark.parametrize("unit", ["1 ", "9-", "(11) 3333-4444 ", "ab "])
def test_scanning_a_message_costs_the_same_past_the_cap(unit: str) -> None:
    def work(size: int) -> int:
        text = unit * (size // len(unit))
        first_phone(text, REGION)
        with python_lines("bot", "phonenumbers") as count:
            first_phone(text, REGION)
        return count.lines

    assert work(FIRST_PHONE_SCAN_CHARS * 2) == work(40_000) == work(1_000_000)
