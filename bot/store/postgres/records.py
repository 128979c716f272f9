"""Records: consent records for `askcall export`, and LGPD retention (`askcall purge`, automatic).

Retention erases what identifies the customer and keeps every row, so counts stay right.
"""

from __future__ import annotations

import time

from bot.domain import FINISHED_DELIVERIES, LIVE_CALL_STATES, SETTLING_RESULTS, UNSENT_STATES
from bot.store.postgres.calls import call_from, calls_of
from bot.store.postgres.connection import PostgresConnection, texts
from bot.store.postgres.effects import request_from
from bot.store.types import PURGED_PAYLOAD, CallRecord, PurgeCounts, RequestRecord

_PURGEABLE_REQUESTS = """FROM requests
    WHERE created_at < $1 AND purged_at IS NULL AND NOT (state = ANY($2::text[]))"""

# The dedup key is a hash of the customer's number (and the event's timestamp), so it goes too.
_ERASE_EVENTS = """UPDATE webhook_events
    SET body = '', from_phone = NULL, to_phone = NULL, phone_key = NULL, dedup_key = 'purged:' || id"""

# Pilot Status can map its call id back to the customer's number. A live call keeps it (its webhooks find
# the call by it) unless it started before the cutoff ($2): no call lasts that long. $1: now, $3: live states.
_ERASE_CALL_IDS = """UPDATE calls SET pilot_call_id = NULL, updated_at = $1"""
_ERASABLE_CALLS = """pilot_call_id IS NOT NULL AND (NOT (state = ANY($3::text[])) OR started_at < $2)"""


def _count(status: str) -> int:
    """The row count of an `UPDATE n` command status."""
    return int(status.rsplit(" ", 1)[-1])


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
            calls = await calls_of(conn, [r.id for r in requests])
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

    async def count_purgeable_requests(self, cutoff: float) -> int:
        return int(await self._fetchval(f"SELECT COUNT(*) {_PURGEABLE_REQUESTS}", cutoff, texts(UNSENT_STATES)))

    async def purge_requests_batch(self, cutoff: float, limit: int = 500) -> PurgeCounts:
        now = time.time()
        async with self.transaction() as conn:
            ids = [
                int(row[0])
                for row in await conn.fetch(
                    f"SELECT id {_PURGEABLE_REQUESTS} ORDER BY created_at, id LIMIT $3 FOR UPDATE SKIP LOCKED",
                    cutoff,
                    texts(UNSENT_STATES),
                    limit,
                )
            ]
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
            events = await conn.execute(f"{_ERASE_EVENTS} WHERE request_id = ANY($1::bigint[])", ids)
            deliveries = await conn.execute(
                """UPDATE deliveries SET payload = $2, updated_at = $3
                   WHERE request_id = ANY($1::bigint[]) AND state = ANY($4::text[])""",
                ids,
                PURGED_PAYLOAD,
                now,
                texts(FINISHED_DELIVERIES),
            )
            calls = await conn.execute(
                f"{_ERASE_CALL_IDS} WHERE {_ERASABLE_CALLS} AND request_id = ANY($4::bigint[])",
                now,
                cutoff,
                texts(LIVE_CALL_STATES),
                ids,
            )
            credentials = 0
            for table in ("call_links", "call_sessions"):
                status = await conn.execute(f"DELETE FROM {table} WHERE request_id = ANY($1::bigint[])", ids)
                credentials += _count(status)
        return PurgeCounts(len(ids), _count(events), _count(deliveries), _count(calls), credentials)

    async def purge_leftovers_batch(self, cutoff: float, limit: int = 500) -> PurgeCounts:
        now = time.time()
        async with self.transaction() as conn:
            events = await conn.execute(
                f"""{_ERASE_EVENTS} WHERE id IN (
                        SELECT e.id FROM webhook_events e
                        WHERE e.received_at < $1 AND e.processed_at IS NOT NULL
                          AND NOT e.dedup_key LIKE 'purged:%'
                          AND (e.request_id IS NULL
                               OR e.request_id IN (SELECT id FROM requests WHERE purged_at IS NOT NULL))
                        LIMIT $2)""",
                cutoff,
                limit,
            )
            deliveries = await conn.execute(
                """UPDATE deliveries SET payload = $1, updated_at = $2 WHERE id IN (
                       SELECT d.id FROM deliveries d JOIN requests r ON r.id = d.request_id
                       WHERE r.purged_at IS NOT NULL AND d.payload != $1 AND d.state = ANY($3::text[])
                       LIMIT $4)""",
                PURGED_PAYLOAD,
                now,
                texts(FINISHED_DELIVERIES),
                limit,
            )
            calls = await conn.execute(
                f"""{_ERASE_CALL_IDS} WHERE id IN (
                        SELECT id FROM calls
                        WHERE {_ERASABLE_CALLS} AND request_id IN (SELECT id FROM requests WHERE purged_at IS NOT NULL)
                        LIMIT $4)""",
                now,
                cutoff,
                texts(LIVE_CALL_STATES),
                limit,
            )
        return PurgeCounts(0, _count(events), _count(deliveries), _count(calls))
