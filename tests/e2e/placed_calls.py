"""Browser calls made through the real flow, for the tests of what records them (App Home, export, retention):
"📞 Call now" clicked as a rep, the link redeemed, an offer posted from the call page's session (aiortc as the
browser), and the fake customer answering, declining or missing as told; returns once the call is over."""

from __future__ import annotations

import asyncio
import json

from bot.domain import Call
from bot.fakes.pilot_status import CallBehaviour
from tests.calls.askcall import click_call_now, link_in
from tests.calls.helpers import AiortcCaller
from tests.conftest import Server
from tests.tenants import TENANT

ANSWERED = CallBehaviour(answer_after=0.05, hang_up_after=1.2)  # the customer picks up, then hangs up
REJECTED = CallBehaviour(answer_after=0.05, reject=True)  # the customer declines as it rings
MISSED = CallBehaviour(answer_after=None, ring_timeout=0.2)


async def place_call(server: Server, request_id: int, *, user: str, behaviour: CallBehaviour) -> Call:
    server.pilot.call_behaviour = behaviour
    opened = await server.http.get(link_in(await click_call_now(server, request_id, user=user)), allow_redirects=False)
    await opened.read()
    headers = {"Cookie": f"askcall_call={opened.cookies['askcall_call'].value}", "Origin": server.url}
    caller = AiortcCaller()
    try:
        offer = await server.http.post(
            f"{server.url}/call/r/{request_id}/offer", json={"sdp": await caller.offer()}, headers=headers
        )
        assert offer.status == 200, await offer.text()
        if behaviour is ANSWERED:  # the browser takes the customer's answer, so the audio connects
            await caller.accept(await _answer(server, request_id, headers["Cookie"]))
        call = await _over(server, (await offer.json())["callId"])
    finally:
        await caller.close()
    await server.wait_idle()
    return call


async def _answer(server: Server, request_id: int, cookie: str) -> str:
    """The answer SDP, from the call page's event stream once the customer picked up."""
    headers = {"Cookie": cookie, "Sec-Fetch-Site": "same-origin"}
    events = await server.http.get(f"{server.url}/call/r/{request_id}/events", headers=headers)
    async for line in events.content:
        if line.startswith(b"data: "):
            update = json.loads(line[6:])
            if update["state"] == "connected":
                events.close()
                return str(update["sdpAnswer"])
            assert update["state"] == "ringing", update
    raise AssertionError("the event stream ended before the call connected")


async def _over(server: Server, pilot_call_id: str) -> Call:
    async with asyncio.timeout(15):
        while True:
            call = await server.askcall.store.call_by_pilot_id(TENANT, pilot_call_id)
            if call is not None and call.state.is_final:
                return call
            await asyncio.sleep(0.05)
