"""The message catalogue and its lookup (bot/i18n)."""

from __future__ import annotations

import string

import pytest

from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES, Translator, normalize_language
from bot.i18n.catalog import CATALOG


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def test_supported_languages() -> None:
    assert LANGUAGES == ("pt-BR", "en")
    assert DEFAULT_LANGUAGE == "pt-BR"


@pytest.mark.parametrize("key", sorted(CATALOG))
def test_every_key_has_both_languages_non_empty(key: str) -> None:
    entry = CATALOG[key]

    assert set(entry) == {"pt-BR", "en"}
    for lang in LANGUAGES:
        assert isinstance(entry[lang], str)
        assert entry[lang].strip(), f"{key}/{lang} is empty"


@pytest.mark.parametrize("key", sorted(CATALOG))
def test_both_languages_use_the_same_placeholders(key: str) -> None:
    entry = CATALOG[key]

    assert placeholders(entry["pt-BR"]) == placeholders(entry["en"])


@pytest.mark.parametrize("key", sorted(CATALOG))
def test_every_entry_formats_in_both_languages(key: str) -> None:
    values = {name: f"<{name}>" for name in placeholders(CATALOG[key]["pt-BR"])}

    for lang in LANGUAGES:
        text = Translator(lang).t(key, **values)
        assert "{" not in text.replace("{date_short_pretty}", "")
        for value in values.values():
            assert value in text


def test_placeholders_helper_sees_fields() -> None:
    # Guards the helper itself: a broken helper would make the comparison above vacuous.
    assert placeholders("a {x} b {y}") == {"x", "y"}
    assert placeholders("no fields") == set()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("pt-BR", "pt-BR"),
        ("pt_BR", "pt-BR"),
        ("pt-br", "pt-BR"),
        ("pt", "pt-BR"),
        ("PT", "pt-BR"),
        ("pt-PT", "pt-BR"),
        ("en", "en"),
        ("en-US", "en"),
        ("en_GB", "en"),
        ("EN", "en"),
    ],
)
def test_normalize_language_maps_locales(value: str, expected: str) -> None:
    assert normalize_language(value) == expected


@pytest.mark.parametrize("value", ["fr", "fr-FR", "es", "de_DE", "", None])
def test_normalize_language_falls_back(value: str | None) -> None:
    assert normalize_language(value) == "pt-BR"
    assert normalize_language(value, fallback="en") == "en"
    assert normalize_language(value, fallback="") == ""


def test_translator_uses_the_requested_language() -> None:
    assert Translator("en").t("modal.title") == "Ask to call"
    assert Translator("pt-BR").t("modal.title") == "Pedir para ligar"


def test_translator_defaults_to_pt_br() -> None:
    assert Translator().t("status.denied") == CATALOG["status.denied"]["pt-BR"]


@pytest.mark.parametrize("lang", ["fr", "xx", ""])
def test_translator_falls_back_to_pt_br_for_unknown_language(lang: str) -> None:
    tr = Translator(lang)

    assert tr.t("help") == CATALOG["help"]["pt-BR"]
    assert tr.t("parent.reason", reason="oi") == "Motivo: oi"


def test_translator_formats_values() -> None:
    text = Translator("en").t("error.reason_too_long", length=1025, limit=1024)

    assert text == "The reason is 1025 characters long; WhatsApp accepts at most 1024. Please shorten it."


def test_translator_unknown_key_raises() -> None:
    with pytest.raises(KeyError):
        Translator("en").t("no.such.key")
