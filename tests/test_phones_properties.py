"""Properties of reading a phone number from what a rep typed (bot/phones.py), checked with hypothesis.

1. A number accepted from text is the number its digits spell, modulo formatting, the default
   country code and dialling prefixes: never a number found inside or beside them.
2. Any single-digit insertion or deletion into a valid mobile is refused, or read as exactly the
   typed digits: never another number.
3. Reading is linear: the Python work is the same for any length of text (counted in lines
   executed, see tests/opcount.py), libphonenumber is called at most once and only on a short
   string; what remains are single C-level passes over the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat

from bot.phones import MOBILE_TYPES, PHONE_MAX_CHARS, PhoneParse, digits, split_phone_and_reason
from tests.opcount import python_lines

REGION = "BR"
# Deterministic (the same examples on every run), no example database on disk, no timing: the
# project never asserts on wall-clock time.
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
CHEAP_PROPERTY = settings(PROPERTY, max_examples=1000)
# Brazilian area codes (DDD) in use.
BR_AREAS = [
    *range(11, 20), 21, 22, 24, 27, 28, *range(31, 36), 37, 38, *range(41, 47), 47, 48, 49, 51, 53, 54, 55,
    *range(61, 70), 71, 73, 74, 75, 77, 79, *range(81, 90), *range(91, 100),
]  # fmt: skip
FOREIGN = ["PT", "US", "GB", "DE", "FR", "AR", "MX", "IN", "ES", "IT", "AT", "CO"]
INVISIBLE = ["\u200b", "\u200c", "\u200e", "\u200f", "\u202a", "\u202c", "\u2060", "\u2066", "\ufeff", "\u00ad"]
# What may sit inside a written number (`+55 (11) 98765-4321`), and what may not.
PHONE_PUNCTUATION = "+()./- \t\u00a0"
PHONEISH_RUN = re.compile(r"[0-9+()./\- \t\u00a0\u2007\u202f]*")


def is_mobile(number: phonenumbers.PhoneNumber) -> bool:
    return phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in MOBILE_TYPES


@st.composite
def br_mobiles(draw: st.DrawFn) -> phonenumbers.PhoneNumber:
    area = draw(st.sampled_from(BR_AREAS))
    subscriber = draw(st.from_regex(r"9[6-9][0-9]{7}", fullmatch=True))
    number = phonenumbers.parse(f"+55{area}{subscriber}")
    return number


@st.composite
def foreign_mobiles(draw: st.DrawFn) -> phonenumbers.PhoneNumber:
    region = draw(st.sampled_from(FOREIGN))
    example_number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    national = phonenumbers.national_significant_number(example_number)
    tail = draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    return phonenumbers.parse(f"+{example_number.country_code}{national[:-3]}{tail}")


mobiles = st.one_of(br_mobiles(), foreign_mobiles()).filter(is_mobile)


@st.composite
def written(draw: st.DrawFn, number: phonenumbers.PhoneNumber) -> str:
    """How a person may write `number`: libphonenumber's formats, bare digits, or any grouping."""
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    styles = [
        e164,
        phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
        "+" + " ".join(draw(_groups(e164[1:]))),
    ]
    if number.country_code == 55:  # national spellings read with the default region
        national = phonenumbers.national_significant_number(number)
        styles += [
            phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL),
            national,
            "55" + national,
            "0" + national,
            f"({national[:2]}) {national[2:7]}-{national[7:]}",
            " ".join(draw(_groups(national))),
        ]
    return draw(st.sampled_from(styles))


def _groups(spelled: str) -> st.SearchStrategy[list[str]]:
    """`spelled` cut into groups of 2 to 5 digits (people don't end a number with a lone digit)."""

    @st.composite
    def cut(draw: st.DrawFn) -> list[str]:
        groups, rest = [], spelled
        while len(rest) > 5:
            size = draw(st.integers(2, min(5, len(rest) - 2)))
            groups.append(rest[:size])
            rest = rest[size:]
        return [*groups, rest]

    return cut()


@st.composite
def sprinkled(draw: st.DrawFn, text: str) -> str:
    """`text` with invisible characters inserted anywhere."""
    out = []
    for ch in text:
        if draw(st.integers(0, 5)) == 0:
            out.append(draw(st.sampled_from(INVISIBLE)))
        out.append(ch)
    return "".join(out)


@st.composite
def typos(draw: st.DrawFn, spelled: str) -> str:
    """`spelled` with one digit inserted anywhere, or one of its digits deleted."""
    if draw(st.booleans()):
        at = draw(st.integers(0, len(spelled)))
        return spelled[:at] + draw(st.sampled_from("0123456789")) + spelled[at:]
    at = draw(st.sampled_from([i for i, ch in enumerate(spelled) if ch.isdigit()]))
    return spelled[:at] + spelled[at + 1 :]


TYPED = st.sampled_from([*"0123456789", *"0123456789", *PHONE_PUNCTUATION, *",:;\nabx", *INVISIBLE])


@st.composite
def messy_texts(draw: st.DrawFn) -> str:
    """Anything a rep might type: random characters around a written number, or a typo of one."""
    spelled = draw(written(draw(mobiles)))
    if draw(st.booleans()):
        spelled = draw(typos(spelled))
    return draw(st.text(alphabet=TYPED, max_size=6)) + spelled + draw(st.text(alphabet=TYPED, max_size=20))


reasons = st.text(
    alphabet=st.sampled_from([*"abcdeãçé 0123456789,.:-!?()😀", "\n"]),
    max_size=40,
).map(str.strip)


def _spells(typed: str, plus: bool, e164: str) -> bool:
    """Do the typed digits spell `e164`, modulo the default country code and dialling prefixes?

    The national number must be exactly what the digits end with; before it may stand only an
    international prefix (00, 00 + carrier), the country code (needed unless it is Brazil's, and
    first when `+` was typed), a national prefix (0, 90) and a carrier code after it.
    """
    number = phonenumbers.parse(e164)
    national = phonenumbers.national_significant_number(number)
    if not typed.endswith(national):
        return False
    prefix = typed[: len(typed) - len(national)]
    country = str(number.country_code)
    trunk = r"(?:(?:0|90)(?:[0-9]{2})?)?"
    if plus:
        return re.fullmatch(country + trunk, prefix) is not None
    return re.fullmatch(rf"(?:00(?:[0-9]{{2}})?)?{country}{trunk}", prefix) is not None or (
        country == "55" and re.fullmatch(trunk, prefix) is not None
    )


def _assert_read_exactly(text: str, parsed: PhoneParse) -> None:
    """An accepted number is all of the leading phone-looking run, and is what its digits spell."""
    assert parsed.e164 is not None
    cleaned = "".join(ch for ch in text if ch not in INVISIBLE).strip()
    assert cleaned.startswith(parsed.raw)
    after = PHONEISH_RUN.match(cleaned, len(parsed.raw))
    assert after is not None and not digits(after.group()), "digits of the run were left out of the number"
    assert _spells(digits(parsed.raw), "+" in parsed.raw, parsed.e164), (parsed.raw, parsed.e164)


# --- 1. a number accepted is the number the digits spell -------------------------------------------


@PROPERTY
@given(data=st.data(), number=mobiles, reason=reasons, separator=st.sampled_from([", ", ": ", "; ", "\n", " — "]))
def test_a_written_mobile_is_read_as_itself_and_the_reason_after_a_separator_is_kept(
    data: st.DataObject, number: phonenumbers.PhoneNumber, reason: str, separator: str
) -> None:
    spelled = data.draw(written(number))
    text = data.draw(sprinkled(spelled + (separator + reason if reason else "")))

    parsed = split_phone_and_reason(text, REGION)

    assert parsed.problem is None, (text, parsed)
    assert parsed.e164 == phonenumbers.format_number(number, PhoneNumberFormat.E164)
    assert parsed.rest == reason
    _assert_read_exactly(text, parsed)


@PROPERTY
@given(data=st.data(), number=mobiles, reason=st.from_regex(r"[a-zA-Zçã][a-z0-9 ,.!?]{0,30}", fullmatch=True))
def test_a_reason_starting_with_a_letter_needs_no_separator(
    data: st.DataObject, number: phonenumbers.PhoneNumber, reason: str
) -> None:
    text = data.draw(written(number)) + " " + reason

    parsed = split_phone_and_reason(text, REGION)

    assert parsed.e164 == phonenumbers.format_number(number, PhoneNumberFormat.E164)
    assert parsed.rest == reason.strip()


@CHEAP_PROPERTY
@given(text=st.one_of(st.text(alphabet=TYPED), messy_texts()))
@example("11987654321 2 pedidos")
@example("+55 11 98765-43210 oi")
@example("2 11987654321 oi")
def test_any_text_accepted_is_read_exactly(text: str) -> None:
    parsed = split_phone_and_reason(text, REGION)

    if parsed.e164 is not None:
        _assert_read_exactly(text, parsed)


# --- 2. one digit too many or too few ---------------------------------------------------------------


@PROPERTY
@given(
    data=st.data(),
    number=mobiles,
    tail=st.sampled_from(["", " oi", " Podemos ligar?", ", 2 pedidos", "\n3 caixas", " 2 pedidos", " 10 caixas"]),
)
def test_a_digit_too_many_or_too_few_is_refused_or_read_as_typed(
    data: st.DataObject, number: phonenumbers.PhoneNumber, tail: str
) -> None:
    typo = data.draw(typos(data.draw(written(number))))
    text = typo + tail

    parsed = split_phone_and_reason(text, REGION)

    if parsed.e164 is not None:
        _assert_read_exactly(text, parsed)
        assert digits(parsed.raw).startswith(digits(typo)), "a typed digit of the number was dropped"


@PROPERTY
@given(data=st.data(), number=br_mobiles().filter(is_mobile), first=st.sampled_from("0123456789"))
def test_a_br_mobile_missing_a_digit_is_refused_even_when_the_reason_starts_with_one(
    data: st.DataObject, number: phonenumbers.PhoneNumber, first: str
) -> None:
    spelled = data.draw(written(number))
    at = data.draw(st.sampled_from([i for i, ch in enumerate(spelled) if ch.isdigit()]))
    text = f"{spelled[:at]}{spelled[at + 1 :]} {first} pedidos"

    parsed = split_phone_and_reason(text, REGION)

    assert parsed.e164 is None, (text, parsed)


# --- 3. linear: the same work for any length ------------------------------------------------------


@contextmanager
def counting_parse() -> Iterator[list[str]]:
    """Record what libphonenumber's parser is asked to read."""
    seen: list[str] = []
    real = phonenumbers.parse

    def parse(number: str, region: str | None = None, *args: object, **kwargs: object) -> phonenumbers.PhoneNumber:
        seen.append(number)
        return real(number, region, *args, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(phonenumbers, "parse", parse)
        yield seen


def _work(text: str) -> int:
    with python_lines("bot", "phonenumbers") as count:
        split_phone_and_reason(text, REGION)
    return count.lines


@PROPERTY
@given(
    chunk=st.text(
        alphabet=st.sampled_from([*"0123456789 +()-./,:x\n", "\u200b", "\u200d", "😀"]), min_size=1, max_size=8
    ),
    start=st.sampled_from(["", "+55 11 98765-4321 ", "tel:", "https://wa.me/55", "11 98765-4321, "]),
    copies=st.integers(1, 200_000),
)
def test_reading_does_the_same_python_work_for_any_length(chunk: str, start: str, copies: int) -> None:
    text = start + chunk * copies
    short = start + chunk * 3
    _work(short)  # libphonenumber loads a region's metadata on first use

    with counting_parse() as parsed:
        long_work = _work(text)
    short_work = _work(short)

    assert len(parsed) <= 1
    assert all(len(number) <= PHONE_MAX_CHARS + 1 for number in parsed)
    # What libphonenumber does with one short string varies a little with the string; nothing
    # grows with the length of the text.
    assert long_work <= max(short_work, 80) + 800, (len(text), long_work, short_work)


@pytest.mark.parametrize(
    "unit",
    ["1 ", "9", "11 98765-4321 ", "a", "\u200b", "-", "(", " "],
)
def test_the_work_is_flat_from_a_kilobyte_to_a_megabyte(unit: str) -> None:
    sizes = [1_000, 10_000, 100_000, 1_000_000]
    works = []
    for size in sizes:
        text = "11 98765-4321 " + unit * (size // len(unit))
        _work(text)
        works.append(_work(text))

    assert works == [works[0]] * len(sizes), dict(zip(sizes, works, strict=True))
