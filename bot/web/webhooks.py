"""POST /webhooks/pilot-status/<number>: Pilot Status's webhooks (answers to permission requests, browser calls);
in multi-workspace mode POST /webhooks/pilot-status/t/<token>, the token naming one workspace's number.

Invariant: a webhook is answered 200 only once it is stored; while the database can't store it the answer
is 503 with Retry-After, so Pilot Status sends it again. A missing or wrong signature is refused (401), a
body that isn't an event or is stamped in the future gets 400, and a signed event AskCall can't act on is
kept and counted rather than refused (refusing would only make Pilot Status retry it for days). Every event is
stored for the tenant its number serves (the env's workspace in single-workspace mode; the token's otherwise) and
matched against that tenant's requests and calls only. An unknown token is a 404 and stores nothing. A number
whose signing secret isn't set yet is in hint mode: its body is never believed, only used to ask Pilot Status
(bot.services.answers/calls `from_hint`), and nothing of it is stored.
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
from bot.pilot_status.errors import PilotStatusError
from bot.pilot_status.webhooks import (
    CALL_EVENTS,
    PERMISSION_UPDATED,
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
from bot.services.connect import TOKEN_PATH
from bot.store import Store, StoreError
from bot.tasks import Tasks
from bot.tenant_config import TenantConfigs
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
    store: Store
    configs: TenantConfigs


class PilotStatusWebhooks:
    def __init__(self, running: Callable[[], Running], settings: Settings) -> None:
        self._running = running
        self._settings = settings

    def register(self, router: web.UrlDispatcher) -> None:
        if self._settings.multi_workspace:
            # The environment's numbers serve the env token's workspace: with many workspaces there is none; each
            # workspace's numbers post to their own token's URL.
            router.add_post(TOKEN_PATH + "{token}", self.handle_token)
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
                return await _handle_webhook(running, _tenant(running), number, body)
            except StoreError as error:
                return _unavailable(error)

    async def handle_token(self, request: web.Request) -> web.Response:
        """A workspace's number, named by its webhook token: signed events as above once its secret is set; until
        then, hint mode."""
        running = self._running()
        token = request.match_info["token"]
        body = await read_body(request, self._settings.body_timeout)
        with running.tasks.inbound():
            try:
                stored = await running.store.number_by_webhook_token(token) if len(token) <= 100 else None
                number = None
                if stored is not None:
                    tenant = TenantId(stored.tenant_id)
                    config = await running.configs.config_of(tenant)
                    number = next((n for n in config.numbers if n.name == stored.name), None)
                if stored is None or number is None:
                    log.warning("refused a Pilot Status webhook to an unknown address")
                    return web.json_response({"error": "not found"}, status=404)
                if number.webhook_secret is None:
                    return await _handle_hint(running, tenant, number, body)
                if not verify_signature(number.webhook_secret, body, request.headers.get(SIGNATURE_HEADER)):
                    log.warning("rejected a Pilot Status webhook with a missing or wrong signature")
                    return web.json_response({"error": "invalid signature"}, status=401)
                return await _handle_webhook(running, tenant, number, body)
            except StoreError as error:
                return _unavailable(error)


def _unavailable(error: Exception) -> web.Response:
    # Never a 200 for what was not stored: Pilot Status retries it once the database (or itself) is back.
    log.warning("could not take a Pilot Status webhook (%s); answered 503", error)
    return web.json_response(
        {"error": "temporarily unavailable"}, status=503, headers={"Retry-After": str(RETRY_AFTER)}
    )


async def _handle_hint(running: Running, tenant: TenantId, number: WhatsAppNumber, body: bytes) -> web.Response:
    """Hint mode: the unsigned body only says whom or which call to ask Pilot Status about."""
    try:
        data = parse_body(body)
    except PayloadError as error:
        return web.json_response({"error": str(error)}, status=400)
    event, customer, call_id = data.get("event"), data.get("from"), data.get("callId")
    try:
        if event == PERMISSION_UPDATED and isinstance(customer, str):
            await running.answers.from_hint(tenant, customer, number.name)
        elif event in CALL_EVENTS and isinstance(call_id, str):
            await running.calls.from_hint(tenant, call_id)
    except PilotStatusError as error:
        return _unavailable(error)
    except LookupError:
        return web.json_response({"error": "not found"}, status=404)
    return web.json_response({"ok": True, "hint": True})


async def _handle_webhook(running: Running, tenant: TenantId, number: WhatsAppNumber, body: bytes) -> web.Response:
    try:
        data = parse_body(body)
    except PayloadError as error:
        log.warning("refused a Pilot Status webhook: %s", error)
        return web.json_response({"error": str(error)}, status=400)
    if isinstance(data.get("event"), str) and data["event"] in CALL_EVENTS:
        return await _handle_call_event(running, tenant, number, data, body)
    try:
        event = parse_permission_updated(data)
    except UnusableEvent as unusable:
        # Signed, but nothing AskCall can act on (a new status, another event): refusing it would
        # only make Pilot Status retry for days. Kept and counted instead.
        recorded = await running.answers.ignore(tenant, data, body, number.name, str(unusable))
        return web.json_response({"ok": True, "ignored": True, "duplicate": not recorded.is_new})
    if event.answered_at > time.time() + CLOCK_SKEW:
        log.warning("refused a Pilot Status webhook stamped %.0f s in the future", event.answered_at - time.time())
        return web.json_response({"error": "timestamp is in the future"}, status=400)
    recorded = await running.answers.ingest(tenant, event, body, number.name)
    if recorded.is_new and not recorded.unmatched:
        running.tasks.spawn(
            running.answers.process(tenant, recorded.id, event.customer_key), name=f"answer-{recorded.id}"
        )
    return web.json_response({"ok": True, "duplicate": not recorded.is_new})


async def _handle_call_event(
    running: Running, tenant: TenantId, number: WhatsAppNumber, data: dict[str, Any], body: bytes
) -> web.Response:
    """A browser call's call.* event: applied to its call (by callId), stored once, pushed to its page."""
    try:
        event = parse_call_event(data)
    except UnusableEvent as unusable:
        recorded = await running.answers.ignore(tenant, data, body, number.name, str(unusable))
        return web.json_response({"ok": True, "ignored": True, "duplicate": not recorded.is_new})
    is_new = await running.calls.on_event(tenant, event, body, number.name)
    return web.json_response({"ok": True, "duplicate": not is_new})


def _tenant(running: Running) -> TenantId:
    """The tenant a webhook belongs to: the numbers configured in the environment serve the env's workspace
    (single-workspace mode), so what they hear is stored for it and matched against its requests only."""
    if running.env_tenant is None:  # never: these routes exist only in single-workspace mode
        raise LookupError("no workspace serves the environment's numbers")
    return running.env_tenant
