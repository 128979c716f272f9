"""Reminders: expiry heads-ups and probes, due at a time, fired once with their effects."""

from __future__ import annotations

import time

from bot.domain import ReminderState
from bot.store.postgres.connection import PostgresConnection
from bot.store.postgres.effects import apply_effects
from bot.store.types import NO_EFFECTS, Effects, Reminder

_COLUMNS = "id, request_id, kind, due_at, state, fired_at"


class ReminderQueries(PostgresConnection):
    async def due_reminders(self, now: float, limit: int = 50) -> list[Reminder]:
        rows = await self._fetch(
            f"SELECT {_COLUMNS} FROM reminders WHERE state = $1 AND due_at <= $2 ORDER BY due_at, id LIMIT $3",
            str(ReminderState.PENDING),
            now,
            limit,
        )
        return [Reminder(**dict(r)) for r in rows]

    async def claim_due_reminders(self, now: float, limit: int = 50) -> list[Reminder]:
        rows = await self._fetch_in_transaction(
            f"""UPDATE reminders SET lease_owner = $1, lease_until = $2 WHERE id IN (
                    SELECT id FROM reminders WHERE state = $3 AND due_at <= $4
                      AND (lease_owner IS NULL OR lease_until < $4) ORDER BY due_at, id LIMIT $5
                    FOR UPDATE SKIP LOCKED)
                RETURNING {_COLUMNS}""",
            self.owner,
            now + self.lease_seconds,
            str(ReminderState.PENDING),
            now,
            limit,
        )
        return sorted((Reminder(**dict(r)) for r in rows), key=lambda r: (r.due_at, r.id))

    async def next_reminder_time(self) -> float | None:
        # A reminder held by a lease (its firing failed, or another process fires it) is next due
        # when that lease runs out.
        value = await self._fetchval(
            "SELECT MIN(GREATEST(due_at, COALESCE(lease_until, 0))) FROM reminders WHERE state = $1",
            str(ReminderState.PENDING),
        )
        return float(value) if value is not None else None

    async def reminders_for(self, request_id: int) -> list[Reminder]:
        rows = await self._fetch(f"SELECT {_COLUMNS} FROM reminders WHERE request_id = $1 ORDER BY id", request_id)
        return [Reminder(**dict(r)) for r in rows]

    async def complete_reminder(
        self, reminder_id: int, state: ReminderState, *, request_id: int, effects: Effects = NO_EFFECTS
    ) -> bool:
        now = time.time()
        async with self.transaction() as conn:
            status = await conn.execute(
                """UPDATE reminders SET state = $2, fired_at = $3, lease_owner = NULL, lease_until = NULL
                   WHERE id = $1 AND state = $4""",
                reminder_id,
                str(state),
                now,
                str(ReminderState.PENDING),
            )
            if status != "UPDATE 1":
                return False
            await apply_effects(conn, request_id, effects, now)
            return True
