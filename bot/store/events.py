"""Webhook events: stored once (by dedup key, group commit), matched to the request they answer, settled once.

A delivery is durable before its webhook is answered. Answers from one customer apply in the order
they were stored, across processes: only the customer's oldest unprocessed event is handed out, under
a lease, and settling an event (`settle_webhook_event`) applies its effect on the request in the same
transaction, once, however many processes race it.
"""

from __future__ import annotations

import asyncio
import time
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

from bot.domain import DEFAULT_NUMBER, EventResult, Request, TenantId
from bot.phones import customer_key
from bot.store import priority
from bot.store.connection import StoreConnection
from bot.store.types import (
    NO_EFFECTS,
    AnswerTarget,
    Effects,
    IncomingEvent,
    NewEvent,
    RecordedEvent,
    WebhookEvent,
)


class EventStore(StoreConnection):
    def __init__(self, **lease: Any) -> None:
        super().__init__(**lease)
        self._event_queue: list[tuple[NewEvent, asyncio.Future[RecordedEvent]]] = []
        self._event_writer: asyncio.Task[None] | None = None

    async def record_webhook_event(
        self,
        incoming: IncomingEvent,
        *,
        answered_at: float | None = None,
        result: EventResult | None = None,
        request_id: int | None = None,
    ) -> RecordedEvent:
        """Store a webhook delivery once; returns after it is committed.

        With `result` (e.g. IGNORED) the event is stored already settled, in the same transaction:
        it is never processed, taken over or applied to a request. `request_id` (with `result` only)
        names the request it belongs to (a call event's call's request), so retention erases it with
        that request.

        Deliveries arriving together share one transaction (group commit): each caller still
        returns only once its own row is durable, but N concurrent webhooks cost one commit.
        With `answered_at`, a new answer that no request can own is settled `unmatched` in that
        same transaction, so it needs no processing afterwards.
        """
        item = NewEvent(
            incoming.tenant,
            incoming.dedup_key,
            incoming.event,
            incoming.status,
            incoming.from_phone,
            incoming.to_phone,
            customer_key(incoming.from_phone or ""),
            incoming.event_ts,
            incoming.body,
            time.time(),
            incoming.number_name,
            answered_at,
            result,
            request_id if result is not None else None,
        )
        future: asyncio.Future[RecordedEvent] = asyncio.get_running_loop().create_future()
        self._event_queue.append((item, future))
        if self._event_writer is None or self._event_writer.done():
            with priority.inbound():  # a webhook's 200 waits for it, whoever started the writer
                self._event_writer = asyncio.create_task(self._write_events(), name="webhook-event-writer")
        return await future

    async def _write_events(self) -> None:
        while self._event_queue:
            batch, self._event_queue = self._event_queue, []
            try:
                results = await self._insert_events([item for item, _ in batch])
            except BaseException as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error if isinstance(error, Exception) else RuntimeError("cancelled"))
                if not isinstance(error, Exception):
                    raise
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    @abstractmethod
    async def _insert_events(self, items: list[NewEvent]) -> list[RecordedEvent]:
        """Insert events (deduplicated by key) in one transaction, settling answers no request can own."""

    @abstractmethod
    async def get_webhook_event(self, tenant: TenantId, event_id: int) -> WebhookEvent | None: ...

    @abstractmethod
    async def unprocessed_webhook_events(self) -> list[tuple[int, TenantId, str]]:
        """(id, tenant, customer key) of every tenant's event not yet processed, oldest first."""

    @abstractmethod
    async def abandoned_webhook_events(self, now: float) -> list[tuple[int, TenantId, str]]:
        """(id, tenant, customer key) of unprocessed events nobody is processing (no live lease), oldest first."""

    async def find_request_for_answer(
        self, tenant: TenantId, phone_key: str, answered_at: float, number_name: str = DEFAULT_NUMBER
    ) -> Request | None:
        """The most recent request for this customer that an answer given at `answered_at` can belong to."""
        request, _ = await self.answer_target(tenant, phone_key, answered_at, number_name)
        return request

    @abstractmethod
    async def answer_target(
        self, tenant: TenantId, phone_key: str, answered_at: float, number_name: str = DEFAULT_NUMBER
    ) -> tuple[Request | None, bool]:
        """The request an answer given at `answered_at` belongs to (the customer's most recent open one),
        and whether its rep wants answers by DM too."""

    @abstractmethod
    async def open_answer(
        self, tenant: TenantId, event_id: int, answered_at: Callable[[str | None], float]
    ) -> AnswerTarget | None:
        """An unprocessed event, the request it answers and its rep's DM wish.

        None when the event is unknown, already processed, being processed by another live process,
        not the customer's oldest unprocessed event (answers from one customer apply in order,
        across processes), or its tenant's workspace left or was disabled (the answer stays stored, acting on
        nothing). Otherwise the event is leased to this process until it is settled. An event that answers no
        request is settled as `unmatched` right away (a crash before that leaves only a lease that runs out).
        """

    @abstractmethod
    async def settle_webhook_event(
        self,
        tenant: TenantId,
        event_id: int,
        result: EventResult,
        *,
        request_id: int | None = None,
        effects: Effects = NO_EFFECTS,
    ) -> bool:
        """Mark an event processed and, when it belongs to `request_id`, apply `effects` to that request,
        atomically and only once."""

    @abstractmethod
    async def settle_answer(
        self,
        event: WebhookEvent,
        result: EventResult,
        *,
        request_id: int | None = None,
        effects: Effects = NO_EFFECTS,
    ) -> tuple[bool, int | None]:
        """`settle_webhook_event` for an answer being processed, then (read after the settling is committed, so an
        answer stored meanwhile is seen either here or by its own `open_answer`) the customer's next unprocessed
        event: whether this call settled it, and the next event's id (None: none)."""
