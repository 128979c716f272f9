"""`askcall serve` stopped while call pages are open (issue 17): SIGTERM with a hundred open event streams and a
live call exits well within a container's stop timeout, and the call is left to the sweep (or hung up), never lost.

Measured over a real process with a generous bound: the speed itself belongs in the bench."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from bot.fakes.pilot_status import CallBehaviour, FakePilotStatus
from bot.fakes.slack import FakeSlack, button_payload, interaction_body, slack_signed_headers
from tests.process.test_kill9 import (  # noqa: F401 (fixtures)
    CUSTOMER,
    SIGNING_SECRET,
    AskCallProcess,
    fakes,
    launch,
    process_env,
)

STREAMS = 100
PER_PAGE = 4  # a page session's share of streams (bot.web.call_page.MAX_STREAMS_PER_SESSION)
STOP_BOUND = 5.0  # generous: about 2 s of drain plus closing, against a container's 10 s before SIGKILL
LINK_RE = re.compile(r"<(https?://[^|>]+)\|")
OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "c=IN IP4 0.0.0.0\r\na=setup:active\r\na=rtpmap:111 opus/48000/2\r\n"
)


async def eventually(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        await asyncio.sleep(0.05)


def status_message(slack: FakeSlack) -> dict[str, Any]:
    """The newest message carrying the "📞 Call now" button of request 1."""
    carrying = [m for m in slack.messages if '"askcall_call"' in json.dumps(m.get("blocks") or [])]
    assert carrying, slack.summary()
    return carrying[-1]


async def open_page(app: AskCallProcess, http: aiohttp.ClientSession, slack: FakeSlack, n: int) -> dict[str, str]:
    """A rep clicks "Call now" (a click of its own) and follows the link: the page session's headers."""
    message = status_message(slack)
    payload = button_payload(
        "askcall_call", "1", user=f"U{n}", channel=message["channel"], message=message, action_ts=f"{n}.1"
    )
    body = interaction_body(payload)
    before = len(slack.ephemerals)
    async with http.post(app.url + "/slack/events", data=body, headers=slack_signed_headers(body, SIGNING_SECRET)) as r:
        assert r.status == 200
    await eventually(lambda: len(slack.ephemerals) > before, "the link")
    found = LINK_RE.search(slack.ephemerals[-1]["text"])
    assert found, slack.ephemerals[-1]
    async with http.get(found.group(1), allow_redirects=False) as redeemed:
        assert redeemed.status == 200
        cookie = redeemed.cookies["askcall_call"].value
    return {"Cookie": f"askcall_call={cookie}", "Origin": app.url}


async def test_sigterm_with_a_hundred_open_streams_and_a_live_call_exits_fast_and_leaves_the_call_to_the_sweep(
    fakes: tuple[FakeSlack, FakePilotStatus],  # noqa: F811
    tmp_path: Path,
    launch: Callable[[dict[str, str], Path], AskCallProcess],  # noqa: F811
) -> None:
    slack, pilot = fakes
    pilot.call_behaviour = CallBehaviour(answer_after=None, ring_timeout=120)  # rings through the stop
    env = process_env(slack, pilot, tmp_path)
    env["ASKCALL_PUBLIC_URL"] = f"http://127.0.0.1:{env['PORT']}"
    log_path = tmp_path / "askcall.log"
    app = launch(env, log_path)
    await app.start()
    pilot.subscribe(app.url + "/webhooks/pilot-status")
    streams: list[aiohttp.ClientResponse] = []
    async with aiohttp.ClientSession() as http:
        assert await app.command(http, "+55 11 98765-4321 Podemos ligar?", slack.response_url()) == 200
        await eventually(lambda: len(pilot.permission_requests) == 1, "the permission request")
        assert (await pilot.customer_answers(app.url + "/webhooks/pilot-status", CUSTOMER, "PERMANENT"))[0] == 200
        await eventually(lambda: any("askcall_call" in json.dumps(m.get("blocks")) for m in slack.messages), "grant")
        pages = [await open_page(app, http, slack, n) for n in range(STREAMS // PER_PAGE)]
        async with http.post(app.url + "/call/r/1/offer", json={"sdp": OFFER}, headers=pages[0]) as started:
            assert started.status == 200, await started.text()
            call_id = (await started.json())["callId"]
        await eventually(lambda: pilot.calls[call_id].status == "RINGING", "the customer's phone to ring")
        for page in pages:
            for _ in range(PER_PAGE):
                stream = await http.get(
                    app.url + "/call/r/1/events",
                    headers={"Cookie": page["Cookie"], "Sec-Fetch-Site": "same-origin"},
                    timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
                )
                assert stream.status == 200
                streams.append(stream)
        assert len(streams) == STREAMS

        began = time.monotonic()
        assert app.proc is not None
        app.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(app.proc.wait(), 30)
        took = time.monotonic() - began
        for stream in streams:
            stream.close()

    log = log_path.read_text()
    assert code == 0, log
    assert took < STOP_BOUND, f"stopping took {took:.1f} s\n{log}"
    assert "Traceback" not in log and " ERROR " not in log, log
    # The call goes on at the customer's (the audio never went through AskCall): it is stored live with its
    # Pilot Status id, for the sweep of whichever AskCall runs next, or it was hung up. Never forgotten.
    with sqlite3.connect(env["ASKCALL_DB_PATH"]) as db:
        ((state, pilot_call_id),) = db.execute("SELECT state, pilot_call_id FROM calls").fetchall()
    assert pilot_call_id == call_id
    assert state in ("started", "ringing") or pilot.calls[call_id].status == "COMPLETED", (state, pilot.calls)
