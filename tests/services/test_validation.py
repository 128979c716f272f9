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


def test_command_reason_starting_with_digits_is_kept() -> None:
    assert from_command_text("11987654321 2 pedidos", REGION) == ValidInput(E164, "2 pedidos")


@pytest.mark.parametrize("text", ["", "   ", "Podemos te ligar?"])
def test_command_without_phone_reports_phone_missing(text: str) -> None:
    result = from_command_text(text, REGION)

    assert isinstance(result, list)
    assert [(p.field, p.message_key) for p in result] == [(PHONE_FIELD, "error.phone_missing")]


def test_command_with_invalid_phone_reports_it_with_the_raw_text() -> None:
    result = from_command_text("12345 oi", REGION)

    assert result == [Problem(PHONE_FIELD, "error.phone_invalid", {"raw": "12345"})]


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
