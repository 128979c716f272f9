"""Message catalogue lookup: `Translator("pt-BR").t("help")`, and the catalogue language a browser asks for
(`browser_language`: its Accept-Language, q-values honoured; any header, however odd, gives a language).

At the bottom of the layers (pyproject.toml), with bot.phones: it imports nothing else of AskCall.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.i18n.catalog import CATALOG

LANGUAGES = ("pt-BR", "en")
DEFAULT_LANGUAGE = "pt-BR"


def normalize_language(value: str | None, fallback: str = DEFAULT_LANGUAGE) -> str:
    """Map `pt_BR`, `pt-br`, `pt`, `en-US`, … onto a supported catalogue language."""
    if not value:
        return fallback
    lowered = value.replace("_", "-").lower()
    if lowered.startswith("pt"):
        return "pt-BR"
    if lowered.startswith("en"):
        return "en"
    return fallback


# Accept-Language entries read (the first ones: a browser sends a handful) and the longest one looked at.
MAX_ACCEPTED = 20
MAX_ENTRY = 100


def browser_language(accept_language: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """The catalogue language (pt-BR or en) the browser prefers most by q-value (the earlier on a tie), else
    `default`. Entries that name neither, malformed q-values and q=0 ("not this one") are skipped."""
    best: tuple[float, int, str] | None = None
    for position, entry in enumerate((accept_language or "")[: MAX_ACCEPTED * MAX_ENTRY].split(",")[:MAX_ACCEPTED]):
        tag, *params = (part.strip() for part in entry[:MAX_ENTRY].split(";"))
        quality: float | None = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                quality = _quality(value.strip())
        primary = tag.split("-")[0].lower()
        if quality is None or quality <= 0 or primary not in ("pt", "en"):
            continue
        if best is None or (quality, -position) > (best[0], best[1]):
            best = (quality, -position, normalize_language(tag))
    return best[2] if best else default


def _quality(value: str) -> float | None:
    """An RFC 9110 qvalue (0 to 1, at most three decimals); None when it is not one."""
    if not value or len(value) > 5 or not all(c.isdigit() or c == "." for c in value):
        return None
    try:
        quality = float(value)
    except ValueError:
        return None
    return quality if 0 <= quality <= 1 else None


@dataclass(frozen=True)
class Translator:
    lang: str = DEFAULT_LANGUAGE

    def t(self, key: str, **values: object) -> str:
        entry = CATALOG[key]
        template = entry.get(self.lang) or entry[DEFAULT_LANGUAGE]
        return template.format(**values) if values else template
