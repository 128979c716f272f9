"""Phone parsing, customer keys and masking (bot/phones.py)."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from bot.phones import (
    PHONE_MAX_CHARS,
    PhoneParse,
    PhoneProblem,
    customer_key,
    digits,
    log_phone,
    mask,
    parse_phone,
    read_phone_field,
    split_phone_and_reason,
    strip_invisible,
)

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
    ("text", "reason"),
    [
        ("11987654321, 2 pedidos atrasados", "2 pedidos atrasados"),
        ("11 98765-4321: 2 pedidos", "2 pedidos"),
        ("+55 11 98765-4321\n10 caixas", "10 caixas"),
        ("5511987654321; 3", "3"),
        ("+55 11 98765-4321 — 10 caixas", "10 caixas"),
        ("11987654321,2 pedidos", "2 pedidos"),
    ],
)
def test_reason_starting_with_digits_after_a_separator_is_kept(text: str, reason: str) -> None:
    parsed = split_phone_and_reason(text, REGION)

    assert parsed.e164 == E164
    assert parsed.rest == reason


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        # Before issue 10 these were split into the number and a reason starting with digits; now the
        # whole run of phone-looking text is the number, and it is not one.
        ("11987654321 2 pedidos atrasados", "11987654321 2"),
        ("+55 11 98765-4321 10 caixas", "+55 11 98765-4321 10"),
        ("5511987654321 3", "5511987654321 3"),
        # Each of these once sent a permission request to a stranger, found inside the typo:
        ("+55 11 98765-43210 oi", "+55 11 98765-43210"),  # was +55 98 7654-3210
        ("(11) 98765-43211 oi", "(11) 98765-43211"),  # was +55 98 7654-3211
        ("11 1198765-4321 oi", "11 1198765-4321"),  # was +55 11 98765-4321, found after "11"
        ("2 11987654321 oi", "2 11987654321"),  # ditto, after "2"
        ("11 98765-4321.5 oi", "11 98765-4321.5"),  # was +55 11 98765-4321, cut inside a token
        ("11 98765-4321 9 caixas", "11 98765-4321 9"),  # was +55 11 98765-4321, a shorter prefix
        # A number ending in a lone digit: one digit missing, and the reason's first digit completes it.
        ("1198765432 1 pedido", "1198765432 1"),
        ("11 9876 4321 2 pedidos", "11 9876 4321 2"),
        ("(11) 98765-432 1, pedido", "(11) 98765-432 1"),
        # A letter glued to the number: O for 0, l for 1, an extension.
        ("11 98765-432O oi", "11 98765-432O"),
        ("11987654321x2", "11987654321x"),
        ("11 98765-432l", "11 98765-432l"),
        # Links to no valid number.
        ("wa.me/11987654321 oi", "wa.me/11987654321"),  # a WhatsApp link always has the country code
        ("tel:+55119876543210 oi", "tel:+55119876543210"),
        ("https://wa.me/5511987654321abc oi", "https://wa.me/5511987654321a"),
    ],
)
def test_a_run_that_is_not_one_valid_number_is_refused_as_read(text: str, raw: str) -> None:
    parsed = split_phone_and_reason(text, REGION)

    assert parsed.e164 is None
    assert parsed.problem is PhoneProblem.INVALID
    assert parsed.raw == raw


@pytest.mark.parametrize(
    "text",
    ["Ligar para 11 98765-4321 amanhã cedo", "cliente: 11 98765-4321", "Oi! 11987654321", "#11 98765-4321"],
)
def test_a_number_not_at_the_start_is_never_searched_for(text: str) -> None:
    # Before issue 10 a number anywhere in the text was used.
    parsed = split_phone_and_reason(text, REGION)

    assert parsed.e164 is None
    assert parsed.problem is PhoneProblem.MISSING


@pytest.mark.parametrize(
    ("text", "raw", "rest"),
    [
        ("11 3333-4444, 2 pedidos", "11 3333-4444", "2 pedidos"),
        ("+55 11 3333-4444: 10 caixas", "+55 11 3333-4444", "10 caixas"),
    ],
)
def test_landline_followed_by_a_separated_reason_is_reported_as_landline(text: str, raw: str, rest: str) -> None:
    parsed = split_phone_and_reason(text, REGION)

    assert parsed.problem is PhoneProblem.NOT_MOBILE
    assert parsed.raw == raw
    assert parsed.rest == rest


def test_a_run_longer_than_any_number_is_refused_unread() -> None:
    parsed = split_phone_and_reason("1 " * 100_000 + "oi", REGION)

    assert parsed.e164 is None
    assert parsed.problem is PhoneProblem.INVALID
    assert parsed.raw == ("1 " * 20)[: PHONE_MAX_CHARS - 1] + "…"
    assert parsed.rest == ""


def test_spaces_after_the_number_do_not_count_towards_its_length() -> None:
    parsed = split_phone_and_reason("+55 (11) 98765-4321" + " " * 100 + "-" + " " * 100 + "oi", REGION)

    assert parsed.e164 == E164
    assert parsed.rest == "oi"


def test_a_number_of_exactly_the_longest_length_is_read_and_a_longer_one_is_refused_unread() -> None:
    longest = "+55" + " " * (PHONE_MAX_CHARS - 14) + "11987654321"
    longer = "+55" + " " * (PHONE_MAX_CHARS - 13) + "11987654321"
    assert (len(longest), len(longer)) == (PHONE_MAX_CHARS, PHONE_MAX_CHARS + 1)

    assert split_phone_and_reason(longest + " oi", REGION).e164 == E164
    parsed = split_phone_and_reason(longer + " oi", REGION)
    assert (parsed.problem, parsed.raw) == (PhoneProblem.INVALID, longer[: PHONE_MAX_CHARS - 1] + "…")


@pytest.mark.parametrize(
    "text",
    [
        "tel:+5511987654321 2 pedidos",
        "tel:11987654321 2 pedidos",
        "TEL:+55-11-98765-4321 2 pedidos",
        "wa.me/5511987654321 2 pedidos",
        "https://wa.me/5511987654321 2 pedidos",
        "http://wa.me/+5511987654321 2 pedidos",
        "https://wa.me/5511987654321?text=Oi%20tudo%20bem 2 pedidos",
        "HTTPS://WWW.WA.ME/5511987654321/ 2 pedidos",
        "https://api.whatsapp.com/send?phone=5511987654321&text=oi 2 pedidos",
        "https://api.whatsapp.com/send/?type=phone_number&phone=5511987654321 2 pedidos",
    ],
)
def test_tel_and_whatsapp_links_are_read_as_one_token(text: str) -> None:
    parsed = split_phone_and_reason(text, REGION)

    assert parsed.problem is None
    assert parsed.e164 == E164
    assert parsed.rest == "2 pedidos"


@pytest.mark.parametrize("invisible", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u202c"])
def test_invisible_characters_are_ignored_in_the_number_and_stripped_from_the_reason(invisible: str) -> None:
    text = f"{invisible}+55 11{invisible} 98765-{invisible}4321{invisible} Po{invisible}demos ligar?{invisible}"
    parsed = split_phone_and_reason(text, REGION)

    assert parsed.e164 == E164
    assert parsed.rest == "Podemos ligar?"


def test_a_number_copied_from_whatsapp_with_bidi_marks_is_read() -> None:
    # WhatsApp wraps copied numbers in LEFT-TO-RIGHT EMBEDDING … POP DIRECTIONAL FORMATTING.
    parsed = split_phone_and_reason("\u202a+55 11 98765-4321\u202c Oi", REGION)

    assert (parsed.e164, parsed.rest, parsed.raw) == (E164, "Oi", "+55 11 98765-4321")


@pytest.mark.parametrize("reason", ["\u200b", "\u200e\u200f \u2066\u2069", "\ufeff\u00ad", " \u2060 "])
def test_a_reason_of_only_invisible_characters_is_empty(reason: str) -> None:
    assert split_phone_and_reason(f"11 98765-4321 {reason}", REGION).rest == ""


def test_every_format_and_control_character_is_stripped() -> None:
    hidden = [
        chr(cp)
        for cp in range(sys.maxunicode + 1)
        if unicodedata.category(chr(cp)) in ("Cf", "Cc")
        and chr(cp) not in "\t\n\r\u200d"
        and not 0xE0020 <= cp <= 0xE007F
    ]

    assert len(hidden) > 100
    assert strip_invisible("a" + "".join(hidden) + "b") == "ab"
    assert strip_invisible("a\tb\nc\r\n") == "a\tb\nc\r\n"


@pytest.mark.parametrize(
    "visible",
    [
        "👩\u200d💻",  # woman technologist
        "❤\ufe0f\u200d🔥",  # heart on fire
        "👨\U0001f3fd\u200d🦰",  # man, medium skin tone, red hair
        "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # flag of Scotland
    ],
)
def test_joiners_and_tags_inside_an_emoji_are_kept(visible: str) -> None:
    assert strip_invisible(f"ok {visible}!") == f"ok {visible}!"
    assert split_phone_and_reason(f"11 98765-4321 {visible}", REGION).rest == visible


@pytest.mark.parametrize("stray", ["a\u200db", "\u200d👍", "👍\u200d", "a\U000e0067\U000e007f", "\u200d\u200d"])
def test_a_joiner_or_tag_outside_an_emoji_is_stripped(stray: str) -> None:
    assert strip_invisible(stray) == "".join(ch for ch in stray if ch in "ab👍")


@pytest.mark.parametrize(
    "written", ["11 98765-4321", "tel:+5511987654321", "https://wa.me/5511987654321", "\u202a+55 11 98765-4321\u202c"]
)
def test_a_phone_field_holding_only_the_number_is_read(written: str) -> None:
    parsed = read_phone_field(f"  {written}  ", REGION)

    assert (parsed.e164, parsed.problem) == (E164, None)


@pytest.mark.parametrize(
    ("written", "problem", "raw"),
    [
        ("11 98765-4321 ramal 2", PhoneProblem.INVALID, "11 98765-4321 ramal 2"),
        ("11 98765-4321 2", PhoneProblem.INVALID, "11 98765-4321 2"),
        ("Maria 11 98765-4321", PhoneProblem.MISSING, ""),
        ("1" * 5000, PhoneProblem.INVALID, "1" * (PHONE_MAX_CHARS - 1) + "…"),
    ],
)
def test_a_phone_field_with_anything_else_is_refused(written: str, problem: PhoneProblem, raw: str) -> None:
    parsed = read_phone_field(written, REGION)

    assert parsed.e164 is None
    assert parsed.problem is problem
    assert parsed.raw == raw


def test_a_number_libphonenumber_would_rewrite_is_refused() -> None:
    # In Argentina `011 15 2345-6789` is dialled as +54 9 11 2345-6789: not the typed digits. Refusing
    # is the safe side; the international spelling is accepted.
    assert parse_phone("011 15 2345-6789", "AR") == (None, PhoneProblem.INVALID)
    assert parse_phone("+54 9 11 2345-6789", "AR") == ("+5491123456789", None)


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


# --- edges the mutation run (tests/MUTATION.md) found unchecked --------------------------------------------------
def test_nothing_phone_like_is_missing_and_the_whole_text_is_the_rest() -> None:
    assert split_phone_and_reason("", "BR") == PhoneParse(None, "", PhoneProblem.MISSING)
    assert split_phone_and_reason("olá, tudo bem?", "BR") == PhoneParse(None, "olá, tudo bem?", PhoneProblem.MISSING)


def test_a_lone_last_digit_group_is_refused_and_the_reason_kept() -> None:
    parsed = split_phone_and_reason("11 98765-4321 2, pedidos", "BR")
    assert parsed == PhoneParse(None, "pedidos", PhoneProblem.INVALID, raw="11 98765-4321 2")


def test_a_form_field_with_words_after_the_number_keeps_no_rest() -> None:
    assert read_phone_field("11 98765-4321 amanhã", "BR") == PhoneParse(
        None, "", PhoneProblem.INVALID, raw="11 98765-4321 amanhã"
    )


def test_a_refused_run_of_exactly_the_longest_length_is_shown_whole() -> None:
    run = "1" * PHONE_MAX_CHARS
    assert read_phone_field(run, "BR") == PhoneParse(None, "", PhoneProblem.INVALID, raw=run)


def test_a_link_number_of_the_longest_length_with_trailing_punctuation_is_read() -> None:
    number = "+5" + "-" * 15 + "-".join("511987654321")  # 40 characters, then a full stop
    assert len(number) == PHONE_MAX_CHARS
    parsed = split_phone_and_reason(f"tel:{number}. motivo", "BR")
    assert (parsed.e164, parsed.rest, parsed.problem) == ("+5511987654321", "motivo", None)


def test_customer_key_folds_only_an_eleven_digit_brazilian_mobile() -> None:
    assert customer_key("+55 11 99123-4567") == "551191234567"
    assert customer_key("+55 11 9123-4567") == "551191234567"  # ten digits: nothing to fold, even after a 9


def test_log_phone_of_seven_digits_shows_the_first_two_and_last_four() -> None:
    assert log_phone("1234567") == "+12•4567"


def test_ascii_control_characters_are_removed_not_replaced() -> None:
    assert strip_invisible("a\x00b\x07c\x7f") == "abc"
