"""Deliveries: the durable outbox of Slack calls, queued per request, claimed in order, done or retried.

A request's messages reach Slack in the order they were queued: only the head of a request's queue
is ever claimed. A delivery of no request (`request_id` None: the installer's welcome DM) is a queue of its own,
still its tenant's. A claimed delivery is leased to this process until it is marked; one whose owner
died is handed over for reconciliation (did it reach Slack?) rather than sent again blindly.

Fairness: each workspace has its own share of the outbox. A claim takes the due deliveries in turns across tenants
(every tenant's earliest first, then every tenant's second, …), so a backlog of one workspace's never sits in front
of another's, and hands them back in that order (`in_turns`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable

from bot.domain import DeliveryState, TenantId
from bot.store.connection import StoreConnection
from bot.store.types import Delivery, MetricsSnapshot, NewDelivery


def in_turns(deliveries: Iterable[Delivery]) -> list[Delivery]:
    """Deliveries in turns across tenants: each tenant's in (due time, id) order, one tenant after another."""
    turn_of: dict[TenantId, int] = {}
    ranked = []
    for delivery in sorted(deliveries, key=lambda d: (d.next_attempt_at, d.id)):
        turn = turn_of.get(delivery.tenant, 0)
        turn_of[delivery.tenant] = turn + 1
        ranked.append((turn, delivery.next_attempt_at, delivery.id, delivery))
    return [delivery for *_, delivery in sorted(ranked, key=lambda r: r[:3])]


class DeliveryStore(StoreConnection):
    @abstractmethod
    async def add_deliveries(self, tenant: TenantId, request_id: int, deliveries: Iterable[NewDelivery]) -> None: ...

    @abstractmethod
    async def add_workspace_delivery(self, tenant: TenantId, delivery: NewDelivery) -> bool:
        """Queue a delivery of no request (the installer's welcome DM) for the tenant; False when its key was
        queued before (once per key, ever, until the workspace is purged) or the workspace is not recorded or is
        stopped. It heads a queue of its own."""

    async def claim_due_deliveries(self, now: float, limit: int = 50) -> list[Delivery]:
        """Take due pending deliveries (pending → inflight), at most one per request so that each
        request's messages reach Slack in the order they were queued, in turns across tenants (`in_turns`)."""
        deliveries, _ = await self.claim_due(now, limit)
        return deliveries

    @abstractmethod
    async def claim_due(self, now: float, limit: int = 50) -> tuple[list[Delivery], float | None]:
        """`claim_due_deliveries`, plus when the next delivery falls due afterwards."""

    @abstractmethod
    async def next_delivery_time(self) -> float | None:
        """When the next delivery that may go now (head of its request's queue) becomes due."""

    @abstractmethod
    async def inflight_deliveries(self) -> list[Delivery]: ...

    @abstractmethod
    async def claim_abandoned_deliveries(self, now: float, limit: int = 50) -> list[Delivery]:
        """Inflight deliveries whose owner died (lease ran out), leased to this process for
        reconciliation: did the message reach Slack before the owner died?"""

    @abstractmethod
    async def delivery_for(self, tenant: TenantId, request_id: int, kind: str) -> Delivery | None: ...

    @abstractmethod
    async def get_delivery(self, tenant: TenantId, delivery_id: int) -> Delivery | None: ...

    @abstractmethod
    async def complete_delivery(
        self, delivery: Delivery, result_ts: str | None, now: float, *, claim_next: bool = True
    ) -> tuple[Delivery | None, bool]:
        """Mark `delivery` done and claim its request's next message if that one is due.

        Returns (the claimed next message, whether the request has nothing else pending).
        """

    @abstractmethod
    async def mark_delivery(
        self,
        tenant: TenantId,
        delivery_id: int,
        state: DeliveryState,
        *,
        result_ts: str | None = None,
        last_error: str | None = None,
        next_attempt_at: float | None = None,
        count_attempt: bool = False,
    ) -> None: ...

    @abstractmethod
    async def pending_delivery_count(self) -> int: ...

    @abstractmethod
    async def posted_ts(self, tenant: TenantId, dedup_key: str) -> str | None:
        """The Slack ts of a delivered message, by its delivery key (None: not delivered)."""

    @abstractmethod
    async def posted_for(self, tenant: TenantId, request_id: int, ts: str) -> bool:
        """Whether AskCall posted the message `ts` for this request (its replies, reminders, call lines)."""

    @abstractmethod
    async def metrics_snapshot(self) -> MetricsSnapshot:
        """Counts for /metrics, read off the request path (never on the writer's connection or lock)."""
