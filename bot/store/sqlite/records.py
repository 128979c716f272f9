"""Records: consent records for `askcall export`, and LGPD retention (`askcall purge`, automatic).

Retention erases what identifies the customer and keeps every row, so counts stay right.
"""

from __future__ import annotations

import sqlite3
import time

from bot.domain import FINISHED_DELIVERIES, LIVE_CALL_STATES, SETTLING_RESULTS, UNSENT_STATES
from bot.store.sqlite.calls import call_from, calls_of
from bot.store.sqlite.connection import SQLiteConnection, marks
from bot.store.sqlite.effects import request_from
from bot.store.types import PURGED_PAYLOAD, CallRecord, PurgeCounts, RequestRecord

_PURGEABLE_REQUESTS = f"""FROM requests
    WHERE created_at < ? AND purged_at IS NULL AND state NOT IN ({marks(UNSENT_STATES)})"""

# The dedup key is a hash of the customer's number (and the event's timestamp), so it goes too.
_ERASE_EVENTS = """UPDATE webhook_events
    SET body = '', from_phone = NULL, to_phone = NULL, phone_key = NULL, dedup_key = 'purged:' || id"""

# Pilot Status can map its call id back to the customer's number. A live call keeps it (its webhooks find
# the call by it) unless it started before the cutoff: no call lasts that long.
_ERASABLE_CALLS = f"""pilot_call_id IS NOT NULL AND (state NOT IN ({marks(LIVE_CALL_STATES)}) OR started_at < ?)"""
_ERASE_CALL_IDS = "UPDATE calls SET pilot_call_id = NULL, updated_at = ?"


class RecordQueries(SQLiteConnection):
    async def _request_records_page(
        self, after: tuple[float, int], until: float | None, limit: int
    ) -> list[RequestRecord]:
        def page(conn: sqlite3.Connection) -> list[RequestRecord]:
            params: list[object] = [after[0], after[0], after[1]]
            upper = ""
            if until is not None:
                upper = "AND created_at < ?"
                params.append(until)
            requests = [
                request_from(row)
                for row in conn.execute(
                    f"""SELECT * FROM requests
                        WHERE (created_at > ? OR (created_at = ? AND id > ?)) {upper}
                        ORDER BY created_at, id LIMIT ?""",
                    (*params, limit),
                )
            ]
            if not requests:
                return []
            ids = [r.id for r in requests]
            # For each request, the (dedup key, timestamp) of the last event that set its answer.
            sources = {
                int(row["request_id"]): (row["dedup_key"], row["event_ts"])
                for row in conn.execute(
                    f"""SELECT request_id, dedup_key, event_ts FROM webhook_events
                        WHERE request_id IN ({marks(ids)}) AND result IN ({marks(SETTLING_RESULTS)})
                        ORDER BY id""",
                    (*ids, *SETTLING_RESULTS),
                )
            }
            calls = calls_of(conn, ids)
            return [RequestRecord(r, *sources.get(r.id, (None, None)), tuple(calls.get(r.id, ()))) for r in requests]

        return await self._in_db_thread(page)

    async def _call_records_page(
        self, after_id: int, since: float, until: float | None, limit: int
    ) -> list[CallRecord]:
        def page(conn: sqlite3.Connection) -> list[CallRecord]:
            calls = [
                call_from(row)
                for row in conn.execute(
                    """SELECT * FROM calls WHERE id > ? AND started_at >= ? AND (? IS NULL OR started_at < ?)
                       ORDER BY id LIMIT ?""",
                    (after_id, since, until, until, limit),
                )
            ]
            ids = sorted({c.request_id for c in calls})
            requests = {
                r.id: r
                for r in map(request_from, conn.execute(f"SELECT * FROM requests WHERE id IN ({marks(ids)})", ids))
            }
            return [CallRecord(c, requests[c.request_id]) for c in calls]

        return await self._in_db_thread(page)

    async def count_purgeable_requests(self, cutoff: float) -> int:
        row = await self._fetchone(f"SELECT COUNT(*) {_PURGEABLE_REQUESTS}", (cutoff, *UNSENT_STATES))
        return int(row[0]) if row else 0

    async def purge_requests_batch(self, cutoff: float, limit: int = 500) -> PurgeCounts:
        now = time.time()

        def purge(conn: sqlite3.Connection) -> PurgeCounts:
            ids = [
                int(row[0])
                for row in conn.execute(
                    f"SELECT id {_PURGEABLE_REQUESTS} ORDER BY created_at, id LIMIT ?", (cutoff, *UNSENT_STATES, limit)
                )
            ]
            if not ids:
                return PurgeCounts()
            # message_id too: a WhatsApp message id (wamid) encodes the recipient's number.
            conn.execute(
                f"""UPDATE requests SET phone_e164 = '', phone_key = '', reason = '', response_url = NULL,
                       message_id = NULL, purged_at = ?, updated_at = ?
                    WHERE id IN ({marks(ids)})""",
                (now, now, *ids),
            )
            events = conn.execute(f"{_ERASE_EVENTS} WHERE request_id IN ({marks(ids)})", ids)
            deliveries = conn.execute(
                f"""UPDATE deliveries SET payload = ?, updated_at = ?
                    WHERE request_id IN ({marks(ids)}) AND state IN ({marks(FINISHED_DELIVERIES)})""",
                (PURGED_PAYLOAD, now, *ids, *FINISHED_DELIVERIES),
            )
            calls = conn.execute(
                f"{_ERASE_CALL_IDS} WHERE {_ERASABLE_CALLS} AND request_id IN ({marks(ids)})",
                (now, *LIVE_CALL_STATES, cutoff, *ids),
            )
            credentials = sum(
                conn.execute(f"DELETE FROM {table} WHERE request_id IN ({marks(ids)})", ids).rowcount
                for table in ("call_links", "call_sessions")
            )
            return PurgeCounts(len(ids), events.rowcount, deliveries.rowcount, calls.rowcount, credentials)

        return await self._write(purge)

    async def purge_leftovers_batch(self, cutoff: float, limit: int = 500) -> PurgeCounts:
        now = time.time()

        def purge(conn: sqlite3.Connection) -> PurgeCounts:
            events = conn.execute(
                f"""{_ERASE_EVENTS} WHERE id IN (
                        SELECT e.id FROM webhook_events e
                        WHERE e.received_at < ? AND e.processed_at IS NOT NULL
                          AND NOT e.dedup_key LIKE 'purged:%'
                          AND (e.request_id IS NULL
                               OR e.request_id IN (SELECT id FROM requests WHERE purged_at IS NOT NULL))
                        LIMIT ?)""",
                (cutoff, limit),
            )
            deliveries = conn.execute(
                f"""UPDATE deliveries SET payload = ?, updated_at = ? WHERE id IN (
                        SELECT d.id FROM deliveries d JOIN requests r ON r.id = d.request_id
                        WHERE r.purged_at IS NOT NULL AND d.payload != ?
                          AND d.state IN ({marks(FINISHED_DELIVERIES)})
                        LIMIT ?)""",
                (PURGED_PAYLOAD, now, PURGED_PAYLOAD, *FINISHED_DELIVERIES, limit),
            )
            calls = conn.execute(
                f"""{_ERASE_CALL_IDS} WHERE id IN (
                        SELECT id FROM calls
                        WHERE {_ERASABLE_CALLS} AND request_id IN (SELECT id FROM requests WHERE purged_at IS NOT NULL)
                        LIMIT ?)""",
                (now, *LIVE_CALL_STATES, cutoff, limit),
            )
            return PurgeCounts(0, events.rowcount, deliveries.rowcount, calls.rowcount)

        return await self._write(purge)
