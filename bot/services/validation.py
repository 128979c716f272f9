"""What a rep typed → a phone number and a reason, or the problems to show them.

Invariant: a phone is accepted only as `bot.phones` reads it (the whole leading number, never a
number found elsewhere), and a reason is what the customer will read: without invisible
characters, trimmed, at most `REASON_MAX_LENGTH` characters. An empty reason stays empty here;
`RequestService.submit` replaces it with the catalogue's default question.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.phones import PhoneProblem, read_phone_field, split_phone_and_reason, strip_invisible
from bot.slack.messages import REASON_MAX_LENGTH

PHONE_FIELD = "phone"
REASON_FIELD = "reason"

_PHONE_MESSAGES = {
    PhoneProblem.MISSING: "error.phone_missing",
    PhoneProblem.INVALID: "error.phone_invalid",
    PhoneProblem.NOT_MOBILE: "error.phone_not_mobile",
}
# In a command the rep also needs to know where AskCall thinks the number ends.
_COMMAND_PHONE_MESSAGES = {**_PHONE_MESSAGES, PhoneProblem.INVALID: "error.phone_invalid_command"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: which field, which catalogue message, and its values."""

    field: str
    message_key: str
    values: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class ValidInput:
    phone_e164: str
    reason: str  # empty when the rep gave none


def from_command_text(text: str, region: str) -> ValidInput | list[Problem]:
    parsed = split_phone_and_reason(text, region)
    problems: list[Problem] = []
    if parsed.problem is not None:
        problems.append(_phone_problem(_COMMAND_PHONE_MESSAGES[parsed.problem], parsed.raw))
    problems += _reason_problems(parsed.rest)
    if problems or parsed.e164 is None:
        return problems
    return ValidInput(parsed.e164, parsed.rest)


def from_fields(phone: str, reason: str, region: str) -> ValidInput | list[Problem]:
    parsed = read_phone_field(phone, region)
    reason = strip_invisible(reason).strip()
    problems: list[Problem] = []
    if parsed.problem is not None:
        problems.append(_phone_problem(_PHONE_MESSAGES[parsed.problem], parsed.raw))
    problems += _reason_problems(reason)
    if problems or parsed.e164 is None:
        return problems
    return ValidInput(parsed.e164, reason)


def _phone_problem(message_key: str, raw: str) -> Problem:
    # The raw text is shown back inside a code span (bot.phones keeps it short): no backticks, one line.
    shown = raw.replace("`", "'").replace("\n", " ")
    return Problem(PHONE_FIELD, message_key, {"raw": shown})


def _reason_problems(reason: str) -> list[Problem]:
    if len(reason) > REASON_MAX_LENGTH:
        return [Problem(REASON_FIELD, "error.reason_too_long", {"length": len(reason), "limit": REASON_MAX_LENGTH})]
    return []
