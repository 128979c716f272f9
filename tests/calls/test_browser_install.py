"""Add to Slack in headless Chromium, through AskCall itself in multi-workspace mode: the landing page's button →
`/slack/install` → the fake Slack's authorize page → allowing the install in a team → Slack's redirect back to
AskCall → the success page; and cancelling in Slack → the failure page. Both pages in pt-BR and en, under their CSP
(no script, nothing from another origin: the page's own stylesheet is applied). Runs on SQLite and PostgreSQL.

Runs when Chromium is present; under CI a missing Chromium, or a network other than loopback, fails these tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack
from bot.i18n import Translator
from bot.web.install import PAGE_CSP
from tests.conftest import WEBHOOK_SECRET
from tests.oauth.install_helpers import MultiServer, free_socket, multi_settings, start_multi

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module")
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.oauth.add_team("T2", "Acme Vendas")
        yield fake


@pytest_asyncio.fixture(loop_scope="module")
async def pilot() -> AsyncIterator[FakePilotStatus]:
    async with FakePilotStatus(webhook_secret=WEBHOOK_SECRET, window=False) as fake:
        yield fake


@pytest_asyncio.fixture(loop_scope="module")
async def askcall(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, database_url: str
) -> AsyncIterator[MultiServer]:
    sock = free_socket()
    server = await start_multi(multi_settings(slack, pilot, tmp_path, database_url, sock.getsockname()[1]), sock, slack)
    try:
        yield server
    finally:
        await server.stop()


@pytest.mark.parametrize("language", ["pt-BR", "en"])
async def test_add_to_slack_ends_on_the_success_page(
    chromium_browser: Browser, askcall: MultiServer, language: str
) -> None:
    t = Translator(language).t
    context = await chromium_browser.new_context(locale=language)
    try:
        page = await context.new_page()
        # Whatever AskCall's pages load (their stylesheet, the icon) is served, and the CSP blocks nothing.
        refused: list[str] = []
        page.on(
            "response", lambda r: refused.append(r.url) if r.status >= 400 and r.url.startswith(askcall.url) else None
        )
        page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
        landing = await page.goto(askcall.url + "/")
        assert landing is not None and landing.headers["content-security-policy"] == PAGE_CSP
        await expect(page.locator("h1")).to_have_text(t("install.title"))
        button = page.locator("#add-to-slack")
        await expect(button).to_have_text(t("install.add"))
        # The stylesheet loaded under the CSP: the button is styled as one.
        assert await button.evaluate("node => getComputedStyle(node).display") == "inline-block"

        await button.click()
        await page.locator("#allow-T2").click()

        await expect(page.locator("#done")).to_have_text(t("install.done", team="Acme Vendas"))
        assert page.url.startswith(askcall.url + "/slack/oauth_redirect?")
        assert refused == []
    finally:
        await context.close()
    row = await askcall.askcall.store.slack_installation("T2")
    assert row is not None and row.live


async def test_cancelling_in_slack_ends_on_the_failure_page(chromium_browser: Browser, askcall: MultiServer) -> None:
    t = Translator("pt-BR").t
    context = await chromium_browser.new_context(locale="pt-BR")
    try:
        page = await context.new_page()
        await page.goto(askcall.url + "/")
        await page.locator("#add-to-slack").click()
        await page.locator("#cancel").click()

        await expect(page.locator("#failed")).to_have_text(t("install.failed.access_denied"))
        await page.get_by_text(t("install.again")).click()
        await expect(page.locator("#allow-T2")).to_be_visible()  # back at Slack's authorize page, a new state
    finally:
        await context.close()
