"""Requests: creation (with the open-request check and the rep's budget), guarded transitions, reads.

Every step of a request is a transition guarded by the states it may start from, so a step replayed
after a restart, or raced by a duplicate in this process or another, finds the request moved on and
does nothing. A request's pipeline step runs under a lease on it (`claim_request`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

from bot.domain import Request, RequestState, TenantId
from bot.store.connection import StoreConnection
from bot.store.types import NO_EFFECTS, Effects, NewDelivery, NewRequest


class RequestStore(StoreConnection):
    @abstractmethod
    async def create_request(
        self,
        request: NewRequest,
        parent: NewDelivery | Callable[[int], NewDelivery],
        *,
        refuse_if_open: bool = False,
        max_per_user_hour: int = 0,
    ) -> tuple[int, bool]:
        """Store a request and its parent-message delivery in one transaction.

        Returns (request id, created). A second submission with the same `source_key` (Slack's
        trigger id) returns the first request instead of creating another. `parent` is the parent
        message, or what builds it from the new request's id (its buttons carry it). With
        `refuse_if_open`, raises OpenRequestExists when the customer already has an open request
        (checked in the same transaction, so two reps asking at once can't both get through). With
        `max_per_user_hour` > 0, raises BudgetSpent when the rep already created that many requests
        in the last hour (counted in the same transaction, serialised per user across replicas).
        """

    @abstractmethod
    async def get_request(self, tenant: TenantId, request_id: int) -> Request | None: ...

    @abstractmethod
    async def requests_in_state(self, *states: RequestState) -> list[Request]:
        """Every tenant's requests in these states (each carries its tenant)."""

    async def transition(
        self,
        tenant: TenantId,
        request_id: int,
        from_states: Iterable[RequestState],
        to_state: RequestState,
        effects: Effects = NO_EFFECTS,
        **fields: Any,
    ) -> bool:
        """Move a request to `to_state` (setting `fields` and the effects' request update) if it is in one
        of `from_states`, and queue the effects' deliveries and reminders, in one transaction.

        The state check makes every step idempotent: a step replayed after a restart, or raced by
        a duplicate, finds the request already moved on and does nothing.
        """
        if effects.request_update.get("state", to_state) != to_state:
            raise ValueError(f"effects move request {request_id} to {effects.request_update['state']}, not {to_state}")
        moved = await self._move(tenant, request_id, tuple(from_states), to_state, effects, fields)
        return moved is not None

    async def advance(
        self,
        tenant: TenantId,
        request_id: int,
        from_states: Iterable[RequestState],
        to_state: RequestState,
        **fields: Any,
    ) -> Request | None:
        """`transition` that returns the request as it is now (None if it was not moved), in the same hop."""
        return await self._move(tenant, request_id, tuple(from_states), to_state, NO_EFFECTS, fields)

    @abstractmethod
    async def _move(
        self,
        tenant: TenantId,
        request_id: int,
        from_states: tuple[RequestState, ...],
        to_state: RequestState,
        effects: Effects,
        fields: dict[str, Any],
    ) -> Request | None:
        """The guarded update behind `transition` and `advance`: the moved request, or None."""

    @abstractmethod
    async def update_request(self, tenant: TenantId, request_id: int, **fields: Any) -> None: ...

    @abstractmethod
    async def claim_request(self, tenant: TenantId, request_id: int, state: RequestState, now: float) -> Request | None:
        """Lease a request in `state` to this process, unless another live process holds it.

        The request's pipeline step (pre-check and send for READY, the takeover of a dead process's
        send for SENDING) runs only under this lease; a transition out of the step releases it."""

    @abstractmethod
    async def abandoned_requests(self, now: float) -> list[Request]:
        """Requests whose pipeline step nobody is running: READY or SENDING without a live lease, and
        NEW ones whose first delivery (the parent message) is done. Taking one over still goes through
        `claim_request` or a guarded transition, so racing a process that is just starting the step
        costs at most a wasted read."""

    @abstractmethod
    async def open_request_for(self, tenant: TenantId, number_name: str, phone_key: str, now: float) -> Request | None:
        """A request for this customer that is still waiting for them (any rep)."""

    @abstractmethod
    async def requests_by_user(self, tenant: TenantId, user_id: str, since: float) -> list[Request]: ...
