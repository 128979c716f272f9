"""A stand-in for AskCall's call-page server in the browser harness test.

It serves a static page under a strict Content-Security-Policy, relays the page's offer to the fake Pilot Status
(the API key never reaches the browser), answers a long-poll with the answer SDP once the ``call.connected``
webhook for that call has arrived (or with the outcome when the call ended first), and relays the hang-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.fakes.pilot_status import FakePilotStatus
from tests.calls.helpers import WebhookSink

CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; "
    "media-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@web.middleware
async def security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


class CallRelay(WebhookSink):
    def __init__(self, pilot: FakePilotStatus, customer: str, static: Path) -> None:
        self.pilot, self.customer, self.static = pilot, customer, static
        self._http: aiohttp.ClientSession | None = None
        app = web.Application(middlewares=[security_headers])
        app.router.add_get("/", self._index)
        app.router.add_get("/favicon.ico", self._no_icon)
        app.router.add_static("/static", static)
        app.router.add_post("/calls", self._start)
        app.router.add_get("/calls/{id}/answer", self._answer)
        app.router.add_post("/calls/{id}/hangup", self._hangup)
        super().__init__(app)

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(base_url=self.pilot.base_url, headers={"x-api-key": self.pilot.api_key})
        await super().start()
        self.pilot.subscribe(self.url, ["call.ringing", "call.connected", "call.ended", "call.missed"])

    async def stop(self) -> None:
        await super().stop()
        if self._http is not None:
            await self._http.close()

    async def _relay(self, method: str, path: str, **kwargs: Any) -> web.Response:
        assert self._http is not None
        async with self._http.request(method, path, **kwargs) as response:
            return web.json_response(await response.json(), status=response.status)

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(self.static / "index.html")

    async def _no_icon(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    async def _start(self, request: web.Request) -> web.Response:
        body = await request.json()
        return await self._relay("POST", "/v1/calls", json={"to": self.customer, "sdp": body["sdp"]})

    async def _answer(self, request: web.Request) -> web.Response:
        call_id = request.match_info["id"]
        outcome = await self.wait_for("call.connected", "call.ended", "call.missed", call_id=call_id, timeout=30)
        if outcome.payload["event"] != "call.connected":
            return web.json_response({"event": outcome.payload["event"], "sdpAnswer": None})
        return await self._relay("GET", f"/v1/calls/{call_id}", params={"includeSdp": "1"})

    async def _hangup(self, request: web.Request) -> web.Response:
        return await self._relay("POST", f"/v1/calls/{request.match_info['id']}/terminate")
