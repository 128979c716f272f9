"""Records: consent records for `askcall export`, and LGPD retention (`askcall purge`, automatic).

Retention erases what identifies the customer and keeps every row, so counts stay right.
"""

from __future__ import annotations

import time

from bot.domain import FINISHED_DELIVERIES, SETTLING_RESULTS, TenantId
from bot.store import sql
from bot.store.postgres.calls import call_from, calls_of
from bot.store.postgres.connection import PostgresConnection, row_count, texts
from bot.store.postgres.effects import request_from
from bot.store.types import PURGED_PAYLOAD, CallRecord, PurgeCounts, RequestRecord

_PURGEABLE_IDS = (
    f"SELECT id {sql.purgeable_requests('$1', '$3')} ORDER BY created_at, id LIMIT $2 FOR UPDATE SKIP LOCKED"
)
_ERASE_EVENTS_OF = f"{sql.ERASE_EVENTS} WHERE request_id = ANY($1::bigint[])"
_ERASE_CALL_IDS = f"{sql.erase_call_ids('$1')} WHERE {sql.erasable_calls('$2')} AND request_id = ANY($3::bigint[])"


class RecordQueries(PostgresConnection):
    async def _request_records_page(
        self, after: tuple[float, int], until: float | None, limit: int
    ) -> list[RequestRecord]:
        async with self.connection() as conn:
            rows = await conn.fetch(
                """SELECT * FROM requests
                   WHERE (created_at > $1 OR (created_at = $1 AND id > $2))
                     AND ($3::double precision IS NULL OR created_at < $3)
                   ORDER BY created_at, id LIMIT $4""",
                after[0],
                after[1],
                until,
                limit,
            )
            requests = [request_from(row) for row in rows]
            if not requests:
                return []
            # For each request, the (dedup key, timestamp) of the last event that set its answer.
            events = await conn.fetch(
                """SELECT request_id, dedup_key, event_ts FROM webhook_events
                   WHERE request_id = ANY($1::bigint[]) AND result = ANY($2::text[]) ORDER BY id""",
                [r.id for r in requests],
                texts(SETTLING_RESULTS),
            )
            calls = await calls_of(conn, None, [r.id for r in requests])
        sources = {int(row["request_id"]): (row["dedup_key"], row["event_ts"]) for row in events}
        return [RequestRecord(r, *sources.get(r.id, (None, None)), tuple(calls.get(r.id, ()))) for r in requests]

    async def _call_records_page(
        self, after_id: int, since: float, until: float | None, limit: int
    ) -> list[CallRecord]:
        async with self.connection() as conn:
            calls = [
                call_from(row)
                for row in await conn.fetch(
                    """SELECT * FROM calls
                       WHERE id > $1 AND started_at >= $2 AND ($3::double precision IS NULL OR started_at < $3)
                       ORDER BY id LIMIT $4""",
                    after_id,
                    since,
                    until,
                    limit,
                )
            ]
            rows = await conn.fetch(
                "SELECT * FROM requests WHERE id = ANY($1::bigint[])", sorted({c.request_id for c in calls})
            )
        requests = {r.id: r for r in map(request_from, rows)}
        return [CallRecord(c, requests[c.request_id]) for c in calls]

    async def count_purgeable_requests(self, cutoff: float, tenant: TenantId | None = None) -> int:
        return int(await self._fetchval(sql.PURGEABLE_REQUEST_COUNT.postgres, cutoff, tenant))

    async def purge_requests_batch(
        self, cutoff: float, limit: int = 500, tenant: TenantId | None = None
    ) -> PurgeCounts:
        now = time.time()
        async with self.transaction() as conn:
            ids = [int(row[0]) for row in await conn.fetch(_PURGEABLE_IDS, cutoff, limit, tenant)]
            if not ids:
                return PurgeCounts()
            # message_id too: a WhatsApp message id (wamid) encodes the recipient's number.
            await conn.execute(
                """UPDATE requests SET phone_e164 = '', phone_key = '', reason = '', response_url = NULL,
                       message_id = NULL, purged_at = $2, updated_at = $2
                   WHERE id = ANY($1::bigint[])""",
                ids,
                now,
            )
            events = await conn.execute(_ERASE_EVENTS_OF, ids)
            deliveries = await conn.execute(
                """UPDATE deliveries SET payload = $2, updated_at = $3
                   WHERE request_id = ANY($1::bigint[]) AND state = ANY($4::text[])""",
                ids,
                PURGED_PAYLOAD,
                now,
                texts(FINISHED_DELIVERIES),
            )
            calls = await conn.execute(_ERASE_CALL_IDS, now, cutoff, ids)
            credentials = 0
            for table in ("call_links", "call_sessions"):
                status = await conn.execute(f"DELETE FROM {table} WHERE request_id = ANY($1::bigint[])", ids)
                credentials += row_count(status)
        return PurgeCounts(len(ids), row_count(events), row_count(deliveries), row_count(calls), credentials)

    async def purge_leftovers_batch(
        self, cutoff: float, limit: int = 500, tenant: TenantId | None = None
    ) -> PurgeCounts:
        now = time.time()
        async with self.transaction() as conn:
            events = await conn.execute(sql.LEFTOVER_EVENTS.postgres, cutoff, tenant, limit)
            deliveries = await conn.execute(sql.LEFTOVER_DELIVERIES.postgres, PURGED_PAYLOAD, now, tenant, limit)
            calls = await conn.execute(sql.LEFTOVER_CALLS.postgres, now, cutoff, tenant, limit)
        return PurgeCounts(0, row_count(events), row_count(deliveries), row_count(calls))
