"""GET /metrics: the Prometheus exposition (bot.observability.Metrics), on AskCall's port or alone on its own.

Invariant: with ASKCALL_METRICS_TOKEN set, only `Authorization: Bearer <token>` gets the counts (401
otherwise); a scrape while the database can't be read still succeeds, with the last counts, their age and
`askcall_database_up 0` (bot.observability.Metrics), so an outage shows on the dashboards instead of as a
failed scrape.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from bot import observability
from bot.observability import Metrics
from bot.store import Store

log = logging.getLogger(__name__)


class Running(Protocol):
    """What this surface uses of the running AskCall (bot.app), which starts after the routes are made."""

    metrics: Metrics
    store: Store


class MetricsEndpoint:
    def __init__(self, running: Callable[[], Running], token: str | None) -> None:
        self._running = running
        self._token = token

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_get("/metrics", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        running = self._running()
        if not observability.authorized(request, self._token):
            return web.json_response(
                {"error": "a bearer token is required"}, status=401, headers={"WWW-Authenticate": "Bearer"}
            )
        body = await running.metrics.render(running.store, time.time())
        return observability.metrics_response(body)


async def serve_metrics(
    endpoint: MetricsEndpoint, host: str, port: int, sock: socket.socket | None = None
) -> web.AppRunner:
    """/metrics alone, on ASKCALL_METRICS_PORT (a port only the metrics network need reach), on `sock` when
    `askcall serve` bound it already."""
    metrics_app = web.Application()
    endpoint.register(metrics_app.router)
    runner = web.AppRunner(metrics_app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.SockSite(runner, sock) if sock is not None else web.TCPSite(runner, host, port)
    await site.start()
    log.info("metrics on %s:%d", host, port)
    return runner
