"""What a rep typed → a phone number and a reason, or the problems to show them."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.phones import PhoneProblem, parse_phone, split_phone_and_reason
from bot.slack.messages import REASON_MAX_LENGTH

PHONE_FIELD = "phone"
REASON_FIELD = "reason"

_PHONE_MESSAGES = {
    PhoneProblem.MISSING: "error.phone_missing",
    PhoneProblem.INVALID: "error.phone_invalid",
    PhoneProblem.NOT_MOBILE: "error.phone_not_mobile",
}


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
        problems.append(_phone_problem(parsed.problem, parsed.raw))
    problems += _reason_problems(parsed.rest)
    if problems or parsed.e164 is None:
        return problems
    return ValidInput(parsed.e164, parsed.rest)


def from_fields(phone: str, reason: str, region: str) -> ValidInput | list[Problem]:
    e164, problem = parse_phone(phone.strip(), region)
    problems: list[Problem] = []
    if problem is not None:
        problems.append(_phone_problem(problem, phone.strip()))
    problems += _reason_problems(reason.strip())
    if problems or e164 is None:
        return problems
    return ValidInput(e164, reason.strip())


def _phone_problem(problem: PhoneProblem, raw: str) -> Problem:
    # The raw text is shown back inside a code span; keep it short and free of backticks.
    shown = raw.replace("`", "'")[:40]
    return Problem(PHONE_FIELD, _PHONE_MESSAGES[problem], {"raw": shown})


def _reason_problems(reason: str) -> list[Problem]:
    if len(reason) > REASON_MAX_LENGTH:
        return [Problem(REASON_FIELD, "error.reason_too_long", {"length": len(reason), "limit": REASON_MAX_LENGTH})]
    return []
