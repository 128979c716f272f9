"""Message catalogue lookup: `Translator("pt-BR").t("help")`.

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


@dataclass(frozen=True)
class Translator:
    lang: str = DEFAULT_LANGUAGE

    def t(self, key: str, **values: object) -> str:
        entry = CATALOG[key]
        template = entry.get(self.lang) or entry[DEFAULT_LANGUAGE]
        return template.format(**values) if values else template
