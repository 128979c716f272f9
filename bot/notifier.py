"""Delivers stored Slack messages: in order per request, with durable retries and backoff.

Every Slack write (parent message, thread reply, chat.update, response_url) is a row in
`deliveries`. The notifier claims due rows (pending → inflight), makes the call, and records the
outcome; a failed call is rescheduled with backoff (or Slack's Retry-After). After a crash, rows
left inflight are reconciled with Slack (was the message already posted?) before being resent,
so a restart neither loses nor duplicates a message.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.config import RetryPolicy
from bot.domain import DeliveryState
from bot.leases import DELIVERIES, HeldWork
from bot.slack.gateway import PARENT, DeliveryError, SlackGateway
from bot.store import Delivery, Store
from bot.tasks import Tasks
from bot.worker import DueWorkLoop

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParentHooks:
    """What the request pipeline wants to hear about its parent message."""

    posted: Callable[[int, str], Awaitable[None]]
    failed: Callable[[int, DeliveryError], Awaitable[None]]


class Notifier:
    def __init__(
        self,
        store: Store,
        gateway: SlackGateway,
        policy: RetryPolicy,
        tasks: Tasks,
        held: HeldWork,
        *,
        concurrency: int = 16,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._gateway = gateway
        self._policy = policy
        self._tasks = tasks
        self._held = held
        self._clock = clock
        self._slots = asyncio.Semaphore(concurrency)
        self._loop = DueWorkLoop("notifier", self._start_due, clock)
        self.hooks: ParentHooks | None = None

    def wake(self) -> None:
        self._loop.wake()

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def sweep(self) -> None:
        """Settle deliveries a dead process left inflight (their lease ran out): adopt what Slack
        already has, resend the rest. A live process's deliveries are never touched."""
        for delivery in await self._store.claim_abandoned_deliveries(time.time()):
            with self._held.hold(DELIVERIES, delivery.id):
                await self._reconcile(delivery)
        self.wake()

    async def _reconcile(self, delivery: Delivery) -> None:
        try:
            ts = await self._gateway.find_posted(delivery)
        except DeliveryError as error:
            log.warning(
                "could not check whether delivery %d reached Slack (%s); sending again", delivery.id, error.code
            )
            ts = None
        if ts:
            log.info("delivery %d was already in Slack before it was taken over", delivery.id)
            await self._succeeded(delivery, ts, claim_next=False)
        else:
            await self._store.mark_delivery(delivery.id, DeliveryState.PENDING)

    async def _start_due(self) -> float | None:
        deliveries, next_at = await self._store.claim_due(self._clock())
        for delivery in deliveries:
            await self._slots.acquire()
            if self._tasks.spawn(self._deliver(delivery), name=f"delivery-{delivery.id}") is None:
                self._slots.release()  # shutting down: the row stays inflight and is reconciled at start-up
        return next_at

    async def _deliver(self, delivery: Delivery) -> None:
        drained = False
        try:
            next_up: Delivery | None = delivery
            # A claimed message cut short by shutdown stays inflight: start-up reconciles it with Slack.
            while next_up is not None:
                with self._held.hold(DELIVERIES, next_up.id):
                    next_up, drained = await self._deliver_one(next_up)
        finally:
            self._slots.release()
            if not drained:
                # A retry was scheduled or the request's next message is due later: the loop must
                # look again. A request whose queue ran dry needs no extra pass (and no DB reads).
                self.wake()

    async def _deliver_one(self, delivery: Delivery) -> tuple[Delivery | None, bool]:
        """Make one Slack call and record it. Returns (the request's next message if it is due now,
        whether the request has nothing else pending)."""
        await self._tasks.yield_to_inbound()
        try:
            ts = await self._gateway.execute(delivery)
        except DeliveryError as error:
            await self._failed(delivery, error)
            return None, False
        await self._tasks.yield_to_inbound()
        return await self._succeeded(delivery, ts)

    async def _succeeded(
        self, delivery: Delivery, ts: str | None, *, claim_next: bool = True
    ) -> tuple[Delivery | None, bool]:
        completed = await self._store.complete_delivery(delivery, ts, self._clock(), claim_next=claim_next)
        if delivery.kind == PARENT and self.hooks is not None and ts:
            await self.hooks.posted(delivery.request_id, ts)
        return completed

    async def _failed(self, delivery: Delivery, error: DeliveryError) -> None:
        attempt = delivery.attempts + 1
        if error.transient and attempt < self._policy.attempts:
            delay = error.retry_after if error.retry_after is not None else self._backoff(attempt)
            log.warning(
                "Slack %s for request %d failed (%s); retry %d in %.1fs",
                delivery.kind,
                delivery.request_id,
                error.code,
                attempt,
                delay,
            )
            await self._store.mark_delivery(
                delivery.id,
                DeliveryState.PENDING,
                last_error=error.code,
                next_attempt_at=self._clock() + delay,
                count_attempt=True,
            )
            return
        log.error("Slack %s for request %d failed for good: %s", delivery.kind, delivery.request_id, error.code)
        await self._store.mark_delivery(delivery.id, DeliveryState.DEAD, last_error=error.code, count_attempt=True)
        if delivery.kind == PARENT and self.hooks is not None:
            await self.hooks.failed(delivery.request_id, error)

    def _backoff(self, attempt: int) -> float:
        return self._policy.delay(attempt) * (0.75 + random.random() / 4)
