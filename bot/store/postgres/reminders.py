"""Reminders: expiry heads-ups and probes, due at a time, fired once with their effects."""

from __future__ import annotations

import time

from bot.domain import ReminderState, TenantId
from bot.store import sql
from bot.store.postgres.connection import PostgresConnection
from bot.store.postgres.effects import apply_effects
from bot.store.types import NO_EFFECTS, Effects, Reminder

_CLAIM_DUE = f"""UPDATE reminders SET lease_owner = $1, lease_until = $2 WHERE id IN (
        SELECT id FROM reminders WHERE state = '{ReminderState.PENDING}' AND due_at <= $3
          AND (lease_owner IS NULL OR lease_until < $3) AND {sql.working()} ORDER BY due_at, id LIMIT $4
        FOR UPDATE SKIP LOCKED)
    RETURNING {sql.REMINDER_COLUMNS}"""
# A reminder held by a lease (its firing failed, or another process fires it) is next due when that lease runs out.
_NEXT_DUE = (
    f"SELECT MIN(GREATEST(due_at, COALESCE(lease_until, 0))) FROM reminders WHERE state = '{ReminderState.PENDING}'"
)


class ReminderQueries(PostgresConnection):
    async def due_reminders(self, now: float, limit: int = 50) -> list[Reminder]:
        rows = await self._fetch(sql.DUE_REMINDERS.postgres, now, limit)
        return [Reminder(**dict(r)) for r in rows]

    async def claim_due_reminders(self, now: float, limit: int = 50) -> list[Reminder]:
        rows = await self._fetch(_CLAIM_DUE, self.owner, now + self.lease_seconds, now, limit)
        return sorted((Reminder(**dict(r)) for r in rows), key=lambda r: (r.due_at, r.id))

    async def next_reminder_time(self) -> float | None:
        value = await self._fetchval(_NEXT_DUE)
        return float(value) if value is not None else None

    async def reminders_for(self, tenant: TenantId, request_id: int) -> list[Reminder]:
        rows = await self._fetch(sql.REMINDERS_FOR.postgres, tenant, request_id)
        return [Reminder(**dict(r)) for r in rows]

    async def complete_reminder(
        self,
        tenant: TenantId,
        reminder_id: int,
        state: ReminderState,
        *,
        request_id: int,
        effects: Effects = NO_EFFECTS,
    ) -> bool:
        now = time.time()
        async with self.transaction() as conn:
            status = await conn.execute(
                sql.COMPLETE_REMINDER.postgres, str(state), now, reminder_id, tenant, request_id
            )
            if status != "UPDATE 1":
                return False
            await apply_effects(conn, tenant, request_id, effects, now)
            return True
