"""`askcall demo --call` as a person runs it: a fresh process with no settings prints a link; headless Chromium opens
it, calls, hears the fake customer's tone, hangs up; the demo prints each step and the duration in the thread, and
Ctrl-C stops it cleanly.

Runs when Chromium is present; under CI a missing Chromium, or a network other than loopback, fails it.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, expect

from bot.i18n import Translator
from bot.web import page_strings
from tests.calls.browser import STATE_RECORDER, inbound_audio, states
from tests.cli_process import AskcallOutput

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="module")]
LINK_RE = re.compile(r"^\s+(http://127\.0\.0\.1:(\d+)/call/[A-Za-z0-9_-]+)$")
PT = page_strings("pt-BR")
TR = Translator("pt-BR")  # the demo speaks ASKCALL_LANGUAGE, pt-BR when unset


async def test_demo_call_from_the_printed_link_to_the_duration(browser: BrowserContext, tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    demo = await AskcallOutput.start("demo", "--call", env=env, cwd=tmp_path)
    try:
        found = LINK_RE.match(await demo.line(LINK_RE.match, "call link"))
        assert found is not None
        link, port = found.group(1), found.group(2)
        assert TR.t("demo.clicks", rep="ana", label="📞 Ligar agora", channel="sales") in demo.lines
        assert f"Aperte “{PT['call']}” lá e permita o microfone." in demo.text
        assert TR.t("demo.enter").strip() in demo.text

        page = await browser.new_page()
        await page.add_init_script(STATE_RECORDER)
        response = await page.goto(link)
        assert response is not None and response.status == 200
        # The link's page moves on by itself (a meta refresh): ASKCALL_PUBLIC_URL is the demo's own address.
        await page.wait_for_url(f"http://127.0.0.1:{port}/call/r/1/")
        await expect(page.get_by_test_id("customer")).to_have_text("+55 11 9••••-4321")
        await page.get_by_test_id("call").click()
        await expect(page.get_by_test_id("call-state")).to_have_text("connected", timeout=15_000)
        await demo.line(lambda line: line == TR.t("demo.call.audio"), "connection line")

        heard = await inbound_audio(page)  # the fake customer's tone reaches the page
        assert heard["samples"] > 0 and heard["codec"] == "audio/opus", heard
        await page.wait_for_timeout(1_200)
        await page.get_by_test_id("hangup").click()
        await expect(page.get_by_test_id("call-state")).to_have_text("ended")
        assert await states(page) == ["idle", "connecting", "ringing", "connected", "ended"]

        thread = await demo.line(
            lambda line: re.fullmatch(r"AskCall na thread: 📞 @ana ligou — \d+ s", line) is not None,
            "thread line with the duration",
        )
        assert int(thread.split("— ")[1].removesuffix(" s")) >= 1

        await demo.type("\n")  # Enter: "Call now" again, a new link for the same request
        await demo.line(lambda line: line == TR.t("demo.new_link", minutes=10), "new link")
        new_link = [m.group(1) for m in map(LINK_RE.match, demo.lines) if m][-1]
        assert new_link != link
        for url, status in ((link, 403), (new_link, 200)):  # the used link is refused, the new one opens the page
            response = await page.goto(url)
            assert response is not None and response.status == status, url
        ended = await demo.line(lambda line: line.startswith("📴 A ligação terminou"), "end of the call")
        assert re.fullmatch(
            r"📴 A ligação terminou \(completed\) depois de \d+ s; o telefone do cliente ouviu \d+ s do seu "
            r"microfone\.",
            ended,
        ), ended
    finally:
        status = await demo.stop(signal.SIGINT)
    steps = [
        TR.t("demo.call.offer", customer="+55 11 9••••-4321"),
        "AskCall na thread: 📞 @ana ligou — em andamento",
        TR.t("demo.call.rings"),
        TR.t("demo.call.picks_up", hz="440"),
    ]
    assert [line for line in demo.lines if line in steps] == steps
    assert (status, demo.lines[-1]) == (0, TR.t("demo.stopped")), demo.text
    assert "Traceback" not in demo.text
