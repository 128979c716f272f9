"""Reminders: expiry heads-ups and probes, due at a time, fired once with their effects.

A due reminder is leased to the process that fires it; completing it (`complete_reminder`) records
its outcome and applies its effects on the request in one transaction, once: a replay after a crash,
or a rival process, finds it no longer pending and does nothing.
"""

from __future__ import annotations

from abc import abstractmethod

from bot.domain import ReminderState, TenantId
from bot.store.connection import StoreConnection
from bot.store.types import NO_EFFECTS, Effects, Reminder


class ReminderStore(StoreConnection):
    @abstractmethod
    async def due_reminders(self, now: float, limit: int = 50) -> list[Reminder]:
        """Due pending reminders (read only)."""

    @abstractmethod
    async def claim_due_reminders(self, now: float, limit: int = 50) -> list[Reminder]:
        """Due pending reminders that no live process holds, leased to this one until completed."""

    @abstractmethod
    async def next_reminder_time(self) -> float | None: ...

    @abstractmethod
    async def reminders_for(self, tenant: TenantId, request_id: int) -> list[Reminder]: ...

    @abstractmethod
    async def complete_reminder(
        self,
        tenant: TenantId,
        reminder_id: int,
        state: ReminderState,
        *,
        request_id: int,
        effects: Effects = NO_EFFECTS,
    ) -> bool:
        """Record a reminder's outcome and apply `effects` to its request, once (a replay after a crash does
        nothing)."""
