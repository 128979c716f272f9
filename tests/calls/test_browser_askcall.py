"""The call page end to end, always through AskCall itself: a signed "📞 Call now" click in Slack → the ephemeral
link from the fake Slack → headless Chromium on the page AskCall serves → the offer POSTed to AskCall → the fake
Pilot Status and its aiortc WhatsApp customer → the signed call webhooks back to AskCall → Server-Sent Events to the
page. Each test checks the page's `call-state`, the message it shows (from the catalogue) and, where the team must
know, the thread; each runs on SQLite and PostgreSQL.

Covered: audio both ways, mute and unmute heard (or not) by the customer, hang up with the duration in the thread;
the customer rejecting or missing the call; hanging up or closing the tab while the offer is on its way; Pilot
Status refusing the start (4xx, 5xx, 429), and a start whose answer was lost (found and carried on, or said not to
have started; never resent); an expired permission; a web (EVO_GO) number; the browser's own problems (microphone
denied or missing, no WebRTC); the page in pt-BR and en; the event stream through quiet spells; links clicked on
another site, reused or foreign; the tab closed mid-call.

Runs when Chromium is present; under CI a missing Chromium, or a network other than loopback, fails these tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, expect

from bot.config import Settings, WhatsAppNumber
from bot.fakes.pilot_status import CallBehaviour, FakePilotStatus, WebCalls
from bot.fakes.slack import FakeSlack
from bot.fakes.whatsapp_peer import TonePeer
from bot.i18n import Translator, normalize_language
from bot.web import CALL_PAGE_CSP, page_strings
from tests.calls.askcall import calling_askcall, click_call_now, granted_request, link_in
from tests.calls.browser import STATE_RECORDER, inbound_audio, states
from tests.calls.helpers import wait_until
from tests.conftest import CHANNEL, REP, WEBHOOK_SECRET, ManualClock, Server
from tests.e2e.helpers import E164, MASKED, db_rows, free_port, parents, replies
from tests.tenants import TENANT

PT = page_strings("pt-BR")
PT_THREAD = Translator("pt-BR")
OTHER_REP = "U2"
# A team's own WhatsApp number, serving channel C2; the default number serves the others.
TEAM_NUMBER = WhatsAppNumber("vendas-rj", "ps_rj_key", "whsec_rj", frozenset({"C2"}))
FRAMES_PER_SECOND = 50  # the customer's phone decodes 20 ms frames
pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module")
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake
    assert fake.invalid_payloads == [], f"Slack would refuse AskCall's Block Kit: {fake.invalid_payloads}"


@pytest_asyncio.fixture(loop_scope="module")
async def pilot() -> AsyncIterator[FakePilotStatus]:
    async with FakePilotStatus(webhook_secret=WEBHOOK_SECRET, window=False) as fake:
        yield fake


@pytest_asyncio.fixture(loop_scope="module")
async def app(settings: Settings, slack: FakeSlack, pilot: FakePilotStatus) -> AsyncIterator[Server]:
    async with calling_askcall(settings, slack, pilot) as server:
        yield server


# ---------------------------------------------------------------------------------------------------- helpers
async def open_call_page(
    browser: BrowserContext, app: Server, *, user: str = REP, channel: str = CHANNEL, **grant: Any
) -> tuple[Page, int, str]:
    """Grant, click "Call now" as `user`, follow the ephemeral link: (the page, the request id, the link)."""
    request_id, _ = await granted_request(app, channel=channel, **grant)
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


async def shows(page: Page, state: str, message: str) -> None:
    """The page is in `state` and says `message` (the catalogue's words, exactly)."""
    await expect(page.get_by_test_id("call-state")).to_have_text(state, timeout=10_000)
    await expect(page.get_by_test_id("message")).to_have_text(message)


def call_lines(app: Server, channel: str = CHANNEL) -> list[str]:
    """The texts of the thread's call messages (as updated in place), under the request's status message."""
    return [
        m.get("text", "")
        for m in replies(app.slack, parents(app.slack, channel)[-1])
        if m.get("text", "").startswith(("📞", "📵", "⚠️"))
    ]


async def thread_says(app: Server, line: str, channel: str = CHANNEL) -> None:
    await app.slack.wait_for(lambda: line in call_lines(app, channel), timeout=10)
    assert call_lines(app, channel).count(line) == 1, call_lines(app, channel)


async def call_rows(app: Server) -> list[dict[str, Any]]:
    return await db_rows(app.askcall.settings, "SELECT user_id, state, end_reason, duration FROM calls ORDER BY id")


async def settled_call_rows(app: Server, state: str) -> list[dict[str, Any]]:
    """The calls table once its last call reached `state` (the final webhook lands a moment after the page)."""
    for _ in range(200):
        rows = await call_rows(app)
        if rows and rows[-1]["state"] == state:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"the last call never reached {state}: {await call_rows(app)}")


async def frames_while(phone: TonePeer, frames: int) -> int:
    """How many audible frames the customer decoded over the next `frames` decoded frames."""
    start_frames, start_audible = phone.frames_received, phone.audible_frames_received
    await wait_until(lambda: phone.frames_received >= start_frames + frames, what=f"{frames} more frames")
    return phone.audible_frames_received - start_audible


LOOK = """() => {
  const style = (selector, names) => {
    const computed = getComputedStyle(document.querySelector(selector));
    return Object.fromEntries(names.map((name) => [name, computed.getPropertyValue(name)]));
  };
  return {
    body: style("body", ["display", "place-items", "background-color", "font-family"]),
    card: style("main.card", ["max-width", "padding-top", "border-top-width", "border-top-left-radius"]),
    title: style("h1", ["font-size", "margin-bottom"]),
  };
}"""


async def look(page: Page) -> dict[str, dict[str, str]]:
    """What makes the page look like AskCall's call page: the body's layout, the card, the title."""
    return dict(await page.evaluate(LOOK))


def starts(pilot: FakePilotStatus) -> int:
    """How many times AskCall asked Pilot Status to ring the customer."""
    return len(pilot.requests_to("POST", "/v1/calls"))


# ---------------------------------------------------------------------------------------------------- a whole call
async def test_call_now_with_audio_both_ways_mute_and_the_duration_in_the_thread(
    browser: BrowserContext, app: Server, pilot: FakePilotStatus
) -> None:
    pilot.call_behaviour = CallBehaviour(answer_after=0.3)
    errors: list[str] = []
    page, request_id, _ = await open_call_page(browser, app, user=OTHER_REP)
    page.on(
        "console",
        lambda message: (
            errors.append(f"{message.text} ({message.location.get('url')})")
            if message.type == "error"  # a missing /favicon.ico would be one too
            else None
        ),
    )
    await expect(page.get_by_test_id("customer")).to_have_text(MASKED)  # once the page has loaded its config
    await expect(page.get_by_test_id("call")).to_have_text(PT["call"])
    assert await page.get_by_test_id("hangup").is_disabled() and await page.get_by_test_id("mute").is_disabled()

    await page.get_by_test_id("call").click()
    await expect(page.get_by_test_id("call-state")).to_have_text("connected", timeout=10_000)
    assert await states(page) == ["idle", "connecting", "ringing", "connected"]
    await expect(page.get_by_test_id("status-text")).to_have_text(PT["state.connected"])
    await expect(page.get_by_test_id("message")).to_have_text("")
    call = pilot.calls["call_FAKE1"]
    assert call.peer is not None and call.status == "ACCEPTED" and call.to == E164
    assert "a=setup:active" in call.sdp_offer and "a=setup:actpass" not in call.sdp_offer
    await thread_says(app, PT_THREAD.t("call.in_progress", user=OTHER_REP))

    # Audio both ways: the customer's phone decodes the browser's microphone, the browser decodes the phone's tone.
    phone = call.peer
    await wait_until(lambda: phone.audible_frames_received > 10, what="the customer to hear the microphone's tone")
    received = await inbound_audio(page)
    assert received["packets"] > 0 and received["samples"] > 0, received
    assert received["codec"] == "audio/opus"
    await expect(page.get_by_test_id("mic-level")).not_to_have_js_property("value", 0)  # the tone moves the meter
    await expect(page.get_by_test_id("timer")).not_to_have_text("0:00", timeout=3_000)

    # Mute: the customer still receives frames, but silent ones; unmute: the tone is heard again.
    mute = page.get_by_test_id("mute")
    await mute.click()
    await expect(mute).to_have_attribute("aria-pressed", "true")
    await expect(mute).to_have_text(PT["unmute"])
    await frames_while(phone, FRAMES_PER_SECOND // 2)  # frames already on their way when the button was pressed
    assert await frames_while(phone, FRAMES_PER_SECOND) <= 2
    await expect(page.get_by_test_id("mic-level")).to_have_js_property("value", 0)
    await mute.click()
    await expect(mute).to_have_attribute("aria-pressed", "false")
    await expect(mute).to_have_text(PT["mute"])
    await frames_while(phone, FRAMES_PER_SECOND // 2)
    assert await frames_while(phone, FRAMES_PER_SECOND) > FRAMES_PER_SECOND // 2
    await expect(page.get_by_test_id("call-state")).to_have_text("connected")

    # Hang up late in a second of the page's timer: where a second ends must not depend on whose clock counts.
    timer = page.get_by_test_id("timer")
    shown = await timer.text_content()
    await expect(timer).not_to_have_text(shown or "", timeout=3_000)
    await asyncio.sleep(0.85)
    await page.get_by_test_id("hangup").click()
    await shows(page, "ended", PT["ended.completed"])
    await wait_until(lambda: pilot.calls["call_FAKE1"].status == "COMPLETED", what="the call to be terminated")
    assert len(pilot.requests_to("POST", "/v1/calls/call_FAKE1/terminate")) == 1
    assert await page.get_by_test_id("call").is_disabled()

    # The thread: the call's one message now shows how long it lasted, under the rep who called; the page's timer
    # ends on the same number (one clock, one rounding).
    rows = await settled_call_rows(app, "ended")
    assert rows == [
        {"user_id": OTHER_REP, "state": "ended", "end_reason": "completed", "duration": rows[0]["duration"]}
    ]
    seconds = rows[0]["duration"]
    assert seconds >= 1
    await expect(timer).to_have_text(f"{seconds // 60}:{seconds % 60:02d}", timeout=5_000)
    assert await timer.is_visible()
    await thread_says(app, PT_THREAD.t("call.completed", user=OTHER_REP, duration=f"{seconds} s"))
    await app.slack.wait_for(
        lambda: any(line.startswith(f"📞 <@{OTHER_REP}> ligou — ") and line.endswith(" s") for line in call_lines(app)),
        timeout=10,
    )
    assert len(call_lines(app)) == 1, call_lines(app)
    assert errors == []
    assert [c.request_id for c in [await app.askcall.store.last_call(TENANT, request_id)] if c] == [request_id]
    assert starts(pilot) == 1


# ---------------------------------------------------------------------------------------------------- the customer
@pytest.mark.parametrize(
    ("behaviour", "locale", "reason"),
    [
        (CallBehaviour(answer_after=0.2, reject=True), "en-US", "rejected"),
        (CallBehaviour(answer_after=None, ring_timeout=0.5), "pt-BR", "missed"),
    ],
    ids=["rejects-en", "misses-pt"],
)
async def test_the_customer_rejects_or_misses_the_call(
    browser: BrowserContext,
    app: Server,
    slack: FakeSlack,
    pilot: FakePilotStatus,
    behaviour: CallBehaviour,
    locale: str,
    reason: str,
) -> None:
    slack.user_locales[REP] = locale  # the request's language: its page's and its thread's
    pilot.call_behaviour = behaviour
    page, _, _ = await open_call_page(browser, app)
    await page.get_by_test_id("call").click()
    lang = normalize_language(locale)
    await shows(page, "ended", page_strings(lang)[f"ended.{reason}"])
    assert await states(page) == ["idle", "connecting", "ringing", "ended"]
    await thread_says(app, Translator(lang).t(f"call.{reason}", user=REP))
    assert [(r["state"], r["end_reason"]) for r in await settled_call_rows(app, "ended")] == [("ended", reason)]
    assert pilot.requests_to("POST", "/v1/calls/call_FAKE1/terminate") == []


@pytest.mark.parametrize("leaving", ["hang up", "close the tab"])
async def test_leaving_while_the_offer_is_on_its_way_ends_the_call_it_started(
    browser: BrowserContext, app: Server, pilot: FakePilotStatus, leaving: str
) -> None:
    pilot.call_behaviour = CallBehaviour(ring_after=2, answer_after=0.1)
    pilot.script("POST", "/v1/calls", delay=0.8)  # Pilot Status is slow to start the call
    page, _, _ = await open_call_page(browser, app)
    await page.get_by_test_id("call").click()
    await wait_until(lambda: starts(pilot) == 1, what="the offer to reach Pilot Status")
    if leaving == "hang up":
        await page.get_by_test_id("hangup").click()
        await shows(page, "ended", PT["ended.completed"])
        assert await states(page) == ["idle", "connecting", "ended"]
    else:
        await page.close(run_before_unload=True)  # no page is left to hear the customer, or to hang up
    # The call Pilot Status started after all is terminated before it rings: the customer's phone never rang.
    await wait_until(lambda: "call_FAKE1" in pilot.calls and bool(pilot.calls["call_FAKE1"].events), what="an event")
    assert [e["event"] for e in pilot.calls["call_FAKE1"].events] == ["call.ended"]
    assert pilot.calls["call_FAKE1"].status == "COMPLETED"
    assert "duration" not in pilot.calls["call_FAKE1"].events[0]
    assert len(pilot.requests_to("POST", "/v1/calls/call_FAKE1/terminate")) == 1
    await thread_says(app, PT_THREAD.t("call.missed", user=REP))  # never answered
    assert [(r["state"], r["duration"]) for r in await settled_call_rows(app, "ended")] == [("ended", None)]
    assert starts(pilot) == 1


# ---------------------------------------------------------------------------------------------------- Pilot Status
@pytest.mark.parametrize(
    ("status", "code", "key", "line"),
    [
        (400, "VALIDATION_ERROR", "error.provider", "call.failed"),
        (429, "TOO_MANY_REQUESTS", "error.rate_limited", "call.rate_limited"),
    ],
)
async def test_pilot_status_refusing_the_start_says_what_to_do_and_a_new_try_works(
    browser: BrowserContext, app: Server, pilot: FakePilotStatus, status: int, code: str, key: str, line: str
) -> None:
    pilot.script("POST", "/v1/calls", status=status, body={"error": "no", "code": code}, headers={"Retry-After": "1"})
    pilot.call_behaviour = CallBehaviour(answer_after=None)
    page, _, _ = await open_call_page(browser, app)
    await page.get_by_test_id("call").click()
    await shows(page, "failed", PT[key])
    assert await states(page) == ["idle", "connecting", "failed"]
    assert starts(pilot) == 1  # a refused start is not sent again behind the rep's back
    assert pilot.calls == {}
    assert [(r["state"], r["end_reason"]) for r in await call_rows(app)] == [("failed", code)]
    await thread_says(app, PT_THREAD.t(line, user=REP))  # the thread hears of the try, and what to do next

    # "Try again" means it: the same page calls again once Pilot Status is back.
    await page.get_by_test_id("call").click()
    await expect(page.get_by_test_id("call-state")).to_have_text("ringing", timeout=10_000)
    await expect(page.get_by_test_id("message")).to_have_text("")
    assert starts(pilot) == 2
    await page.get_by_test_id("hangup").click()
    await shows(page, "ended", PT["ended.completed"])
    await wait_until(lambda: pilot.calls["call_FAKE1"].status == "COMPLETED", what="the call to be terminated")
    assert [(r["state"], r["end_reason"]) for r in await settled_call_rows(app, "ended")] == [
        ("failed", code),
        ("ended", "completed"),
    ]


async def test_a_stopped_workspace_starts_no_call_and_the_page_says_why(
    browser: BrowserContext, app: Server, pilot: FakePilotStatus
) -> None:
    page, _, _ = await open_call_page(browser, app)
    await app.askcall.store.stop_workspace(TENANT, time.time(), disabled=True)  # `askcall workspaces disable`
    await page.get_by_test_id("call").click()
    await shows(page, "failed", PT["error.workspace_stopped"])  # not "Pilot Status couldn't start the call"
    assert PT["error.workspace_stopped"] != PT["error.provider"]
    assert starts(pilot) == 0
    assert await call_rows(app) == []


@pytest.mark.parametrize("how", ["answer lost", "timeout", "never made"])
async def test_a_start_whose_answer_was_lost_is_found_never_sent_again(
    browser: BrowserContext, settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, how: str
) -> None:
    clock = ManualClock()
    pilot.call_behaviour = CallBehaviour(answer_after=0.3)
    if how == "answer lost":
        pilot.lose_answer_next("POST", "/v1/calls")  # the call is made, its answer lost with the connection
    elif how == "timeout":
        pilot.script("POST", "/v1/calls", delay=1.0)  # the call is made after AskCall stopped waiting
    else:
        pilot.drop_connection_next("POST", "/v1/calls")  # read, never handled: no call exists
    async with calling_askcall(settings, slack, pilot, clock=clock, pilot_status_timeout=0.5) as app:
        page, _, _ = await open_call_page(browser, app)
        await page.get_by_test_id("call").click()
        if how == "never made":
            await expect(page.get_by_test_id("message")).to_have_text(PT["pending"], timeout=10_000)
            await expect(page.get_by_test_id("call-state")).to_have_text("connecting")
            clock.advance(10 * 60)  # long enough for AskCall to give up looking for it
            await app.askcall.calls.sweep()
            await shows(page, "failed", PT["error.not_started"])
            assert pilot.calls == {}
            await thread_says(app, PT_THREAD.t("call.not_started", user=REP))
        else:  # found (its webhooks, or Pilot Status's list of calls): it goes on like any other call
            await expect(page.get_by_test_id("call-state")).to_have_text("connected", timeout=10_000)
            await expect(page.get_by_test_id("message")).to_have_text("")
            await page.get_by_test_id("hangup").click()
            await shows(page, "ended", PT["ended.completed"])
            assert [r["state"] for r in await settled_call_rows(app, "ended")] == ["ended"]
            assert list(pilot.calls) == ["call_FAKE1"]
        assert starts(pilot) == 1  # never sent again


async def test_an_expired_permission_says_ask_again_and_the_thread_is_told(
    browser: BrowserContext, app: Server, pilot: FakePilotStatus
) -> None:
    page, _, _ = await open_call_page(browser, app)
    pilot.permissions.clear()  # the customer's permission ran out after the link was sent
    await page.get_by_test_id("call").click()
    await shows(page, "failed", PT["error.permission_required"])
    assert "/askcall" in PT["error.permission_required"]  # how to ask again
    assert starts(pilot) == 1 and pilot.calls == {}
    await thread_says(app, PT_THREAD.t("call.permission_required", user=REP))
    assert [(r["state"], r["end_reason"]) for r in await call_rows(app)] == [
        ("failed", "META_CALL_PERMISSION_REQUIRED")
    ]


@pytest.mark.parametrize("web_calls", [WebCalls.REFUSE, WebCalls.ACCEPT])
async def test_a_web_number_cannot_call_from_the_browser_and_says_so(
    browser: BrowserContext, settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, web_calls: WebCalls
) -> None:
    """AskCall starts a call with the key of the request's own number, which is a web (EVO_GO) one. What Pilot
    Status does with the offer there is not documented: refused (400 FEATURE_NOT_SUPPORTED), or taken with the offer
    dropped (no answer SDP ever): then AskCall hangs up at once. Either way the page and the thread say why."""
    (channel,) = TEAM_NUMBER.channels
    pilot.accepted_keys.add(TEAM_NUMBER.api_key)
    pilot.web_calls = web_calls
    async with calling_askcall(settings, slack, pilot, extra_numbers=(TEAM_NUMBER,)) as app:
        page, _, _ = await open_call_page(browser, app, channel=channel, number=TEAM_NUMBER)
        pilot.web_keys.add(TEAM_NUMBER.api_key)  # the team reconnected its number as a web number since the grant
        await page.get_by_test_id("call").click()
        if web_calls is WebCalls.REFUSE:
            await shows(page, "failed", PT["error.number_unsupported"])
            assert pilot.calls == {}
            await thread_says(app, PT_THREAD.t("call.unsupported", user=REP), channel)
            assert [(r["state"], r["end_reason"]) for r in await call_rows(app)] == [
                ("failed", "FEATURE_NOT_SUPPORTED")
            ]
        else:
            await shows(page, "failed", PT["error.no_browser_audio"])
            assert pilot.calls["call_FAKE1"].status == "COMPLETED"  # hung up: the customer isn't left ringing
            await thread_says(app, PT_THREAD.t("call.no_browser_audio", user=REP), channel)
            assert [(r["state"], r["end_reason"]) for r in await call_rows(app)] == [("failed", "NO_ANSWER_SDP")]
        assert [r.headers["x-api-key"] for r in pilot.requests_to("POST", "/v1/calls")] == [TEAM_NUMBER.api_key]


# ---------------------------------------------------------------------------------------------------- the browser
# The microphone refused for real: this context lacks the permission (headless Chromium then says no, as a rep
# who blocks it does). No WebRTC and no microphone at all are made by scripts that run before the page's own.
NO_WEBRTC = "delete window.RTCPeerConnection;"
NO_MICROPHONE = "navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('none', 'NotFoundError'));"


@pytest.mark.parametrize(
    ("script", "key"),
    [(NO_WEBRTC, "error.no_webrtc"), (None, "error.mic_denied"), (NO_MICROPHONE, "error.mic_missing")],
    ids=["no-webrtc", "mic-denied", "mic-missing"],
)
async def test_browser_problems_say_what_to_do(
    browser: BrowserContext, app: Server, pilot: FakePilotStatus, script: str | None, key: str
) -> None:
    if script is None:
        await browser.clear_permissions()
    else:
        await browser.add_init_script(script)
    page, _, _ = await open_call_page(browser, app)
    await page.get_by_test_id("call").click()
    await shows(page, "failed", PT[key])
    assert starts(pilot) == 0 and await call_rows(app) == []
    await expect(page.get_by_test_id("call")).to_be_enabled()  # once fixed, the rep calls from the same page


# ---------------------------------------------------------------------------------------------------- the page
@pytest.mark.parametrize("locale", ["pt-BR", "en-US"])
async def test_the_page_speaks_the_requests_language(
    browser: BrowserContext, app: Server, slack: FakeSlack, locale: str
) -> None:
    lang = normalize_language(locale)
    strings = page_strings(lang)
    slack.user_locales[REP] = locale
    until = int(time.time()) + 3 * 24 * 3600
    page, _, _ = await open_call_page(browser, app, status="TEMPORARY", expiration_time=until)
    # The page fills itself in from `config` once loaded; its static HTML says pt-BR and "AskCall" until then,
    # so each check waits for what the request's language says (a pt-BR page passed `lang` before it had loaded).
    await expect(page).to_have_title(strings["title"])
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await expect(page.get_by_test_id("call")).to_have_text(strings["call"])
    await expect(page.get_by_test_id("hangup")).to_have_text(strings["hangup"])
    await expect(page.get_by_test_id("mute")).to_have_text(strings["mute"])
    await expect(page.get_by_test_id("status-text")).to_have_text(strings["state.idle"])
    await expect(page.get_by_test_id("validity-label")).to_have_text(strings["valid_until"])
    await expect(page.get_by_test_id("customer")).to_have_text(MASKED)
    await expect(page.get_by_test_id("valid-until")).to_contain_text(time.strftime("%Y", time.gmtime(until)))


async def test_a_link_clicked_on_another_site_opens_the_page(browser: BrowserContext, app: Server) -> None:
    """Slack in a browser tab: the link is followed from another site, whose navigation carries no
    SameSite=Strict cookie; the page must open all the same (and the link still works only once)."""
    request_id, _ = await granted_request(app)
    link = link_in(await click_call_now(app, request_id))

    async def other_site(_: web.Request) -> web.Response:
        return web.Response(text=f'<a id="go" href="{link}">call</a>', content_type="text/html")

    elsewhere = web.Application()
    elsewhere.router.add_get("/", other_site)
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


async def test_a_reused_or_foreign_link_is_refused(
    chromium_browser: Browser, browser: BrowserContext, app: Server, pilot: FakePilotStatus
) -> None:
    page, request_id, link = await open_call_page(browser, app)
    call_page_look = await look(page)
    # The refused page can't know the workspace: it speaks the browser's language (the thread's is pt-BR).
    other_browser = await chromium_browser.new_context(locale="en-US")
    try:
        intruder = await other_browser.new_page()
        errors: list[tuple[str, str]] = []
        intruder.on(
            "console",
            lambda message: (
                errors.append((message.text, str(message.location.get("url")))) if message.type == "error" else None
            ),
        )
        reused = await intruder.goto(link)
        assert reused is not None and reused.status == 403
        await expect(intruder.get_by_test_id("refused")).to_have_text(Translator("en").t("callrefused.title"))
        assert await intruder.get_by_test_id("call").count() == 0
        # "Link not valid" looks like the call page: its card, type and colours, from the same stylesheet.
        assert await look(intruder) == call_page_look
        direct = await intruder.goto(f"{app.url}/call/r/{request_id}/")  # the page itself, with no session
        assert direct is not None and direct.status == 403
        assert await look(intruder) == call_page_look
        # Nothing failed but the refused pages themselves (403): no stylesheet refused by the CSP, no missing icon.
        assert [url for _, url in errors] == [link, f"{app.url}/call/r/{request_id}/"], errors
    finally:
        await other_browser.close()
    # This browser's session is for its own request only: another request's page stays closed to it.
    foreign = await page.goto(f"{app.url}/call/r/{request_id + 1}/")
    assert foreign is not None and foreign.status == 403
    assert starts(pilot) == 0


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
    rows = await settled_call_rows(app, "ended")
    assert [(r["state"], r["end_reason"]) for r in rows] == [("ended", "completed")]
    await app.slack.wait_for(lambda: any(line.endswith(" s") for line in call_lines(app)), timeout=10)


async def test_the_event_stream_stays_open_through_quiet_spells(
    browser: BrowserContext, app: Server, pilot: FakePilotStatus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.web.call_page.KEEPALIVE", 0.2)  # a quiet spell of a few keepalives, in a second
    pilot.call_behaviour = CallBehaviour(answer_after=0.1, hang_up_after=1.5)  # the customer hangs up
    page, _, _ = await open_call_page(browser, app)
    streams: list[str] = []
    page.on("request", lambda request: streams.append(request.url) if request.url.endswith("/events") else None)
    await page.get_by_test_id("call").click()
    await expect(page.get_by_test_id("call-state")).to_have_text("connected", timeout=10_000)
    await shows(page, "ended", PT["ended.completed"])  # learnt from the stream: the page did not hang up
    assert pilot.requests_to("POST", "/v1/calls/call_FAKE1/terminate") == []
    assert len(streams) == 1, streams
