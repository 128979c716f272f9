"""The call page's static files (bot/web), read without a browser: CSP-safe, self-contained, every text catalogued."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from bot.i18n.catalog import CATALOG
from bot.web import CALL_PAGE_CSP, CALL_PAGE_FILES, CALL_PAGE_HEADERS, asset, page_strings

STATES = ("idle", "connecting", "ringing", "connected", "ended", "failed")


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_bodies: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.script_bodies.append(data)


@pytest.fixture(scope="module")
def page() -> Page:
    parsed = Page()
    parsed.feed(asset("call.html").decode())
    return parsed


def test_no_inline_script_style_or_handler(page: Page) -> None:
    assert page.script_bodies == []
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert scripts == [{"src": "call.js", "defer": None}]
    assert [attrs["href"] for tag, attrs in page.tags if tag == "link"] == ["call.css"]
    for tag, attrs in page.tags:
        assert tag != "style"
        assert "style" not in attrs, tag
        assert not [name for name in attrs if name.startswith("on")], tag


@pytest.mark.parametrize("name", sorted(CALL_PAGE_FILES))
def test_nothing_comes_from_elsewhere(name: str) -> None:
    text = asset(name).decode()
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/|@import|url\(", text, re.IGNORECASE), name
    assert "eval(" not in text and "new Function" not in text and "innerHTML" not in text


def test_controls_and_state_have_test_ids(page: Page) -> None:
    ids = {attrs.get("data-testid") for _tag, attrs in page.tags}
    assert {"call", "hangup", "mute", "call-state", "timer", "mic-level", "customer", "message"} <= ids
    state = next(attrs for _tag, attrs in page.tags if attrs.get("data-testid") == "call-state")
    assert state.get("aria-hidden") == "true"  # the code is for machines; status-text is what people read


def test_every_text_the_page_uses_is_catalogued_in_both_languages(page: Page) -> None:
    html_keys = {attrs["data-i18n"] for _tag, attrs in page.tags if attrs.get("data-i18n")}
    script = asset("call.js").decode()
    script_keys = {key for call in re.findall(r"\bt\(([^()]*)\)", script) for key in re.findall(r'"([a-z_.]+)"', call)}
    script_keys |= {f"state.{state}" for state in STATES}
    script_keys |= {f"ended.{reason}" for reason in ("completed", "missed", "rejected")}
    script_keys |= set(re.findall(r'"((?:error|ended)\.[a-z_]+)"', script))
    for lang in ("pt-BR", "en"):
        strings = page_strings(lang)
        assert html_keys | script_keys <= set(strings), (lang, (html_keys | script_keys) - set(strings))
    assert page_strings("en")["call"] == CATALOG["callpage.call"]["en"]
    assert page_strings("pt_BR")["call"] == CATALOG["callpage.call"]["pt-BR"]
    assert page_strings(None) == page_strings("pt-BR")


def test_every_state_is_named_in_the_script() -> None:
    script = asset("call.js").decode()
    for state in STATES:
        assert f'"{state}"' in script, state


def test_security_headers() -> None:
    assert CALL_PAGE_HEADERS["Content-Security-Policy"] == CALL_PAGE_CSP
    assert "script-src 'self'" in CALL_PAGE_CSP and "'unsafe-inline'" not in CALL_PAGE_CSP
    assert "default-src 'none'" in CALL_PAGE_CSP and "frame-ancestors 'none'" in CALL_PAGE_CSP
    assert CALL_PAGE_HEADERS["Referrer-Policy"] == "no-referrer"
    with pytest.raises(KeyError):
        asset("../__init__.py")
