"""Parsers of setting values: a variable's name and its text in, the typed value out.

Invariant: a value that isn't right is refused, never guessed or silently replaced by a default: the
ConfigError names the variable, says what is wrong and gives an example of a right value. Secrets are
never quoted back (only what kind of value was given). Settings (bot.config) read the environment with
these; anything else that reads settings (per-workspace settings, say) can use the same ones.

At the bottom of the layers (pyproject.toml): it imports nothing of AskCall.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
# Slack ids: a letter for the kind, then upper-case letters and digits (C0123456789, U0123456789, S0123456789).
SLACK_ID_KINDS = {
    "channel": ("CG", "C0123456789", "open the channel, click its name: the id is at the bottom of About"),
    "user": ("UW", "U0123456789", "open the person's profile, ⋮ → Copy member ID"),
    "usergroup": ("S", "S0123456789", "the user group's id, from its page in the workspace's People → User groups"),
}


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the variable and how to fix it."""


def refused(name: str, text: str, what: str, example: str) -> ConfigError:
    """`NAME='text' what, e.g. NAME=example`: the shape of every refusal here."""
    return ConfigError(f"{name}={text!r} {what}, e.g. {name}={example}")


def choice(name: str, text: str, options: Sequence[str], *, default: str) -> str:
    """One of `options`, matched without regard to case (returned as spelled in `options`)."""
    value = text.strip() or default
    for option in options:
        if value.lower() == option.lower():
            return option
    raise refused(name, value, f"is not one of {', '.join(options)}", default)


def log_level(name: str, text: str) -> str:
    value = text.strip()
    return "WARNING" if value.upper() == "WARN" else choice(name, value, LOG_LEVELS, default="INFO")


def boolean(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise refused(name, text.strip(), "is neither on (1, true, yes) nor off (0, false, no)", "1")


def whole_number(name: str, text: str, *, low: int, high: int, default: int, unit: str = "") -> int:
    value = text.strip() or str(default)
    if not value.isdigit() or not low <= int(value) <= high:
        raise refused(
            name, value, f"must be a whole number{f' of {unit}' if unit else ''} from {low} to {high}", str(default)
        )
    return int(value)


def seconds(name: str, text: str, *, low: float, high: float, default: float) -> float:
    value = text.strip() or f"{default:g}"
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not low <= number <= high:  # NaN compares false: refused too
        raise refused(name, value, f"must be a number of seconds from {low:g} to {high:g}", f"{default:g}")
    return number


def port(name: str, text: str, *, default: int | None = None, example: int = 3000) -> int | None:
    """A TCP port from 1 to 65535 (0 for PORT: any free one); None when unset and there is no default."""
    value = text.strip()
    if not value:
        return default
    low = 0 if default is not None else 1
    if not value.isdigit() or not low <= int(value) <= 65535:
        raise refused(name, value, f"is not a port number ({low} to 65535)", str(example))
    return int(value)


def host(name: str, text: str, *, default: str) -> str:
    """An IP address or a host name to listen on (whether this machine has it is found when binding)."""
    value = text.strip() or default
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        if not _HOST_NAME.match(value):
            raise refused(
                name, value, "is not an IP address or host name to listen on (0.0.0.0: every interface)", default
            ) from None
    return value.strip("[]")


def url(name: str, text: str, *, example: str, schemes: Sequence[str] = ("https", "http")) -> str:
    """An absolute URL of one of `schemes`, with a host, and no query or fragment."""
    value = text.strip()
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
    except ValueError:
        parts, hostname = None, None
    if parts is None or parts.scheme not in schemes:
        raise refused(name, value, f"must start with {' or '.join(s + '://' for s in schemes)}", example)
    if not hostname:
        raise refused(name, value, "has no host name", example)
    if parts.query or parts.fragment:
        raise refused(name, value, "must not have a query (?…) or fragment (#…)", example)
    return value


def slack_ids(name: str, text: str, kind: str) -> frozenset[str]:
    """A comma-separated list of Slack ids of one kind (channel, user, usergroup); names are refused."""
    letters, example, where = SLACK_ID_KINDS[kind]
    ids = [part.strip() for part in text.split(",") if part.strip()]
    for value in ids:
        if not (len(value) > 1 and value[0] in letters and value.isascii() and value.isalnum() and value.isupper()):
            shown = (
                f"a {kind} name, not its id" if value[0] in "#@" or not value.isupper() else f"not a Slack {kind} id"
            )
            raise ConfigError(
                f"{name}: {value!r} is {shown}: list ids ({where}), e.g. {name}={example},{example[0]}0987654321"
            )
    return frozenset(ids)


def token(name: str, text: str, prefix: str, what: str) -> str:
    """A Slack token of one kind; a different one is named by its kind only (the value is a secret)."""
    value = text.strip()
    if value and not value.startswith(prefix):
        given = f"this one starts with {value.split('-', 1)[0]}-" if "-" in value[:6] else "this one doesn't"
        raise ConfigError(f"{name} must be {what}, which starts with {prefix} (e.g. {name}={prefix}1-2-abc): {given}")
    return value
