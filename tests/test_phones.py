"""Phone parsing, customer keys and masking (bot/phones.py)."""

from __future__ import annotations

import pytest

from bot.phones import PhoneProblem, customer_key, digits, log_phone, mask, parse_phone, split_phone_and_reason

REGION = "BR"
E164 = "+5511987654321"


@pytest.mark.parametrize(
    "written",
    [
        "+55 (11) 98765-4321",
        "11 98765-4321",
        "(11)98765.4321",
        "5511987654321",
        "+55 11 987654321",
        "+5511987654321",
        "11987654321",
        "(11) 98765-4321",
        "011 98765-4321",
    ],
)
def test_every_way_to_write_a_br_mobile_parses_to_the_same_e164(written: str) -> None:
    parsed = split_phone_and_reason(written, REGION)

    assert parsed.problem is None
    assert parsed.e164 == E164
    assert parsed.rest == ""
    assert parse_phone(written, REGION) == (E164, None)


@pytest.mark.parametrize(
    "written",
    ["+55 (11) 98765-4321", "11 98765-4321", "(11)98765.4321", "5511987654321", "+55 11 987654321"],
)
def test_reason_after_a_phone_with_spaces_is_kept_whole(written: str) -> None:
    parsed = split_phone_and_reason(f"{written} Podemos te ligar para fechar o pedido?", REGION)

    assert parsed.e164 == E164
    assert parsed.rest == "Podemos te ligar para fechar o pedido?"
    assert parsed.raw == written


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("11987654321 2 pedidos atrasados", "2 pedidos atrasados"),
        ("11 98765-4321 2 pedidos", "2 pedidos"),
        ("+55 11 98765-4321 10 caixas", "10 caixas"),
        ("5511987654321 3", "3"),
    ],
)
def test_reason_starting_with_digits_is_not_swallowed_by_the_phone(text: str, reason: str) -> None:
    parsed = split_phone_and_reason(text, REGION)

    assert parsed.e164 == E164
    assert parsed.rest == reason


def test_phone_written_after_text_is_found_and_removed_from_the_reason() -> None:
    parsed = split_phone_and_reason("Ligar para 11 98765-4321 amanhã cedo", REGION)

    assert parsed.problem is None
    assert parsed.e164 == E164
    assert parsed.rest == "Ligar para amanhã cedo"


def test_surrounding_whitespace_is_ignored() -> None:
    parsed = split_phone_and_reason("   11 98765-4321    sobre o pedido  ", REGION)

    assert parsed.e164 == E164
    assert parsed.rest == "sobre o pedido"


@pytest.mark.parametrize("landline", ["11 3333-4444", "+55 11 3333-4444", "(21) 2222-3333"])
def test_landline_is_not_mobile(landline: str) -> None:
    parsed = split_phone_and_reason(f"{landline} motivo", REGION)

    assert parsed.e164 is None
    assert parsed.problem is PhoneProblem.NOT_MOBILE
    assert parsed.raw == landline
    assert parse_phone(landline, REGION) == (None, PhoneProblem.NOT_MOBILE)


@pytest.mark.parametrize(
    ("text", "raw", "rest"),
    [
        ("11 3333-4444 2 pedidos", "11 3333-4444", "2 pedidos"),
        ("+55 11 3333-4444 10 caixas", "+55 11 3333-4444", "10 caixas"),
        ("ligar para 11 3333-4444 hoje", "11 3333-4444", "ligar para hoje"),
    ],
)
def test_landline_followed_by_digits_is_still_reported_as_landline(text: str, raw: str, rest: str) -> None:
    parsed = split_phone_and_reason(text, REGION)

    assert parsed.problem is PhoneProblem.NOT_MOBILE
    assert parsed.raw == raw
    assert parsed.rest == rest


@pytest.mark.parametrize("garbage", ["12345", "12-34 oi", "+55 11", "999999999999999999", "(00) 00000-0000"])
def test_garbage_number_is_invalid(garbage: str) -> None:
    parsed = split_phone_and_reason(garbage, REGION)

    assert parsed.e164 is None
    assert parsed.problem is PhoneProblem.INVALID


@pytest.mark.parametrize("text", ["", "   ", "Podemos te ligar?", "só texto, sem número"])
def test_no_number_at_all_is_missing(text: str) -> None:
    parsed = split_phone_and_reason(text, REGION)

    assert parsed.e164 is None
    assert parsed.problem is PhoneProblem.MISSING


def test_parse_phone_of_empty_text_is_missing() -> None:
    assert parse_phone("", REGION) == (None, PhoneProblem.MISSING)
    assert parse_phone("abc", REGION) == (None, PhoneProblem.MISSING)


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("+351 912 345 678 olá", "+351912345678"),
        ("+44 7911 123456 hello", "+447911123456"),
    ],
)
def test_foreign_mobile_written_with_plus_is_accepted_in_br_region(text: str, e164: str) -> None:
    parsed = split_phone_and_reason(text, REGION)

    assert parsed.problem is None
    assert parsed.e164 == e164
    assert parsed.rest == text.split()[-1]


def test_sao_paulo_mobile_with_ninth_digit_is_valid() -> None:
    assert parse_phone("11 98765-4321", REGION) == (E164, None)


def test_sao_paulo_mobile_without_ninth_digit_is_not_accepted_as_typed() -> None:
    # Since 2012 every São Paulo mobile has the 9th digit: an 8-digit mobile cannot be dialled.
    e164, problem = parse_phone("11 8765-4321", REGION)

    assert e164 is None
    assert problem is PhoneProblem.INVALID


def test_sao_paulo_whatsapp_id_without_ninth_digit_is_the_same_customer() -> None:
    # WhatsApp ids created before the 9th digit can lack it: `551187654321` is `+55 11 98765-4321`.
    assert customer_key("551187654321") == customer_key(E164)
    assert customer_key("+551187654321") == customer_key("5511987654321")


@pytest.mark.parametrize("spelling", ["+55 31 98888-7777", "5531988887777", "553188887777", "+553188887777"])
def test_customer_key_is_equal_for_every_spelling_of_one_customer(spelling: str) -> None:
    assert customer_key(spelling) == customer_key("+5531988887777")


@pytest.mark.parametrize("other", ["+55 31 97777-6666", "+55 21 98888-7777", "+5531988887778", "+351912345678"])
def test_customer_key_differs_for_another_customer(other: str) -> None:
    assert customer_key(other) != customer_key("+5531988887777")


def test_customer_key_does_not_fold_a_br_landline() -> None:
    assert customer_key("+551133334444") == "551133334444"


def test_customer_key_of_foreign_number_is_its_digits() -> None:
    assert customer_key("+351 912 345 678") == "351912345678"


def test_digits_strips_everything_but_digits() -> None:
    assert digits("+55 (11) 98765-4321") == "5511987654321"
    assert digits("") == ""


def test_mask_shows_country_area_first_digit_and_last_four() -> None:
    assert mask(E164) == "+55 11 9••••-4321"


@pytest.mark.parametrize("spelling", ["+5511987654321", "5511987654321", "+55 (11) 98765-4321"])
def test_mask_is_the_same_for_any_spelling(spelling: str) -> None:
    assert mask(spelling) == "+55 11 9••••-4321"


@pytest.mark.parametrize(
    "phone",
    ["+5511987654321", "+5531988887777", "+551133334444", "+351912345678", "+447911123456", "+16502530000"],
)
def test_mask_never_contains_the_full_number(phone: str) -> None:
    masked = mask(phone)
    full = digits(phone)

    assert "•" in masked
    assert full not in digits(masked)
    assert full not in masked.replace(" ", "").replace("-", "")
    assert digits(masked).endswith(full[-4:])
    # Only the last four digits of the subscriber number are shown after the hidden part.
    assert len(digits(masked)) < len(full)


def test_mask_of_empty_is_empty() -> None:
    assert mask("") == ""


@pytest.mark.parametrize("spelling", ["+5511987654321", "5511987654321", "+55 (11) 98765-4321"])
def test_log_phone_keeps_two_leading_and_four_trailing_digits(spelling: str) -> None:
    assert log_phone(spelling) == "+55•••••••4321"


@pytest.mark.parametrize("phone", ["+5531988887777", "553188887777", "+16502530000"])
def test_log_phone_never_contains_the_full_number(phone: str) -> None:
    logged = log_phone(phone)

    assert digits(logged) == digits(phone)[:2] + digits(phone)[-4:]
    assert "•" in logged


@pytest.mark.parametrize("phone", ["1234", "123456", ""])
def test_log_phone_of_a_short_number_shows_no_digit(phone: str) -> None:
    assert digits(log_phone(phone)) == ""
