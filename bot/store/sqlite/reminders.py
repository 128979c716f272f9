"""Reminders: expiry heads-ups and probes, due at a time, fired once with their effects."""

from __future__ import annotations

import sqlite3
import time

from bot.domain import ReminderState, TenantId
from bot.store import sql
from bot.store.sqlite.connection import SQLiteConnection
from bot.store.sqlite.effects import apply_effects
from bot.store.types import NO_EFFECTS, Effects, Reminder

_CLAIM_DUE = f"""UPDATE reminders SET lease_owner = ?, lease_until = ? WHERE id IN (
        SELECT id FROM reminders WHERE state = '{ReminderState.PENDING}' AND due_at <= ?
          AND (lease_owner IS NULL OR lease_until < ?) AND {sql.working()} ORDER BY due_at, id LIMIT ?)
    RETURNING {sql.REMINDER_COLUMNS}"""
# A reminder held by a lease (its firing failed, or another process fires it) is next due when that lease runs out.
_NEXT_DUE = f"SELECT MIN(MAX(due_at, COALESCE(lease_until, 0))) FROM reminders WHERE state = '{ReminderState.PENDING}'"


class ReminderQueries(SQLiteConnection):
    async def due_reminders(self, now: float, limit: int = 50) -> list[Reminder]:
        rows = await self._fetchall(sql.DUE_REMINDERS.sqlite, (now, limit))
        return [Reminder(**dict(r)) for r in rows]

    async def claim_due_reminders(self, now: float, limit: int = 50) -> list[Reminder]:
        args = (self.owner, now + self.lease_seconds, now, now, limit)
        rows = await self._write(lambda conn: conn.execute(_CLAIM_DUE, args).fetchall())
        return sorted((Reminder(**dict(r)) for r in rows), key=lambda r: (r.due_at, r.id))

    async def next_reminder_time(self) -> float | None:
        row = await self._fetchone(_NEXT_DUE)
        return float(row[0]) if row and row[0] is not None else None

    async def reminders_for(self, tenant: TenantId, request_id: int) -> list[Reminder]:
        rows = await self._fetchall(sql.REMINDERS_FOR.sqlite, (tenant, request_id))
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

        def complete(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(sql.COMPLETE_REMINDER.sqlite, (state, now, reminder_id, tenant, request_id))
            if cursor.rowcount != 1:
                return False
            apply_effects(conn, tenant, request_id, effects, now)
            return True

        return await self._write(complete)
