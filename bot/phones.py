"""Phone numbers: read what a rep typed, normalise to E.164, match webhook numbers, mask for display.

Invariant of reading: the number AskCall accepts is exactly the number the typed digits spell,
modulo formatting, the default country code and a national/international dialling prefix. The
number is the *whole* leading run of phone-looking characters (digits, spaces, `+()./-`), read in
one bounded pass; it is accepted only if that exact run is one valid mobile number. A run that is
not (a digit too many or too few, a reason glued on) is refused and shown back as read: AskCall
never shrinks it, never looks inside it, and never searches the rest of the text for another
number. So the reason may start with a digit only after a separator (comma, colon, semicolon or a
new line): `11 98765-4321, 2 pedidos`. A link is one token: `tel:+5511987654321`,
`https://wa.me/5511987654321` (and `api.whatsapp.com/send?phone=`) are read up to the next space.
Reading costs O(1) Python work plus single C-level scans of the text, whatever its length: the
run is looked at through a window of `PHONE_MAX_CHARS + 1` characters, and libphonenumber is
called at most once.

Invisible and formatting characters (Unicode category Cf: zero-width spaces and joiners, bidi
marks, BOM, soft hyphen, …, and control characters other than tab and line breaks) are removed
from the whole text before reading, so they are ignored in the number and stripped from the
reason. Two Cf uses are part of a visible character and stay: a zero-width joiner inside an emoji
sequence (👩‍💻) and the tag characters of a flag emoji (🏴󠁧󠁢󠁳󠁣󠁴󠁿).

Brazilian mobiles gained a ninth digit (a leading 9) years ago, but WhatsApp ids created before
that can still lack it, so `+55 31 98888-7777` may come back from WhatsApp as `553188887777`.
`customer_key` folds both spellings (and `+`/no `+`) into one key used for correlation.

At the bottom of the layers (pyproject.toml), with bot.i18n: it imports nothing else of AskCall.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
# The longest run of phone-looking text read as one number (`+55 (11) 9 8765 - 4321` is 22); a
# longer run is refused without being parsed.
PHONE_MAX_CHARS = 40
# What people write inside a phone number: ASCII digits, `+()./-`, spaces, tabs and no-break spaces.
# A line break, a letter or any other punctuation ends the number. In a link it is one token: no spaces.
_PUNCTUATION = "+()./- \t\u00a0\u2007\u202f"
_LINK_PUNCTUATION = "+()./-"


@dataclass(frozen=True)
class _Shape:
    """How a number is written: `window` reads at most one character more than a number may have,
    `more_digits` tells whether a run that fills the window goes on to another digit."""

    punctuation: str
    window: re.Pattern[str]
    more_digits: re.Pattern[str]


def _shape(punctuation: str) -> _Shape:
    chars = re.escape(punctuation)
    window = re.compile(f"[0-9{chars}]{{0,{PHONE_MAX_CHARS + 1}}}")
    return _Shape(punctuation, window, re.compile(f"[{chars}]*+[0-9]"))


_WRITTEN = _shape(_PUNCTUATION)
_LINK = _shape(_LINK_PUNCTUATION)
_TEL = re.compile(r"tel:", re.IGNORECASE)
_WHATSAPP = re.compile(
    r"(?:https?://)?(?:www\.)?(?:wa\.me/|api\.whatsapp\.com/send/?\?(?:\S*?&)?phone=)", re.IGNORECASE
)
# The rest of a WhatsApp link after its number (`?text=…`), up to the next space.
_LINK_TAIL = re.compile(r"[?/&#]\S*")
# One separator between the number and the reason is dropped: `11 98765-4321, 2 pedidos`.
_SEPARATOR = re.compile(r"\s*(?:[,;:]|[.–—-](?=\s|$))\s*")
_ASCII_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+")
_MASK = "•"
# Around a zero-width joiner that is part of an emoji (👩‍💻, ❤️‍🔥): pictographs, VS16 and skin tones.
_PICTOGRAPH = "\u2100-\u2bff\U0001f000-\U0001faff"
_TAGS = "\U000e0020-\U000e007f"
_WAVING_BLACK_FLAG = "\U0001f3f4"


class PhoneProblem(Enum):
    MISSING = "missing"
    INVALID = "invalid"
    NOT_MOBILE = "not_mobile"


@dataclass(frozen=True)
class PhoneParse:
    """Outcome of reading a phone number from free text: either `e164` or a `problem`.

    `raw` is the number as read, at most `PHONE_MAX_CHARS` characters (what the rep is shown when
    it is refused); `rest` is the text after it, with one separator dropped.
    """

    e164: str | None
    rest: str
    problem: PhoneProblem | None = None
    raw: str = ""


@lru_cache(maxsize=1)
def _invisible() -> re.Pattern[str]:
    """Every Cf character and every control but tab and line breaks, except the visible uses above."""
    kept = {0x200D, *range(0xE0020, 0xE0080), 0x09, 0x0A, 0x0D}
    points = [
        cp for cp in range(sys.maxunicode + 1) if cp not in kept and unicodedata.category(chr(cp)) in ("Cf", "Cc")
    ]
    ranges: list[tuple[int, int]] = []
    for cp in points:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    hidden = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
    return re.compile(
        f"[{hidden}]+"
        f"|(?<![{_PICTOGRAPH}\ufe0f])\u200d|\u200d(?![{_PICTOGRAPH}])"
        f"|(?<![{_WAVING_BLACK_FLAG}{_TAGS}])[{_TAGS}]+"
    )


def strip_invisible(text: str) -> str:
    """`text` without invisible and formatting characters (one C-level pass)."""
    if text.isascii():  # O(1) in CPython; ASCII has controls but no format characters
        return _ASCII_CONTROLS.sub("", text)
    return _invisible().sub("", text)


def parse_phone(raw: str, region: str) -> tuple[str | None, PhoneProblem | None]:
    """Parse one written phone number; return its E.164 form or why it is not usable.

    Only numbers that use every typed digit are accepted: the national number libphonenumber found
    must be what the typed digits end with (what comes before it is a country code or a dialling
    prefix). Callers pass at most `PHONE_MAX_CHARS` characters of phone-looking text.
    """
    typed = digits(raw or "")
    if not typed:
        return None, PhoneProblem.MISSING
    try:
        number = phonenumbers.parse(raw, region)
    except NumberParseException:
        return None, PhoneProblem.INVALID
    if not phonenumbers.is_valid_number(number) or not typed.endswith(phonenumbers.national_significant_number(number)):
        return None, PhoneProblem.INVALID
    if phonenumbers.number_type(number) not in MOBILE_TYPES:
        return None, PhoneProblem.NOT_MOBILE
    return phonenumbers.format_number(number, PhoneNumberFormat.E164), None


def split_phone_and_reason(text: str, region: str) -> PhoneParse:
    """Split `/askcall` text into the phone number it starts with and the reason that follows.

    The number is the whole leading run of phone-looking characters, or a `tel:` / WhatsApp link;
    see the module docstring for why nothing shorter and nothing elsewhere is ever tried.
    """
    text = strip_invisible(text or "").strip()
    if link := _TEL.match(text):
        return _read(text, link.end(), _LINK, region, international=False)
    if link := _WHATSAPP.match(text):
        return _read(text, link.end(), _LINK, region, international=True)
    return _read(text, 0, _WRITTEN, region, international=False)


def read_phone_field(text: str, region: str) -> PhoneParse:
    """Read a form field that holds only a phone number: anything after the number is refused."""
    parsed = split_phone_and_reason(text, region)
    if parsed.rest and parsed.problem is None:
        shown = strip_invisible(text).strip()
        return PhoneParse(None, "", PhoneProblem.INVALID, raw=_shorten(shown))
    return parsed


def _read(text: str, start: int, shape: _Shape, region: str, *, international: bool) -> PhoneParse:
    window = shape.window.match(text, start)
    seen = window.group() if window else ""
    end = start + len(seen.rstrip(shape.punctuation))
    if len(seen) > PHONE_MAX_CHARS and (
        end - start > PHONE_MAX_CHARS or shape.more_digits.match(text, start + len(seen))
    ):
        return _refused(text[: start + PHONE_MAX_CHARS + 1])
    written = text[start:end]
    if not written:
        return PhoneParse(None, text, PhoneProblem.MISSING)
    if international:
        written = written if written.startswith("+") else "+" + written
        if tail := _LINK_TAIL.match(text, end):
            end = tail.end()
    if end < len(text) and text[end].isalnum():
        # A letter (or a digit of another script) glued to the number: `11 98765-432O` is a typo.
        return _refused(text[: end + 1])
    separator = _SEPARATOR.match(text, end)
    rest = text[separator.end() if separator else end :].strip()
    if _ends_with_one_digit_group(written):
        # `1198765432 1 pedido`: a number missing a digit, then a reason starting with a digit,
        # spells a valid number. Nobody writes a number ending in a lone digit: refuse.
        return PhoneParse(None, rest, PhoneProblem.INVALID, raw=_shorten(text[:end]))
    e164, problem = parse_phone(written, region)
    return PhoneParse(e164, rest, problem, raw=_shorten(text[:end]))


def _refused(raw: str) -> PhoneParse:
    """Refused before a reason is looked for (the run is too long, or a letter is glued to it)."""
    return PhoneParse(None, "", PhoneProblem.INVALID, raw=_shorten(raw))


def _ends_with_one_digit_group(written: str) -> bool:
    groups = written.rsplit(None, 1)
    return len(groups) == 2 and len(digits(groups[1])) == 1


def _shorten(raw: str) -> str:
    return raw if len(raw) <= PHONE_MAX_CHARS else raw[: PHONE_MAX_CHARS - 1] + "…"


def digits(phone: str) -> str:
    return re.sub(r"\D", "", phone or "")


def customer_key(phone: str) -> str:
    """A key equal for every spelling of the same customer (E.164 digits, BR 9th digit folded)."""
    d = digits(phone)
    if d.startswith("55"):
        national = d[2:]
        if len(national) == 11 and national[2] == "9":
            return "55" + national[:2] + national[3:]
    return d


def log_phone(phone: str) -> str:
    """`+55•••••••4321`: how logs name a customer. Cheap (no parsing) because every answer logs one,
    and useless to a reader without the data: only the first two and the last four digits show."""
    d = digits(phone)
    if len(d) <= 6:
        return _MASK * len(d)
    return "+" + d[:2] + _MASK * (len(d) - 6) + d[-4:]


# Formatting goes through libphonenumber's parser (~0.1 ms); answers, logs and messages format the
# same few numbers again and again, and the results are pure functions of the input.
@lru_cache(maxsize=4096)
def mask(phone: str) -> str:
    """`+55 11 9••••-4321`: enough for a rep to recognise the customer, useless to anyone else."""
    d = digits(phone)
    if not d:
        return ""
    try:
        number = phonenumbers.parse("+" + d, None)
        formatted = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
        country = str(number.country_code)
    except NumberParseException:
        return "+" + _MASK * max(len(d) - 4, 0) + d[-4:]
    national = d[len(country) :]
    keep_head = 3 if len(national) >= 10 else 1
    visible = country + national[:keep_head]
    hidden = max(len(national) - keep_head - 4, 0)
    masked_digits = visible + _MASK * hidden + national[keep_head + hidden :]
    out, i = [], 0
    for ch in formatted:
        if ch.isdigit() and i < len(masked_digits):
            out.append(masked_digits[i])
            i += 1
        else:
            out.append(ch)
    return "".join(out)


@lru_cache(maxsize=4096)
def display_phone(phone: str, full: bool) -> str:
    """The number as people read it: `+55 11 98765-4321` when `full`, else masked."""
    if not full:
        return mask(phone)
    try:
        return phonenumbers.format_number(
            phonenumbers.parse("+" + digits(phone), None), PhoneNumberFormat.INTERNATIONAL
        )
    except NumberParseException:
        return phone
