"""Records: consent records (`askcall export`) and LGPD retention (`askcall purge`, automatic retention).

Records are read in pages, so any table size fits in memory. Retention erases what identifies the
customer and keeps every row, so counts stay right; a request is never erased before it reached
Pilot Status, and a live call keeps the Pilot Status id its webhooks find it by.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator

from bot.domain import TenantId
from bot.store.connection import StoreConnection
from bot.store.types import CallRecord, PurgeCounts, RequestRecord


class RecordStore(StoreConnection):
    async def request_records(
        self, since: float, until: float | None = None, batch_size: int = 500
    ) -> AsyncIterator[RequestRecord]:
        """Requests created in [since, until), oldest first, read in pages so any table size fits in memory."""
        after: tuple[float, int] = (since, -1)
        while True:
            page = await self._request_records_page(after, until, batch_size)
            if not page:
                return
            for record in page:
                yield record
            last = page[-1].request
            after = (last.created_at, last.id)

    @abstractmethod
    async def _request_records_page(
        self, after: tuple[float, int], until: float | None, limit: int
    ) -> list[RequestRecord]:
        """Up to `limit` records created at or after after[0] (ids past after[1] at that instant), before `until`."""

    async def call_records(
        self, since: float, until: float | None = None, batch_size: int = 500
    ) -> AsyncIterator[CallRecord]:
        """Calls started in [since, until), in the order they were made, with their requests, read in pages."""
        after = 0
        while True:
            page = await self._call_records_page(after, since, until, batch_size)
            if not page:
                return
            for record in page:
                yield record
            after = page[-1].call.id

    @abstractmethod
    async def _call_records_page(
        self, after_id: int, since: float, until: float | None, limit: int
    ) -> list[CallRecord]:
        """Up to `limit` calls with ids past `after_id` started in [since, until), by id, with their requests."""

    @abstractmethod
    async def count_purgeable_requests(self, cutoff: float, tenant: TenantId | None = None) -> int:
        """Closed requests created before `cutoff` whose phone and reason are still stored (only the tenant's when
        `tenant` is given)."""

    @abstractmethod
    async def purge_requests_batch(
        self, cutoff: float, limit: int = 500, tenant: TenantId | None = None
    ) -> PurgeCounts:
        """Erase the customer's data from up to `limit` purgeable requests (only the tenant's when `tenant` is
        given), their events (call events included), their finished deliveries and their calls' Pilot Status call
        ids (which Pilot Status could map back to the number), and delete their call links and page sessions. A
        call still live keeps its id (its webhooks must find it) unless it started before `cutoff`; the leftovers
        batch erases it once it is over. Calls keep who called, when, how long and how it ended."""

    @abstractmethod
    async def purge_leftovers_batch(
        self, cutoff: float, limit: int = 500, tenant: TenantId | None = None
    ) -> PurgeCounts:
        """Erase (only the tenant's when `tenant` is given) processed events older than `cutoff` that matched no
        request (or a purged one), deliveries of purged requests that finished after their request was purged, and
        the Pilot Status call ids of purged requests' calls that were still live when their request was purged."""
