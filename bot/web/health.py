"""GET /healthz (the process answers) and GET /readyz (it can do its work now: bot.observability.Readiness).

Invariant: /healthz never touches the database, so a database outage doesn't get the process restarted;
/readyz says 503 while the database can't be written and from SIGTERM on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from bot.observability import Readiness


class Running(Protocol):
    """What this surface uses of the running AskCall (bot.app), which starts after the routes are made."""

    readiness: Readiness


class Health:
    def __init__(self, running: Callable[[], Running]) -> None:
        self._running = running

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_get("/healthz", healthz)
        router.add_get("/readyz", self.readiness)

    async def readiness(self, request: web.Request) -> web.Response:
        return await self._running().readiness.response()


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
