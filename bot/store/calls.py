"""Calls from the browser: hashed single-use links, hashed page sessions, and the calls themselves.

A "Call now" click stores a link (only its token's hash), redeemed once into a page session (only its
cookie's hash); each call made from the page is a row updated by its webhooks. Invariants: a link
opens at most one session, across replicas; a call only moves forward (`advance_call`'s guard); and a
customer (number and customer key) has at most one live call at any moment, across replicas (a unique
index on the live calls: `create_call` raises `CallInProgress` for a second one).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any

from bot.domain import Call, CallState, Request, TenantId
from bot.store.connection import StoreConnection
from bot.store.types import CallSession, NewDelivery


class CallStore(StoreConnection):
    @abstractmethod
    async def create_call_link(
        self, tenant: TenantId, token_hash: str, request_id: int, user_id: str, created_at: float, expires_at: float
    ) -> None:
        """Store a link to call about the tenant's request `request_id` (nothing when it is not the tenant's)."""

    @abstractmethod
    async def redeem_call_link(
        self, token_hash: str, session_hash: str, now: float, session_expires_at: float
    ) -> CallSession | None:
        """Use a link once: when it exists, is unused and not expired, mark it used and open a
        session bound to its user and request, in one transaction. None otherwise (also for the
        loser of two racing redemptions). Found by the secret alone: the session carries the link's tenant, and
        every lookup the page makes afterwards is scoped by it."""

    @abstractmethod
    async def call_session(self, session_hash: str, now: float) -> CallSession | None:
        """The session with this hash, unless unknown or expired (it carries its tenant, like `redeem_call_link`)."""

    @abstractmethod
    async def delete_spent_call_credentials(self, now: float, limit: int = 500) -> int:
        """Delete up to `limit` call links that can no longer open a page (used, or expired at `now`)
        and call page sessions expired at `now`; returns how many rows went."""

    @abstractmethod
    async def create_call(
        self, tenant: TenantId, request_id: int, user_id: str, started_at: float, session_id: int | None = None
    ) -> Call:
        """A call about to be started (state `started`) by the page session `session_id`, stored before Pilot Status
        is asked. Raises CallInProgress (with that call) when the request's customer already has a live call."""

    @abstractmethod
    async def live_call_to(self, tenant: TenantId, number_name: str, phone_key: str) -> Call | None:
        """The customer's live call on this number, if any (there is at most one)."""

    @abstractmethod
    async def session_call(self, tenant: TenantId, session_id: int) -> Call | None:
        """The newest call the page session `session_id` made, if any."""

    @abstractmethod
    async def call_by_external_id(self, tenant: TenantId, external_call_id: str) -> Call | None:
        """The call whose provider id (Meta's wacid) this is."""

    @abstractmethod
    async def calls_by_ids(self, call_ids: Iterable[int]) -> dict[int, Call]:
        """These calls (those that exist), by id, whatever their tenant: the page streams of a process re-read theirs
        in one query (ids it took from its own tenant-scoped sessions; each call carries its tenant)."""

    @abstractmethod
    async def calls_by_pilot_ids(self, tenant: TenantId, pilot_call_ids: Iterable[str]) -> dict[str, Call]:
        """The calls with these Pilot Status ids (those that exist), by that id."""

    @abstractmethod
    async def get_call(self, tenant: TenantId, call_id: int) -> Call | None: ...

    @abstractmethod
    async def call_by_pilot_id(self, tenant: TenantId, pilot_call_id: str) -> Call | None: ...

    @abstractmethod
    async def last_call(self, tenant: TenantId, request_id: int) -> Call | None:
        """The request's most recent call, if any."""

    @abstractmethod
    async def calls_for_requests(self, tenant: TenantId, request_ids: Iterable[int]) -> dict[int, list[Call]]:
        """The calls of each of these requests (oldest first), by request id; requests without calls are absent."""

    @abstractmethod
    async def requests_called_by(self, tenant: TenantId, user_id: str, since: float, limit: int = 50) -> list[Request]:
        """Up to `limit` requests created since `since`, asked by other reps, on which `user_id` made at
        least one browser call, the most recently called by `user_id` first."""

    @abstractmethod
    async def advance_call(
        self,
        tenant: TenantId,
        call_id: int,
        from_states: Iterable[CallState],
        fields: Mapping[str, Any],
        deliveries: Iterable[NewDelivery] = (),
        *,
        last_call: str | None = None,
        unassigned: bool = False,
    ) -> Call | None:
        """Set `fields` (state, pilot_call_id, connected_at, …) only while the call is in one of
        `from_states` (and, with `unassigned`, has no Pilot Status id yet), and store `deliveries` (for
        the call's request) and the request's `last_call` line (when given) in the same transaction.
        The updated call, or None when the guard did not hold (nothing changed)."""

    @abstractmethod
    async def unsettled_calls(self, started_before: float, quiet_before: float, limit: int = 100) -> list[Call]:
        """Calls that need a look at Pilot Status, oldest first: started before `started_before` with no
        Pilot Status id (the start's answer was lost), or live with an id and unchanged since `quiet_before`
        (their webhooks stopped coming)."""

    @abstractmethod
    async def unconfirmed_call_to(self, tenant: TenantId, phone_key: str, since: float) -> Call | None:
        """The oldest call since `since` to this customer (`customer_key`) that has no Pilot Status id: a
        start whose answer was lost (still `started`), or one its page gave up on (`failed`, CANCELLED)."""
