"""The page of a call link that opens nothing (unknown, used or expired; bot/web/call_page.py) can't know the
workspace, so it speaks the browser's language: pt-BR or en from Accept-Language (q-values honoured), anything else
the deployment's default; over loopback HTTP on both backends, with real links. A header, however odd or long, never
makes a 500."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from bot.config import Settings
from bot.fakes import FakePilotStatus, FakeSlack
from bot.i18n import Translator, browser_language
from tests.calls.askcall import calling_askcall, click_call_now, granted_request, link_in
from tests.conftest import Server
from tests.e2e.helpers import db_execute

TITLE = {lang: Translator(lang).t("callrefused.title") for lang in ("pt-BR", "en")}


@pytest.fixture
async def app(settings: Settings, slack: FakeSlack, pilot: FakePilotStatus) -> AsyncIterator[Server]:
    async with calling_askcall(settings, slack, pilot) as server:
        yield server


async def refused_in(app: Server, url: str, accept_language: str | None) -> str:
    """The language the refused page at `url` speaks (its `lang`, and the catalogue's words in it)."""
    headers = {} if accept_language is None else {"Accept-Language": accept_language}
    async with app.http.get(url, headers=headers, allow_redirects=False) as response:
        page = await response.text()
        assert response.status == 403 and response.headers["Vary"] == "Accept-Language", page
    (lang,) = [lang for lang in TITLE if f'<html lang="{lang}">' in page]
    assert f'data-testid="refused">{TITLE[lang]}</h1>' in page
    return lang


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        (None, "pt-BR"),  # no header: the deployment's default
        ("en-US,en;q=0.9", "en"),
        ("pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7", "pt-BR"),
        ("en;q=0.4, pt-BR;q=0.8", "pt-BR"),  # q-values, not the order
        ("pt-BR;q=0.3,en;level=1;q=0.7", "en"),
        ("fr-FR,de;q=0.9", "pt-BR"),  # neither catalogue language: the default
        ("en;q=0", "pt-BR"),  # "not English"
        ("fr, EN-gb;q=0.5", "en"),
        ("enx, english, ptolemy", "pt-BR"),  # names that merely start like one
        ("en;q=2, pt;q=abc, en;q=nan, en;q=-1", "pt-BR"),  # malformed q-values are skipped
        (";;;q=,,,=,;,\t", "pt-BR"),
        ("*", "pt-BR"),
    ],
)
async def test_a_made_up_link_speaks_the_browsers_language(
    app: Server, accept_language: str | None, expected: str
) -> None:
    assert await refused_in(app, f"{app.url}/call/{'x' * 43}", accept_language) == expected


async def test_a_used_or_expired_link_and_a_page_without_session_speak_it_too(app: Server) -> None:
    request_id, _ = await granted_request(app)
    link = link_in(await click_call_now(app, request_id))
    async with app.http.get(link, allow_redirects=False) as first:
        assert first.status == 200  # redeemed: the link is used now
    assert await refused_in(app, link, "en-GB,en;q=0.9") == "en"
    assert await refused_in(app, link, "pt-BR") == "pt-BR"
    page = f"{app.url}/call/r/{request_id}/"
    app.http.cookie_jar.clear()
    assert await refused_in(app, page, "en") == "en"

    expired = link_in(await click_call_now(app, request_id))
    await db_execute(app.askcall.settings, "UPDATE call_links SET expires_at = ?", (time.time() - 1,))
    assert await refused_in(app, expired, "de-DE, en;q=0.5") == "en"


async def test_another_deployment_default_is_what_a_browser_without_pt_or_en_gets(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    async with calling_askcall(replace(settings, language="en"), slack, pilot) as app:
        made_up = f"{app.url}/call/{'x' * 43}"
        assert await refused_in(app, made_up, None) == "en"
        assert await refused_in(app, made_up, "es-ES,fr;q=0.8") == "en"
        assert await refused_in(app, made_up, "pt-BR;q=0.1") == "pt-BR"


async def test_a_huge_or_endless_header_is_never_a_500(app: Server) -> None:
    made_up = f"{app.url}/call/{'x' * 43}"
    # Long but within what the server reads: the first entries decide (here English), the rest is ignored.
    assert await refused_in(app, made_up, "en;q=0.1," + "xx;q=0.5," * 800) == "en"
    assert await refused_in(app, made_up, "x" * 8000) == "pt-BR"
    assert await refused_in(app, made_up, "," * 8000 + "en") == "pt-BR"  # past the entries read
    async with app.http.get(made_up, headers={"Accept-Language": "en," * 20_000}) as response:
        assert response.status < 500  # beyond what aiohttp reads: refused before AskCall sees it


def test_the_language_is_read_without_the_server_too() -> None:
    assert browser_language("en-US", "pt-BR") == "en"
    assert browser_language("fr", "en") == "en"
    assert browser_language(None) == "pt-BR"
    assert browser_language("pt-PT;q=0.9, en;q=0.9") == "pt-BR"  # a tie goes to the earlier
