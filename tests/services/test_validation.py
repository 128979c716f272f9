"""Command text and modal fields → a phone and a reason, or problems (bot/services/validation.py)."""

from __future__ import annotations

import pytest

from bot.services.validation import (
    PHONE_FIELD,
    REASON_FIELD,
    Problem,
    ValidInput,
    from_command_text,
    from_fields,
)
from bot.slack.messages import REASON_MAX_LENGTH

REGION = "BR"
E164 = "+5511987654321"


# --- from_command_text -------------------------------------------------------------------------
def test_command_with_phone_and_reason_is_valid() -> None:
    result = from_command_text("+55 11 98765-4321 Podemos te ligar?", REGION)

    assert result == ValidInput(E164, "Podemos te ligar?")


def test_command_with_phone_only_is_valid_with_empty_reason() -> None:
    assert from_command_text("11 98765-4321", REGION) == ValidInput(E164, "")


def test_command_reason_starting_with_digits_is_kept_after_a_comma() -> None:
    assert from_command_text("11987654321, 2 pedidos", REGION) == ValidInput(E164, "2 pedidos")


def test_command_reason_starting_with_digits_without_a_separator_is_refused_showing_the_number_read() -> None:
    # Before issue 10 this was accepted as the number plus "2 pedidos"; one digit fewer in the number
    # would have made AskCall ask a stranger. Now the rep sees what was read and how to separate.
    result = from_command_text("11987654321 2 pedidos", REGION)

    assert result == [Problem(PHONE_FIELD, "error.phone_invalid_command", {"raw": "11987654321 2"})]


@pytest.mark.parametrize("text", ["", "   ", "Podemos te ligar?"])
def test_command_without_phone_reports_phone_missing(text: str) -> None:
    result = from_command_text(text, REGION)

    assert isinstance(result, list)
    assert [(p.field, p.message_key) for p in result] == [(PHONE_FIELD, "error.phone_missing")]


def test_command_with_invalid_phone_reports_it_with_the_raw_text() -> None:
    result = from_command_text("12345 oi", REGION)

    assert result == [Problem(PHONE_FIELD, "error.phone_invalid_command", {"raw": "12345"})]


@pytest.mark.parametrize(
    ("text", "raw"),
    [("+55 11 98765-43210 oi", "+55 11 98765-43210"), ("(11) 98765-4321 9 caixas", "(11) 98765-4321 9")],
)
def test_command_with_a_typo_is_refused_never_read_as_another_number(text: str, raw: str) -> None:
    assert from_command_text(text, REGION) == [Problem(PHONE_FIELD, "error.phone_invalid_command", {"raw": raw})]


def test_command_number_not_at_the_start_is_missing() -> None:
    result = from_command_text("Ligar para 11 98765-4321", REGION)

    assert isinstance(result, list)
    assert [p.message_key for p in result] == ["error.phone_missing"]


@pytest.mark.parametrize("reason", ["\u200b", " \u200e\u200f ", "\ufeff\u2060\u00ad"])
def test_command_reason_of_only_invisible_characters_is_empty(reason: str) -> None:
    assert from_command_text(f"11 98765-4321 {reason}", REGION) == ValidInput(E164, "")


def test_command_reason_length_is_counted_without_invisible_characters() -> None:
    reason = "\u200b".join("a" * REASON_MAX_LENGTH)

    assert from_command_text(f"11 98765-4321 {reason}", REGION) == ValidInput(E164, "a" * REASON_MAX_LENGTH)


def test_a_huge_command_is_refused_with_the_start_of_what_was_read() -> None:
    result = from_command_text("9 " * 500_000, REGION)

    assert isinstance(result, list)
    (problem,) = result
    assert problem.message_key == "error.phone_invalid_command"
    assert str(problem.values["raw"]).endswith("…")


def test_a_huge_reason_is_refused_with_its_length() -> None:
    result = from_command_text("11 98765-4321 " + "a" * 1_000_000, REGION)

    assert result == [Problem(REASON_FIELD, "error.reason_too_long", {"length": 1_000_000, "limit": 1024})]


def test_command_with_landline_reports_not_mobile() -> None:
    result = from_command_text("11 3333-4444 oi", REGION)

    assert result == [Problem(PHONE_FIELD, "error.phone_not_mobile", {"raw": "11 3333-4444"})]


def test_raw_phone_shown_back_has_no_backticks_and_is_short() -> None:
    result = from_command_text("1`2`3" + "4" * 60, REGION)

    assert isinstance(result, list)
    raw = str(result[0].values["raw"])
    assert "`" not in raw
    assert len(raw) <= 40


def test_command_reason_of_exactly_the_limit_is_accepted() -> None:
    reason = "a" * REASON_MAX_LENGTH

    assert REASON_MAX_LENGTH == 1024
    assert from_command_text(f"11 98765-4321 {reason}", REGION) == ValidInput(E164, reason)


def test_command_reason_one_over_the_limit_is_refused_with_its_length() -> None:
    result = from_command_text("11 98765-4321 " + "a" * 1025, REGION)

    assert result == [Problem(REASON_FIELD, "error.reason_too_long", {"length": 1025, "limit": 1024})]


def test_command_reports_phone_and_reason_problems_together() -> None:
    result = from_command_text("11 3333-4444 " + "b" * 2000, REGION)

    assert isinstance(result, list)
    assert [p.message_key for p in result] == ["error.phone_not_mobile", "error.reason_too_long"]
    assert result[1].values["length"] == 2000


# --- from_fields -------------------------------------------------------------------------------
def test_fields_valid() -> None:
    assert from_fields(" (11) 98765-4321 ", "  Sobre o pedido 42  ", REGION) == ValidInput(E164, "Sobre o pedido 42")


def test_fields_with_empty_reason_are_valid() -> None:
    assert from_fields("5511987654321", "", REGION) == ValidInput(E164, "")


@pytest.mark.parametrize("phone", ["", "   ", "abc"])
def test_fields_phone_missing(phone: str) -> None:
    result = from_fields(phone, "oi", REGION)

    assert isinstance(result, list)
    assert [(p.field, p.message_key) for p in result] == [(PHONE_FIELD, "error.phone_missing")]


def test_fields_phone_invalid() -> None:
    assert from_fields("12345", "oi", REGION) == [Problem(PHONE_FIELD, "error.phone_invalid", {"raw": "12345"})]


@pytest.mark.parametrize(
    ("phone", "raw"),
    [
        ("11 98765-4321 ramal 2", "11 98765-4321 ramal 2"),
        ("11 98765-4321 x", "11 98765-4321 x"),
        ("+55 11 98765-43210", "+55 11 98765-43210"),
        ("1" * 100_000, "1" * 39 + "…"),
    ],
)
def test_fields_phone_with_anything_but_one_number_is_invalid(phone: str, raw: str) -> None:
    assert from_fields(phone, "oi", REGION) == [Problem(PHONE_FIELD, "error.phone_invalid", {"raw": raw})]


@pytest.mark.parametrize(
    "phone", ["tel:+5511987654321", "https://wa.me/5511987654321", "\u202a+55 11 98765-4321\u202c"]
)
def test_fields_phone_as_a_link_or_with_bidi_marks_is_valid(phone: str) -> None:
    assert from_fields(phone, "oi", REGION) == ValidInput(E164, "oi")


@pytest.mark.parametrize("reason", ["\u200b", "\u200e \u200f", "\ufeff"])
def test_fields_reason_of_only_invisible_characters_is_empty(reason: str) -> None:
    assert from_fields("11 98765-4321", reason, REGION) == ValidInput(E164, "")


def test_fields_reason_keeps_emoji_and_loses_invisible_characters() -> None:
    result = from_fields("11 98765-4321", "\u200bOi 👩\u200d💻\u2060!", REGION)

    assert result == ValidInput(E164, "Oi 👩\u200d💻!")


def test_fields_phone_landline() -> None:
    result = from_fields("+55 11 3333-4444", "oi", REGION)

    assert result == [Problem(PHONE_FIELD, "error.phone_not_mobile", {"raw": "+55 11 3333-4444"})]


def test_fields_reason_of_exactly_the_limit_is_accepted() -> None:
    reason = "é" * 1024

    assert from_fields("11 98765-4321", reason, REGION) == ValidInput(E164, reason)


def test_fields_reason_one_over_the_limit_is_refused_with_its_length() -> None:
    result = from_fields("11 98765-4321", "x" * 1025, REGION)

    assert result == [Problem(REASON_FIELD, "error.reason_too_long", {"length": 1025, "limit": 1024})]


def test_fields_reason_length_is_counted_after_trimming() -> None:
    reason = "  " + "x" * 1024 + "\n"

    assert from_fields("11 98765-4321", reason, REGION) == ValidInput(E164, "x" * 1024)


def test_fields_report_both_problems() -> None:
    result = from_fields("", "x" * 1100, REGION)

    assert isinstance(result, list)
    assert {p.field for p in result} == {PHONE_FIELD, REASON_FIELD}


def test_command_reason_length_does_not_count_a_rejected_phone() -> None:
    result = from_command_text("11 3333-4444 " + "a" * 1024, REGION)

    assert result == [Problem(PHONE_FIELD, "error.phone_not_mobile", {"raw": "11 3333-4444"})]
