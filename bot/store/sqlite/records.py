"""Records: consent records for `askcall export`, and LGPD retention (`askcall purge`, automatic).

Retention erases what identifies the customer and keeps every row, so counts stay right.
"""

from __future__ import annotations

import sqlite3
import time

from bot.domain import FINISHED_DELIVERIES, SETTLING_RESULTS, TenantId
from bot.store import sql
from bot.store.sqlite.calls import call_from, calls_of
from bot.store.sqlite.connection import SQLiteConnection, marks
from bot.store.sqlite.effects import request_from
from bot.store.types import PURGED_PAYLOAD, CallRecord, PurgeCounts, RequestRecord

_PURGEABLE_IDS = f"SELECT id {sql.purgeable_requests('?1', '?3')} ORDER BY created_at, id LIMIT ?2"
_ERASE_CALL_IDS = f"{sql.erase_call_ids('?')} WHERE {sql.erasable_calls('?')} AND request_id IN"


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
            calls = calls_of(conn, None, ids)
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

    async def count_purgeable_requests(self, cutoff: float, tenant: TenantId | None = None) -> int:
        row = await self._fetchone(sql.PURGEABLE_REQUEST_COUNT.sqlite, (cutoff, tenant))
        return int(row[0]) if row else 0

    async def purge_requests_batch(
        self, cutoff: float, limit: int = 500, tenant: TenantId | None = None
    ) -> PurgeCounts:
        now = time.time()

        def purge(conn: sqlite3.Connection) -> PurgeCounts:
            ids = [int(row[0]) for row in conn.execute(_PURGEABLE_IDS, (cutoff, limit, tenant))]
            if not ids:
                return PurgeCounts()
            # message_id too: a WhatsApp message id (wamid) encodes the recipient's number.
            conn.execute(
                f"""UPDATE requests SET phone_e164 = '', phone_key = '', reason = '', response_url = NULL,
                       message_id = NULL, purged_at = ?, updated_at = ?
                    WHERE id IN ({marks(ids)})""",
                (now, now, *ids),
            )
            events = conn.execute(f"{sql.ERASE_EVENTS} WHERE request_id IN ({marks(ids)})", ids)
            deliveries = conn.execute(
                f"""UPDATE deliveries SET payload = ?, updated_at = ?
                    WHERE request_id IN ({marks(ids)}) AND state IN ({marks(FINISHED_DELIVERIES)})""",
                (PURGED_PAYLOAD, now, *ids, *FINISHED_DELIVERIES),
            )
            calls = conn.execute(f"{_ERASE_CALL_IDS} ({marks(ids)})", (now, cutoff, *ids))
            credentials = sum(
                conn.execute(f"DELETE FROM {table} WHERE request_id IN ({marks(ids)})", ids).rowcount
                for table in ("call_links", "call_sessions")
            )
            return PurgeCounts(len(ids), events.rowcount, deliveries.rowcount, calls.rowcount, credentials)

        return await self._write(purge)

    async def purge_leftovers_batch(
        self, cutoff: float, limit: int = 500, tenant: TenantId | None = None
    ) -> PurgeCounts:
        now = time.time()

        def purge(conn: sqlite3.Connection) -> PurgeCounts:
            events = conn.execute(sql.LEFTOVER_EVENTS.sqlite, (cutoff, tenant, limit))
            deliveries = conn.execute(sql.LEFTOVER_DELIVERIES.sqlite, (PURGED_PAYLOAD, now, tenant, limit))
            calls = conn.execute(sql.LEFTOVER_CALLS.sqlite, (now, cutoff, tenant, limit))
            return PurgeCounts(0, events.rowcount, deliveries.rowcount, calls.rowcount)

        return await self._write(purge)
