"""End to end with a real browser and AskCall itself: a signed "📞 Call now" click in Slack → the ephemeral link →
headless Chromium follows it → presses call → the fake WhatsApp customer (aiortc) answers → audio both ways → hang
up → the duration in the thread. Also: an expired permission, a missed call, reused and foreign links, a tab
closed mid-call. Each test runs on SQLite and PostgreSQL.

Runs when Chromium is present; under CI a missing Chromium, or a network other than loopback, fails these tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, expect

from bot.config import Settings
from bot.fakes.pilot_status import CallBehaviour, FakePilotStatus
from bot.fakes.slack import FakeSlack
from bot.web import CALL_PAGE_CSP, page_strings
from tests.calls.askcall import calling_askcall, click_call_now, granted_request, link_in
from tests.calls.browser import STATE_RECORDER, inbound_audio
from tests.calls.helpers import wait_until
from tests.conftest import REP, WEBHOOK_SECRET, Server
from tests.e2e.helpers import db_rows, free_port, replies

PT = page_strings("pt-BR")
OTHER_REP = "U2"
pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module")
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake
    assert fake.invalid_payloads == [], f"Slack would refuse AskCall's Block Kit: {fake.invalid_payloads}"


@pytest_asyncio.fixture(loop_scope="module")
async def pilot() -> AsyncIterator[FakePilotStatus]:
    async with FakePilotStatus(webhook_secret=WEBHOOK_SECRET) as fake:
        yield fake


@pytest_asyncio.fixture(loop_scope="module")
async def app(settings: Settings, slack: FakeSlack, pilot: FakePilotStatus) -> AsyncIterator[Server]:
    async with calling_askcall(settings, slack, pilot) as server:
        yield server


async def open_call_page(browser: BrowserContext, app: Server, *, user: str = REP) -> tuple[Page, int, str]:
    """Grant, click "Call now" as `user`, follow the ephemeral link: (the page, the request id, the link)."""
    request_id, _ = await granted_request(app)
    link = link_in(await click_call_now(app, request_id, user=user))
    page = await browser.new_page()
    await page.add_init_script(STATE_RECORDER)
    response = await page.goto(link)
    assert response is not None and response.status == 200
    assert response.headers["content-security-policy"] == CALL_PAGE_CSP
    assert response.headers["referrer-policy"] == "no-referrer"
    await page.wait_for_url(f"{app.url}/call/r/{request_id}/")  # the token left the address bar
    await expect(page.get_by_test_id("call-state")).to_have_text("idle")
    return page, request_id, link


async def test_a_link_clicked_on_another_site_opens_the_page(browser: BrowserContext, app: Server) -> None:
    """Slack in a browser tab: the link is followed from another site, whose navigation carries no
    SameSite=Strict cookie; the page must open all the same (and the link still works only once)."""
    request_id, _ = await granted_request(app)
    link = link_in(await click_call_now(app, request_id))
    elsewhere = web.Application()
    elsewhere.router.add_get(
        "/", lambda _: web.Response(text=f'<a id="go" href="{link}">call</a>', content_type="text/html")
    )
    runner = web.AppRunner(elsewhere)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    page = await browser.new_page()
    try:
        await page.goto(f"http://localhost:{port}/")  # "localhost" and "127.0.0.1" are different sites
        await page.click("#go")
        await page.wait_for_url(f"{app.url}/call/r/{request_id}/")
        await expect(page.get_by_test_id("call-state")).to_have_text("idle")
        again = await page.goto(link)
        assert again is not None and again.status == 403
    finally:
        await page.close()
        await runner.cleanup()


async def test_call_now_from_slack_to_the_duration_in_the_thread(
    browser: BrowserContext, app: Server, pilot: FakePilotStatus
) -> None:
    pilot.call_behaviour = CallBehaviour(answer_after=0.3)
    errors: list[str] = []
    page, request_id, _ = await open_call_page(browser, app, user=OTHER_REP)
    page.on(
        "console",
        lambda message: (
            errors.append(f"{message.text} ({message.location.get('url')})")
            if message.type == "error" and not str(message.location.get("url", "")).endswith("/favicon.ico")
            else None
        ),
    )
    assert await page.get_by_test_id("customer").text_content() == "+55 11 9••••-4321"
    assert await page.get_by_test_id("call").text_content() == PT["call"]

    await page.get_by_test_id("call").click()
    state = page.get_by_test_id("call-state")
    await expect(state).to_have_text("connected", timeout=10_000)
    call = pilot.calls["call_FAKE1"]
    assert call.peer is not None and call.status == "ACCEPTED"
    assert "a=setup:active" in call.sdp_offer

    # Audio both ways: the customer's phone decodes the browser's microphone, the browser decodes the phone's tone.
    phone = call.peer
    await wait_until(lambda: phone.frames_received > 10, what="the customer to receive the browser's audio")
    received = await inbound_audio(page)
    assert received["packets"] > 0 and received["samples"] > 0, received
    assert received["codec"] == "audio/opus"
    await page.wait_for_timeout(1_200)

    await page.get_by_test_id("hangup").click()
    await expect(state).to_have_text("ended")
    await expect(page.get_by_test_id("message")).to_have_text(PT["ended.completed"])
    # The page shows "ended" at once; its hang-up request is on its way meanwhile.
    await wait_until(lambda: pilot.requests_to("POST", "/v1/calls/call_FAKE1/terminate") != [], what="the hang-up")

    # The thread: the call's one message now shows how long it lasted, under the rep who called.
    parent = [m for m in app.slack.messages if m.get("thread_ts") is None][-1]
    await app.slack.wait_for(
        lambda: any(
            m.get("text", "").startswith(f"📞 <@{OTHER_REP}> ligou — ") and m["text"].endswith(" s")
            for m in replies(app.slack, parent)
        ),
        timeout=10,
    )
    rows = await db_rows(app.askcall.settings, "SELECT user_id, state, end_reason, duration FROM calls")
    assert rows == [
        {"user_id": OTHER_REP, "state": "ended", "end_reason": "completed", "duration": rows[0]["duration"]}
    ]
    assert rows[0]["duration"] >= 1
    assert errors == []
    assert [c.request_id for c in [await app.askcall.store.last_call(request_id)] if c] == [request_id]


async def test_an_expired_permission_says_ask_again(
    browser: BrowserContext, app: Server, pilot: FakePilotStatus
) -> None:
    page, _, _ = await open_call_page(browser, app)
    pilot.permissions.clear()  # the customer's permission ran out after the link was sent
    await page.get_by_test_id("call").click()
    await expect(page.get_by_test_id("call-state")).to_have_text("failed", timeout=5_000)
    await expect(page.get_by_test_id("message")).to_have_text(PT["error.permission_required"])
    assert pilot.calls == {}


async def test_a_missed_call(browser: BrowserContext, app: Server, pilot: FakePilotStatus) -> None:
    pilot.call_behaviour = CallBehaviour(answer_after=None, ring_timeout=0.5)
    page, _, _ = await open_call_page(browser, app)
    await page.get_by_test_id("call").click()
    await expect(page.get_by_test_id("call-state")).to_have_text("ended", timeout=5_000)
    await expect(page.get_by_test_id("message")).to_have_text(PT["ended.missed"])
    await app.slack.wait_for(
        lambda: any(m.get("text") == f"📵 <@{REP}> ligou — não atendeu" for m in app.slack.messages)
    )


async def test_a_reused_or_foreign_link_is_refused(
    chromium_browser: Browser, browser: BrowserContext, app: Server, pilot: FakePilotStatus
) -> None:
    page, request_id, link = await open_call_page(browser, app)
    other_browser = await chromium_browser.new_context()
    try:
        intruder = await other_browser.new_page()
        reused = await intruder.goto(link)
        assert reused is not None and reused.status == 403
        await expect(intruder.get_by_test_id("refused")).to_be_visible()
        assert await intruder.get_by_test_id("call").count() == 0
        direct = await intruder.goto(f"{app.url}/call/r/{request_id}/")  # the page itself, with no session
        assert direct is not None and direct.status == 403
    finally:
        await other_browser.close()
    # This browser's session is for its own request only: another request's page stays closed to it.
    foreign = await page.goto(f"{app.url}/call/r/{request_id + 1}/")
    assert foreign is not None and foreign.status == 403
    assert pilot.requests_to("POST", "/v1/calls") == []


async def test_closing_the_tab_mid_call_terminates_it(
    browser: BrowserContext, app: Server, pilot: FakePilotStatus
) -> None:
    pilot.call_behaviour = CallBehaviour(answer_after=0.1)
    page, _, _ = await open_call_page(browser, app)
    await page.get_by_test_id("call").click()
    await expect(page.get_by_test_id("call-state")).to_have_text("connected", timeout=10_000)
    await page.close(run_before_unload=True)
    await wait_until(lambda: pilot.calls["call_FAKE1"].status == "COMPLETED", what="the call to be terminated")
    assert len(pilot.requests_to("POST", "/v1/calls/call_FAKE1/terminate")) == 1

    for _ in range(100):  # the call.ended webhook reaches AskCall a moment later
        if await db_rows(app.askcall.settings, "SELECT state FROM calls") == [{"state": "ended"}]:
            break
        await asyncio.sleep(0.05)
    assert await db_rows(app.askcall.settings, "SELECT state, end_reason FROM calls") == [
        {"state": "ended", "end_reason": "completed"}
    ]
