"""Customers' answers: store the webhook event once, match it to a request, queue the Slack messages."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot.domain import DEFAULT_NUMBER, TEMPORARY_GRANT, EventResult, Outcome, Request, TenantId, number_scoped
from bot.i18n import Translator
from bot.leases import WEBHOOK_EVENTS
from bot.phones import log_phone
from bot.pilot_status.errors import PilotStatusError
from bot.pilot_status.webhooks import PERMISSION_UPDATED, PermissionUpdated, ignored_dedup_key
from bot.services.deps import Service, ServiceDeps
from bot.services.outcomes import outcome_effects
from bot.slack import messages
from bot.store import IncomingEvent, RecordedEvent, WebhookEvent
from bot.tasks import Tasks

log = logging.getLogger(__name__)


class AnswerService(Service):
    def __init__(self, deps: ServiceDeps, tasks: Tasks) -> None:
        super().__init__(deps)
        self._tasks = tasks
        # One answer at a time per customer, so two quick answers apply in order. Weak values: a
        # customer's lock lives only while someone holds or awaits it.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def ingest(
        self, tenant: TenantId, event: PermissionUpdated, body: bytes, number_name: str = DEFAULT_NUMBER
    ) -> RecordedEvent:
        """Persist the event (once) for the tenant its webhook belongs to; runs before the webhook's 200. An
        answer that matches none of the tenant's requests is settled right there (and logged): only answers with
        a request need `process`."""
        incoming = IncomingEvent(
            tenant,
            dedup_key=number_scoped(event.dedup_key, number_name),
            event=PERMISSION_UPDATED,
            status=event.status,
            from_phone=event.from_phone,
            to_phone=event.to_phone,
            event_ts=event.timestamp,
            body=body.decode("utf-8", errors="replace"),
            number_name=number_name,
        )
        recorded = await self._store.record_webhook_event(incoming, answered_at=event.answered_at)
        if recorded.unmatched:
            _log_unmatched(event.status, event.from_phone)
        return recorded

    async def from_hint(self, tenant: TenantId, customer: str, number_name: str) -> RecordedEvent | None:
        """Hint mode (a number whose webhook secret isn't set yet): an unsigned `call.permission_updated` only
        says whom to ask about. Pilot Status is asked (`GET /v1/calls/permissions`) and only what it says is
        stored and applied: a grant it reports, never the body's claim. No permission is not acted on (it can't be
        told apart from "not answered yet"; a decline needs the signed webhook). None when nothing was stored.
        Raises PilotStatusError when Pilot Status can't be asked (the webhook is then answered 503, and resent);
        LookupError when the tenant has no such number."""
        digits = "".join(c for c in customer if c.isdigit())
        if not 8 <= len(digits) <= 15:
            return None
        e164 = "+" + digits
        pilot = await self._pilots.get(tenant, number_name)
        permission = await pilot.get_permission(e164)
        if permission.status not in ("temporary", "permanent"):
            log.info("hint for %s: Pilot Status reports %s; nothing applied", log_phone(e164), permission.status)
            return None
        # A stable time for the same grant (its redeliveries dedupe): a temporary one from its expiry.
        if permission.status == "temporary" and permission.expiration_time:
            answered_at = float(permission.expiration_time) - TEMPORARY_GRANT
        else:
            answered_at = self._clock()
        event = PermissionUpdated(
            status=permission.status.upper(),
            from_phone=e164,
            to_phone=None,
            timestamp=_iso(answered_at),
            answered_at=min(answered_at, self._clock()),
        )
        what_the_api_said = json.dumps(
            {"event": PERMISSION_UPDATED, "status": event.status, "from": e164, "source": "GET /v1/calls/permissions"}
        ).encode()
        recorded = await self.ingest(tenant, event, what_the_api_said, number_name)
        if recorded.is_new and not recorded.unmatched:
            self._tasks.spawn(self.process(tenant, recorded.id, event.customer_key), name=f"answer-{recorded.id}")
        return recorded

    async def ignore(
        self, tenant: TenantId, data: dict[str, Any], body: bytes, number_name: str, why: str
    ) -> RecordedEvent:
        """Keep a signed event AskCall cannot use, settled as `ignored` (so it is counted, and never
        processed), before the webhook's 200."""
        status, from_phone, to_phone, event_ts = (data.get(k) for k in ("status", "from", "to", "timestamp"))
        event = data.get("event")
        incoming = IncomingEvent(
            tenant,
            dedup_key=number_scoped(ignored_dedup_key(body), number_name),
            event=event[:100] if isinstance(event, str) else "",
            status=status[:100] if isinstance(status, str) else None,
            from_phone=from_phone[:100] if isinstance(from_phone, str) else None,
            to_phone=to_phone[:100] if isinstance(to_phone, str) else None,
            event_ts=event_ts[:100] if isinstance(event_ts, str) else None,
            body=body.decode("utf-8", errors="replace"),
            number_name=number_name,
        )
        recorded = await self._store.record_webhook_event(incoming, result=EventResult.IGNORED)
        if recorded.is_new:
            log.warning("ignored a Pilot Status webhook AskCall cannot use (%s); stored as event %d", why, recorded.id)
        return recorded

    async def process(self, tenant: TenantId, event_id: int, phone_key: str) -> None:
        """Apply a stored answer, then the customer's next one if it is waiting.

        Answers from one customer apply in the order they were stored: in this process through a
        lock per customer, across processes because the store hands out only a customer's oldest
        unprocessed answer (under a lease), and whoever applies it goes on to the next.
        """
        customer = f"{tenant}:{phone_key}"
        lock = self._locks.get(customer)
        if lock is None:
            lock = self._locks[customer] = asyncio.Lock()
        async with lock:
            target = await self._store.open_answer(tenant, event_id, _epoch)
            if target is None:
                # Processed already, held by another live process, an earlier answer goes first, or the workspace
                # left or was disabled (the answer stays stored, acting on nothing): the store checks that in the
                # same statement that leases the event.
                return
            with self._held.hold(WEBHOOK_EVENTS, event_id):
                if target.request is None:  # settled `unmatched` as it was opened
                    _log_unmatched(target.event.status, target.event.from_phone)
                    next_id = target.next_id
                else:
                    next_id = await self._apply(target.event, target.request, target.dm)
        if next_id is not None:
            self._tasks.spawn(self.process(tenant, next_id, phone_key), name=f"answer-{next_id}")

    async def sweep(self) -> None:
        """Apply the answers a dead process (or a failed step) stored but never applied."""
        for event_id, tenant, phone_key in await self._store.abandoned_webhook_events(time.time()):
            self._tasks.spawn(self.process(tenant, event_id, phone_key), name=f"answer-{event_id}")

    async def _apply(self, event: WebhookEvent, request: Request, dm: bool) -> int | None:
        """Settle the event on its request; returns the customer's next unprocessed event (read with the settling)."""
        outcome = Outcome.parse(event.status)
        if outcome is None:  # a status this AskCall doesn't know: stored, but it changes nothing
            return await self._settle(event, EventResult.IGNORED, request)
        # Answers are ordered by when they were given, but never later than when AskCall heard of
        # them: an event stamped in the future must not outrank the customer's real, later answer.
        answered_at = min(_epoch(event.event_ts), event.received_at)
        answer_ts = event.event_ts if answered_at == _epoch(event.event_ts) else _iso(answered_at)
        customer = log_phone(event.from_phone or "")
        changed = request.outcome is not None
        if changed:
            previous_at = _epoch(request.answer_event_ts)
            if answered_at < previous_at:
                log.info("answer from %s older than the one on request %d; ignored", customer, request.id)
                return await self._settle(event, EventResult.STALE, request)
        expires_at = await self._expiry(request, outcome, answered_at)
        tr = Translator(request.lang)
        preview = replace(request, outcome=outcome, expires_at=expires_at)
        text = messages.answer_text(preview, tr)
        if changed and request.outcome is outcome:
            if not _renewed(request, expires_at):
                return await self._settle(event, EventResult.UNCHANGED, request)
            text = tr.t("reminder.renewed", user=request.user_id, until=messages.slack_date(expires_at or 0))
        elif changed:
            text = tr.t("answer.changed") + " " + text
        _, effects = outcome_effects(
            request,
            outcome=outcome,
            expires_at=expires_at,
            answered_at=answered_at,
            text=text,
            key=f"event{event.id}",
            now=self._clock(),
            dm=dm,
            workspace=self._workspace,
            answer_event_ts=answer_ts,
        )
        settled, next_id = await self._store.settle_answer(
            event, EventResult.CHANGED if changed else EventResult.MATCHED, request_id=request.id, effects=effects
        )
        if settled:
            log.info("request %d answered %s by %s", request.id, event.status, customer)
            self._wake_notifier()
            if effects.reminders:
                self._wake_reminders()
        return next_id

    async def _settle(self, event: WebhookEvent, result: EventResult, request: Request) -> int | None:
        """Settle an answer that changes nothing on its request; the customer's next unprocessed event."""
        _, next_id = await self._store.settle_answer(event, result, request_id=request.id)
        return next_id

    async def _expiry(self, request: Request, status: Outcome, answered_at: float) -> float | None:
        if status is not Outcome.TEMPORARY:
            return None
        try:
            pilot = await self._pilots.get(request.tenant, request.number_name)
            permission = await pilot.get_permission(request.phone_e164)
        except PilotStatusError as error:
            log.warning("request %d: permission lookup failed (%s); assuming 7 days", request.id, error.label)
        else:
            if permission.status == "temporary" and permission.expiration_time:
                return float(permission.expiration_time)
        return answered_at + TEMPORARY_GRANT


def _log_unmatched(status: str | None, from_phone: str | None) -> None:
    log.info("answer %s from %s matches no open request; stored only", status, log_phone(from_phone or ""))


def _renewed(request: Request, expires_at: float | None) -> bool:
    """The same temporary answer again, but with a later expiry: the customer renewed the grant."""
    return (
        request.outcome is Outcome.TEMPORARY and bool(expires_at) and (expires_at or 0) > (request.expires_at or 0) + 60
    )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _epoch(iso: str | None) -> float:
    if not iso:
        return 0.0
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
