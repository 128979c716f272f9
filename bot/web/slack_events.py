"""POST /slack/events: Slack's HTTP requests, checked (bot.listeners.inbound), then handed to Bolt
(`/askcall` through bot.listeners.direct: the same steps without Bolt's dispatch around them).

Invariant: only a request that is signed (when a signing secret is set) and carries a payload AskCall's
listeners can read reaches Bolt; anything else gets a 4xx and a one-line warning, never a 500. Bolt runs
as inbound work, so background tasks yield to it. Not routed when Slack talks over Socket Mode.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response

from bot.config import Settings
from bot.listeners import inbound
from bot.listeners.direct import DirectCommand
from bot.tasks import Tasks
from bot.web.body import read_body

log = logging.getLogger(__name__)

PATH = "/slack/events"


class Running(Protocol):
    """What this surface uses of the running AskCall (bot.app), which starts after the routes are made."""

    slack_http: DirectCommand
    tasks: Tasks


class SlackEvents:
    def __init__(self, running: Callable[[], Running], settings: Settings) -> None:
        self._running = running
        self._settings = settings

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_post(PATH, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        running = self._running()
        body = await read_body(request, self._settings.body_timeout)
        secret = self._settings.slack_signing_secret
        try:
            bolt_request = inbound.bolt_request(body, request.query_string, request.headers, secret, time.time())
        except inbound.Refused as refused:
            log.warning("refused a Slack request: %s", refused.reason)
            return web.json_response({"error": refused.reason}, status=refused.status)
        with running.tasks.inbound():
            response = await running.slack_http.dispatch(bolt_request)
            return await to_aiohttp_response(response)
