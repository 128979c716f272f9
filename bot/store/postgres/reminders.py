"""Reminders: expiry heads-ups and probes, due at a time, fired once with their effects."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from bot.domain import ReminderState
from bot.store.base import NewDelivery, NewReminder, Reminder
from bot.store.postgres.connection import PostgresConnection
from bot.store.postgres.effects import apply_effects

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

    async def next_reminder_time(self) -> float | None:
        value = await self._fetchval("SELECT MIN(due_at) FROM reminders WHERE state = $1", str(ReminderState.PENDING))
        return float(value) if value is not None else None

    async def reminders_for(self, request_id: int) -> list[Reminder]:
        rows = await self._fetch(f"SELECT {_COLUMNS} FROM reminders WHERE request_id = $1 ORDER BY id", request_id)
        return [Reminder(**dict(r)) for r in rows]

    async def complete_reminder(
        self,
        reminder_id: int,
        state: str,
        *,
        request_id: int,
        request_update: dict[str, Any] | None = None,
        deliveries: Iterable[NewDelivery] = (),
        reminders: Iterable[NewReminder] = (),
    ) -> bool:
        now = time.time()
        async with self.transaction() as conn:
            status = await conn.execute(
                "UPDATE reminders SET state = $2, fired_at = $3 WHERE id = $1 AND state = $4",
                reminder_id,
                str(state),
                now,
                str(ReminderState.PENDING),
            )
            if status != "UPDATE 1":
                return False
            await apply_effects(conn, request_id, request_update, deliveries, reminders, now)
            return True
