"""POST /webhooks/pilot-status/<number>: Pilot Status's webhooks (answers to permission requests, browser calls).

Invariant: a webhook is answered 200 only once it is stored; while the database can't store it the answer
is 503 with Retry-After, so Pilot Status sends it again. A missing or wrong signature is refused (401), a
body that isn't an event or is stamped in the future gets 400, and a signed event AskCall can't act on is
kept and counted rather than refused (refusing would only make Pilot Status retry it for days). Every event is
stored for the tenant its number serves (the env's workspace, in single-workspace mode) and matched against that
tenant's requests and calls only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from aiohttp import web

from bot.config import Settings, WhatsAppNumber
from bot.domain import CLOCK_SKEW, TenantId
from bot.pilot_status.webhooks import (
    CALL_EVENTS,
    SIGNATURE_HEADER,
    PayloadError,
    UnusableEvent,
    parse_body,
    parse_call_event,
    parse_permission_updated,
    verify_signature,
)
from bot.services.answers import AnswerService
from bot.services.calls import CallService
from bot.store import StoreError
from bot.tasks import Tasks
from bot.web.body import read_body

log = logging.getLogger(__name__)

# The default number's webhooks also arrive here (a channel without a number of its own uses it).
DEFAULT_PATH = "/webhooks/pilot-status/default"
# What a 503 asks the sender to wait before retrying, while the database is unreachable.
RETRY_AFTER = 30


class Running(Protocol):
    """What this surface uses of the running AskCall (bot.app), which starts after the routes are made."""

    answers: AnswerService
    calls: CallService
    tasks: Tasks
    env_tenant: TenantId | None


class PilotStatusWebhooks:
    def __init__(self, running: Callable[[], Running], settings: Settings) -> None:
        self._running = running
        self._settings = settings

    def register(self, router: web.UrlDispatcher) -> None:
        if self._settings.multi_workspace:
            # The environment's numbers serve the env token's workspace: with many workspaces there is none.
            return
        for number in self._settings.numbers:
            router.add_post(number.webhook_path, partial(self.handle, number))
        if self._settings.number_for_channel(None) is not None:
            router.add_post(DEFAULT_PATH, partial(self.handle, self._settings.numbers[0]))

    async def handle(self, number: WhatsAppNumber, request: web.Request) -> web.Response:
        running = self._running()
        body = await read_body(request, self._settings.body_timeout)
        secret = number.webhook_secret
        if secret is not None and not verify_signature(secret, body, request.headers.get(SIGNATURE_HEADER)):
            log.warning("rejected a Pilot Status webhook with a missing or wrong signature")
            return web.json_response({"error": "invalid signature"}, status=401)
        with running.tasks.inbound():
            try:
                return await _handle_webhook(running, number, body)
            except StoreError as error:
                # Never a 200 for what was not stored: Pilot Status retries it once the database is back.
                log.warning("could not store a Pilot Status webhook (%s); answered 503", error)
                return web.json_response(
                    {"error": "temporarily unavailable"}, status=503, headers={"Retry-After": str(RETRY_AFTER)}
                )


async def _handle_webhook(running: Running, number: WhatsAppNumber, body: bytes) -> web.Response:
    try:
        data = parse_body(body)
    except PayloadError as error:
        log.warning("refused a Pilot Status webhook: %s", error)
        return web.json_response({"error": str(error)}, status=400)
    if isinstance(data.get("event"), str) and data["event"] in CALL_EVENTS:
        return await _handle_call_event(running, number, data, body)
    try:
        event = parse_permission_updated(data)
    except UnusableEvent as unusable:
        # Signed, but nothing AskCall can act on (a new status, another event): refusing it would
        # only make Pilot Status retry for days. Kept and counted instead.
        recorded = await running.answers.ignore(_tenant(running), data, body, number.name, str(unusable))
        return web.json_response({"ok": True, "ignored": True, "duplicate": not recorded.is_new})
    if event.answered_at > time.time() + CLOCK_SKEW:
        log.warning("refused a Pilot Status webhook stamped %.0f s in the future", event.answered_at - time.time())
        return web.json_response({"error": "timestamp is in the future"}, status=400)
    tenant = _tenant(running)
    recorded = await running.answers.ingest(tenant, event, body, number.name)
    if recorded.is_new and not recorded.unmatched:
        running.tasks.spawn(
            running.answers.process(tenant, recorded.id, event.customer_key), name=f"answer-{recorded.id}"
        )
    return web.json_response({"ok": True, "duplicate": not recorded.is_new})


async def _handle_call_event(
    running: Running, number: WhatsAppNumber, data: dict[str, Any], body: bytes
) -> web.Response:
    """A browser call's call.* event: applied to its call (by callId), stored once, pushed to its page."""
    try:
        event = parse_call_event(data)
    except UnusableEvent as unusable:
        recorded = await running.answers.ignore(_tenant(running), data, body, number.name, str(unusable))
        return web.json_response({"ok": True, "ignored": True, "duplicate": not recorded.is_new})
    is_new = await running.calls.on_event(_tenant(running), event, body, number.name)
    return web.json_response({"ok": True, "duplicate": not is_new})


def _tenant(running: Running) -> TenantId:
    """The tenant a webhook belongs to: the numbers configured in the environment serve the env's workspace
    (single-workspace mode), so what they hear is stored for it and matched against its requests only."""
    if running.env_tenant is None:  # never: these routes exist only in single-workspace mode
        raise LookupError("no workspace serves the environment's numbers")
    return running.env_tenant
