"""Test helpers for calls: a webhook sink that records signed ``call.*`` deliveries, and an aiortc "browser"."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiortc import RTCSessionDescription

from bot.fakes.pilot_status import sign_pilot_status
from bot.fakes.server import LoopbackServer
from bot.fakes.whatsapp_peer import TonePeer, loopback_ice


@dataclass
class Delivery:
    raw: bytes
    signature: str | None
    payload: dict[str, Any]


class WebhookSink(LoopbackServer):
    """Receives webhooks on ``POST /hook`` (of ``app`` when given); a test awaits the events it expects."""

    def __init__(self, app: web.Application | None = None) -> None:
        self.deliveries: list[Delivery] = []
        self._arrived = asyncio.Condition()
        app = app or web.Application()
        app.router.add_post("/hook", self._receive)
        super().__init__(app)

    @property
    def url(self) -> str:
        return self.base_url + "/hook"

    async def _receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        delivery = Delivery(raw, request.headers.get("x-pilot-status-signature"), json.loads(raw))
        async with self._arrived:
            self.deliveries.append(delivery)
            self._arrived.notify_all()
        return web.Response(text="ok")

    def events(self) -> list[str]:
        return [d.payload["event"] for d in self.deliveries]

    async def wait_for(self, *events: str, call_id: str | None = None, timeout: float = 10.0) -> Delivery:  # noqa: ASYNC109
        """The first delivery of any of ``events`` (for ``call_id`` when given), waiting for it if needed."""

        def found() -> Delivery | None:
            return next(
                (
                    d
                    for d in self.deliveries
                    if d.payload["event"] in events and call_id in (None, d.payload.get("callId"))
                ),
                None,
            )

        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: found() is not None)
        delivery = found()
        assert delivery is not None
        return delivery

    def all_signed_with(self, secret: str) -> bool:
        return all(d.signature == sign_pilot_status(d.raw, secret) for d in self.deliveries)


class AiortcCaller(TonePeer):
    """A browser stand-in: offers audio (a tone), sends only a copy rewritten to ``a=setup:active``."""

    async def offer(self) -> str:
        """Create the offer with every candidate gathered (127.0.0.1 only); return the copy for the provider."""
        with loopback_ice():
            await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp.replace("a=setup:actpass", "a=setup:active")

    async def accept(self, answer_sdp: str) -> None:
        with loopback_ice():
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))


async def wait_until(predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:  # noqa: ASYNC109
    """Poll a cheap in-process ``predicate`` (counters) until true; fail with ``what`` after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
