"""One call per customer at a time, in the browser, across replicas (issue 17 §1): two AskCall replicas on one
PostgreSQL database, two reps each in their own browser context, each with a page from a different replica. The
second rep's call is refused before Pilot Status is asked, and their page says who is on the call and since when;
the first rep's page follows and ends its own call; then the second rep can call.

Runs when Chromium is present; under CI a missing Chromium, or a network other than loopback, fails it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from bot.fakes.pilot_status import CallBehaviour, FakePilotStatus
from bot.fakes.slack import FakeSlack
from bot.web import page_strings
from tests.calls.askcall import calling_askcall, click_call_now, granted_request, link_in
from tests.calls.browser import MICROPHONE
from tests.calls.helpers import wait_until
from tests.calls.test_browser_askcall import pilot, slack  # noqa: F401 (the module-loop fakes, as fixtures)
from tests.conftest import REP, Server, make_settings

PT = page_strings("pt-BR")
OTHER_REP = "U2"
pytestmark = [pytest.mark.timeout(90), pytest.mark.asyncio(loop_scope="module")]


async def open_page(context: BrowserContext, replica: Server, request_id: int, user: str) -> Page:
    """`user` clicks "Call now" on `replica` and opens the link it sends them, in `context`."""
    link = link_in(await click_call_now(replica, request_id, user=user))
    assert link.startswith(replica.url)
    page = await context.new_page()
    await page.goto(link)
    await page.wait_for_url(f"{replica.url}/call/r/{request_id}/")
    await expect(page.get_by_test_id("call-state")).to_have_text("idle")
    return page


async def test_two_reps_on_two_replicas_one_call_rings_the_other_is_told_who_and_since_when(
    chromium_browser: Browser,
    browser: BrowserContext,
    slack: FakeSlack,  # noqa: F811
    pilot: FakePilotStatus,  # noqa: F811
    tmp_path: Path,
    pg_url: str,
) -> None:
    slack.user_names[REP] = "Maria Souza"
    pilot.call_behaviour = CallBehaviour(answer_after=None)  # the customer's phone rings until someone hangs up
    settings = make_settings(slack, pilot, tmp_path / "unused.db", database_url=pg_url)
    other_context = await chromium_browser.new_context(permissions=MICROPHONE)
    try:
        async with calling_askcall(settings, slack, pilot) as one, calling_askcall(settings, slack, pilot) as two:
            request_id, _ = await granted_request(one)
            first = await open_page(browser, one, request_id, REP)
            second = await open_page(other_context, two, request_id, OTHER_REP)

            await first.get_by_test_id("call").click()
            await expect(first.get_by_test_id("call-state")).to_have_text("ringing", timeout=10_000)
            await second.get_by_test_id("call").click()

            await expect(second.get_by_test_id("call-state")).to_have_text("failed", timeout=10_000)
            message = await second.get_by_test_id("message").text_content() or ""
            before, after = PT["error.busy"].split("{since}")
            assert message.startswith(before.replace("{name}", "Maria Souza")) and message.endswith(after), message
            assert re.search(r"\d{1,2}:\d{2}", message), message  # since when, in the rep's own time
            assert len(pilot.requests_to("POST", "/v1/calls")) == 1  # refused before Pilot Status was asked
            await expect(first.get_by_test_id("call-state")).to_have_text("ringing")

            # The first page ends its own call; then the second rep calls, from the other replica.
            await first.get_by_test_id("hangup").click()
            await expect(first.get_by_test_id("call-state")).to_have_text("ended", timeout=10_000)
            await wait_until(lambda: pilot.calls["call_FAKE1"].status == "COMPLETED", what="the call to end")
            await wait_until(
                lambda: len([d for d in pilot.deliveries if d.payload.get("status") == "COMPLETED"]) >= 2,
                what="both replicas to hear the end",
            )
            await one.wait_idle()
            await second.get_by_test_id("call").click()
            await expect(second.get_by_test_id("call-state")).to_have_text("ringing", timeout=10_000)
            assert len(pilot.requests_to("POST", "/v1/calls")) == 2
            await second.get_by_test_id("hangup").click()
            await expect(second.get_by_test_id("call-state")).to_have_text("ended", timeout=10_000)
            await wait_until(lambda: pilot.calls["call_FAKE2"].status == "COMPLETED", what="the second call to end")
    finally:
        await other_context.close()
