"""Phone numbers: parse what a rep typed, normalise to E.164, match webhook numbers, mask for display.

Brazilian mobiles gained a ninth digit (a leading 9) years ago, but WhatsApp ids created before
that can still lack it, so `+55 31 98888-7777` may come back from WhatsApp as `553188887777`.
`customer_key` folds both spellings (and `+`/no `+`) into one key used for correlation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
# Characters a person uses when writing a phone number.
_PHONE_TOKEN = re.compile(r"^[+()\d.\-/]+$")
_MASK = "•"


class PhoneProblem(Enum):
    MISSING = "missing"
    INVALID = "invalid"
    NOT_MOBILE = "not_mobile"


@dataclass(frozen=True)
class PhoneParse:
    """Outcome of reading a phone number from free text: either `e164` or a `problem`."""

    e164: str | None
    rest: str
    problem: PhoneProblem | None = None
    raw: str = ""


def parse_phone(raw: str, region: str) -> tuple[str | None, PhoneProblem | None]:
    """Parse one written phone number; return its E.164 form or why it is not usable."""
    if not re.search(r"\d", raw or ""):
        return None, PhoneProblem.MISSING
    try:
        number = phonenumbers.parse(raw, region)
    except NumberParseException:
        return None, PhoneProblem.INVALID
    if not phonenumbers.is_valid_number(number):
        return None, PhoneProblem.INVALID
    if phonenumbers.number_type(number) not in MOBILE_TYPES:
        return None, PhoneProblem.NOT_MOBILE
    return phonenumbers.format_number(number, PhoneNumberFormat.E164), None


def split_phone_and_reason(text: str, region: str) -> PhoneParse:
    """Split `/askcall` text into a phone number and the reason that follows it.

    The number comes first and may contain spaces (`+55 (11) 98765-4321`), so try the longest run
    of phone-looking tokens first and shrink it until it parses; the reason may itself start with
    digits (`11987654321 2 pedidos`). Failing that, accept a number written anywhere in the text.
    """
    text = (text or "").strip()
    tokens = text.split()
    prefix_len = 0
    while prefix_len < len(tokens) and _PHONE_TOKEN.match(tokens[prefix_len]):
        prefix_len += 1
    failure: PhoneParse | None = None
    for end in range(prefix_len, 0, -1):
        candidate = " ".join(tokens[:end])
        e164, problem = parse_phone(candidate, region)
        rest = _rest_after(text, tokens[:end])
        if e164:
            return PhoneParse(e164=e164, rest=rest, raw=candidate)
        # A real number that is not a mobile (`11 3333-4444 2 pedidos`) explains the input better
        # than "invalid" for the longest run, which swallowed the start of the reason.
        if failure is None or (problem is PhoneProblem.NOT_MOBILE and failure.problem is not PhoneProblem.NOT_MOBILE):
            failure = PhoneParse(None, rest, problem or PhoneProblem.INVALID, raw=candidate)
    match = _first_match_anywhere(text, region)
    if match is not None:
        return match
    if failure is not None:
        return failure
    return PhoneParse(None, text, PhoneProblem.MISSING)


def _rest_after(text: str, consumed: list[str]) -> str:
    position = 0
    for token in consumed:
        position = text.index(token, position) + len(token)
    return text[position:].strip()


def _first_match_anywhere(text: str, region: str) -> PhoneParse | None:
    for match in phonenumbers.PhoneNumberMatcher(text, region):
        e164, problem = parse_phone(match.raw_string, region)
        rest = (text[: match.start] + " " + text[match.end :]).strip()
        rest = re.sub(r"\s{2,}", " ", rest)
        if e164:
            return PhoneParse(e164=e164, rest=rest, raw=match.raw_string)
        return PhoneParse(None, rest, problem, raw=match.raw_string)
    return None


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
