"""A stand-in for AskCall's call-page server in the browser tests, serving the real page from ``bot/web``.

It speaks the page's protocol (see the header of ``bot/web/call.js``) for one call: ``config`` from the catalogue,
``offer`` relayed to the fake Pilot Status (the API key never reaches the browser), ``events`` as Server-Sent Events
built from the signed ``call.*`` webhooks it receives (the answer SDP read once ``call.connected`` has arrived: no
polling), and ``hangup`` relayed as terminate. Every response carries the page's security headers.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiohttp import web

from bot.fakes.pilot_status import FakePilotStatus
from bot.phones import mask
from bot.web import CALL_PAGE_FILES, CALL_PAGE_HEADERS, asset, page_strings
from tests.calls.helpers import Delivery, WebhookSink

CALL_EVENTS = ["call.ringing", "call.connected", "call.ended", "call.missed"]


@web.middleware
async def security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    response.headers.update(CALL_PAGE_HEADERS)
    return response


class CallRelay(WebhookSink):
    def __init__(self, pilot: FakePilotStatus, customer: str, *, lang: str = "en", valid_until: str | None = None):
        self.pilot, self.customer, self.lang, self.valid_until = pilot, customer, lang, valid_until
        self.call_id: str | None = None
        self.hangups = 0
        self._http: aiohttp.ClientSession | None = None
        self._streams: set[asyncio.Task[Any]] = set()
        app = web.Application(middlewares=[security_headers])
        app.router.add_get("/", self._file)
        for name in CALL_PAGE_FILES:
            app.router.add_get(f"/{name}", self._file)
        app.router.add_get("/favicon.ico", self._no_icon)
        app.router.add_get("/config", self._config)
        app.router.add_post("/offer", self._offer)
        app.router.add_get("/events", self._events)
        app.router.add_post("/hangup", self._hangup)
        super().__init__(app)

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(base_url=self.pilot.base_url, headers={"x-api-key": self.pilot.api_key})
        await super().start()
        self.pilot.subscribe(self.url, CALL_EVENTS)

    async def stop(self) -> None:
        for task in self._streams:  # an open EventSource would otherwise hold the server's shutdown
            task.cancel()
        await super().stop()
        if self._http is not None:
            await self._http.close()

    async def _pilot(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        assert self._http is not None
        async with self._http.request(method, path, **kwargs) as response:
            return response.status, await response.json()

    async def _file(self, request: web.Request) -> web.StreamResponse:
        name = request.path.lstrip("/") or "call.html"
        return web.Response(body=asset(name), content_type=CALL_PAGE_FILES[name])

    async def _no_icon(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    async def _config(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "lang": self.lang,
                "strings": page_strings(self.lang),
                "customer": mask(self.customer),
                "askedBy": "@rep",
                "reason": "Podemos ligar para fechar o pedido?",
                "validUntil": self.valid_until,
                "iceServers": [],
            }
        )

    async def _offer(self, request: web.Request) -> web.Response:
        body = await request.json()
        status, answer = await self._pilot("POST", "/v1/calls", json={"to": self.customer, "sdp": body["sdp"]})
        if status != 200:
            return web.json_response(answer, status=status)
        self.call_id = answer["id"]
        return web.json_response({"callId": self.call_id})

    async def _hangup(self, request: web.Request) -> web.Response:
        self.hangups += 1
        status, answer = await self._pilot("POST", f"/v1/calls/{self.call_id}/terminate")
        return web.json_response(answer, status=status)

    def _call_deliveries(self) -> list[Delivery]:
        return [d for d in self.deliveries if self.call_id is not None and d.payload.get("callId") == self.call_id]

    async def _page_state(self, payload: dict[str, Any]) -> dict[str, Any]:
        event = payload["event"]
        if event == "call.ringing":
            return {"state": "ringing"}
        if event == "call.connected":
            _status, details = await self._pilot("GET", f"/v1/calls/{self.call_id}", params={"includeSdp": "1"})
            return {"state": "connected", "sdpAnswer": details["sdpAnswer"]}
        reason = "missed" if event == "call.missed" else str(payload["status"]).lower()
        return {"state": "ended", "reason": reason}

    async def _events(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self._streams.add(task)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        sent: list[Delivery] = []
        try:
            while True:
                async with self._arrived:
                    await self._arrived.wait_for(lambda: len(self._call_deliveries()) > len(sent))
                for delivery in self._call_deliveries()[len(sent) :]:
                    sent.append(delivery)
                    update = await self._page_state(delivery.payload)
                    try:
                        await response.write(f"event: state\ndata: {json.dumps(update)}\n\n".encode())
                    except ConnectionResetError:  # the page went away (tab closed): nothing to tell it
                        return response
                    if update["state"] == "ended":
                        return response
        finally:
            self._streams.discard(task)
