"""Expiry of temporary grants: no webhook announces it, so AskCall schedules its own reminders.

Two durable reminders per temporary grant: 24 h before expiry (a heads-up in the thread) and at
expiry, when a fresh probe decides between "renewed", "now permanent" and "expired". Reminders
live in SQLite, fire once (the state change and the messages commit together), and survive
restarts; a reminder whose grant changed in the meantime is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bot.domain import DeliveryKind, Outcome, ReminderKind, ReminderState, Request, RequestState
from bot.i18n import Translator
from bot.leases import REMINDERS, HeldWork
from bot.pilot_status.errors import PilotStatusError
from bot.pilot_status.pool import PilotStatusPool
from bot.slack import messages
from bot.store import Effects, NewDelivery, NewReminder, Reminder, Store
from bot.worker import DueWorkLoop

log = logging.getLogger(__name__)

WARNING = ReminderKind.WARNING
EXPIRY = ReminderKind.EXPIRY
WARNING_LEAD = 24 * 3600
# A probe showing an expiry this far past the one we knew means the customer renewed the grant.
RENEWAL_MARGIN = 60.0


def reminders_for_grant(expires_at: float, now: float) -> list[NewReminder]:
    """The reminders a temporary grant needs; the heads-up only if there is still a day to go."""
    reminders = [NewReminder(EXPIRY, expires_at)]
    if expires_at - WARNING_LEAD > now:
        reminders.insert(0, NewReminder(WARNING, expires_at - WARNING_LEAD))
    return reminders


class ReminderService:
    def __init__(
        self,
        store: Store,
        pilots: PilotStatusPool,
        wake_notifier: Callable[[], None],
        clock: Callable[[], float],
        held: HeldWork,
    ) -> None:
        self._store = store
        self._held = held
        self._pilots = pilots
        self._wake_notifier = wake_notifier
        self._clock = clock
        self._loop = DueWorkLoop("reminders", self._fire_due, clock)

    def start(self) -> None:
        self._loop.start()

    def wake(self) -> None:
        self._loop.wake()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _fire_due(self) -> float | None:
        """Fire what is due; returns when the next reminder falls due."""
        due = await self._store.claim_due_reminders(self._clock())
        # One at a time: reminders are rare, and each may probe Pilot Status (rate-limited by Meta).
        for reminder in due:
            try:
                with self._held.hold(REMINDERS, reminder.id):
                    await self._fire(reminder)
            except Exception:
                log.exception("reminder %d failed; it is tried again when its lease runs out", reminder.id)
        return await self._store.next_reminder_time()

    async def _fire(self, reminder: Reminder) -> None:
        request = await self._store.get_request(reminder.tenant, reminder.request_id)
        if request is None or not _still_applies(request, reminder):
            await self._store.complete_reminder(
                reminder.tenant, reminder.id, ReminderState.SKIPPED, request_id=reminder.request_id
            )
            return
        if reminder.kind == WARNING:
            await self._warn(reminder, request)
        else:
            await self._expire(reminder, request)
        self._wake_notifier()

    async def _warn(self, reminder: Reminder, request: Request) -> None:
        tr = Translator(request.lang)
        text = tr.t(
            "reminder.warning",
            user=request.user_id,
            phone=request.shown_phone,
            until=messages.slack_date(request.expires_at or 0),
        )
        reply = NewDelivery(f"reminder{reminder.id}:reply", DeliveryKind.REPLY, messages.thread_reply(request, text))
        await self._store.complete_reminder(
            request.tenant, reminder.id, ReminderState.FIRED, request_id=request.id, effects=Effects(deliveries=[reply])
        )

    async def _expire(self, reminder: Reminder, request: Request) -> None:
        tr = Translator(request.lang)
        now = self._clock()
        status, expiration = await self._probe(request)
        if status == "permanent":
            changed = replace(request, outcome=Outcome.PERMANENT, expires_at=None)
            text = tr.t("reminder.now_permanent", user=request.user_id)
            update: dict[str, Any] = {"outcome": Outcome.PERMANENT, "expires_at": None}
            new_reminders: list[NewReminder] = []
        elif status == "temporary" and expiration and expiration > (request.expires_at or 0) + RENEWAL_MARGIN:
            changed = replace(request, expires_at=float(expiration))
            text = tr.t("reminder.renewed", user=request.user_id, until=messages.slack_date(expiration))
            update = {"expires_at": float(expiration)}
            new_reminders = reminders_for_grant(float(expiration), now)
        else:
            changed = replace(request, state=RequestState.EXPIRED)
            text = tr.t("reminder.expired", user=request.user_id, phone=request.shown_phone)
            update = {"state": RequestState.EXPIRED}
            new_reminders = []
        deliveries = [
            NewDelivery(f"reminder{reminder.id}:reply", DeliveryKind.REPLY, messages.thread_reply(changed, text)),
            NewDelivery(f"reminder{reminder.id}:update", DeliveryKind.UPDATE, messages.parent_update(changed)),
        ]
        effects = Effects(update, deliveries, new_reminders)
        if await self._store.complete_reminder(
            request.tenant, reminder.id, ReminderState.FIRED, request_id=request.id, effects=effects
        ):
            log.info("request %d: grant reached its expiry (%s)", request.id, update)

    async def _probe(self, request: Request) -> tuple[str | None, int | None]:
        try:
            pilot = await self._pilots.get(request.tenant, request.number_name)
            permission = await pilot.get_permission(request.phone_e164)
        except PilotStatusError as error:
            # Without a fresh answer, the grant is treated as expired: that is what Meta says happens.
            log.warning("request %d: expiry probe failed (%s)", request.id, error.label)
            return None, None
        return permission.status, permission.expiration_time


def _still_applies(request: Request, reminder: Reminder) -> bool:
    """The grant the reminder was set for is still the request's current one."""
    if request.state != RequestState.ANSWERED or request.outcome is not Outcome.TEMPORARY or not request.expires_at:
        return False
    target = reminder.due_at + (WARNING_LEAD if reminder.kind == WARNING else 0)
    return abs(target - request.expires_at) < 1.0
