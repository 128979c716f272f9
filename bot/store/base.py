"""The store's interface: what AskCall asks of its database, and the types that cross it.

The store is the source of truth. Requests, webhook events and outgoing Slack messages
("deliveries") are written here before anything is acknowledged or sent, and every worker reads
its work back from here, so a crash at any point leaves a state that start-up resumes.

Every backend (one package each: `bot.store.sqlite`, `bot.store.postgres`) gives the same
guarantees, proven by one contract test suite run against each:
- each method is one transaction: it happens whole or not at all;
- guarded steps (`transition`, `settle_webhook_event`, `complete_reminder`, `claim_action`) act
  once, however many callers race them, in this process or another;
- no network call ever happens inside a transaction.
Nothing outside a backend's package sees its driver's types (rows, connections, errors).

Work is claimed with leases. A store instance belongs to one process, its `owner`: claiming a
job (a delivery, a request's send, a reminder, a webhook event) writes the owner and a time
`lease_seconds` ahead. The owner renews its leases while it lives (`renew_leases`) and gives
them up when it stops (`release_leases`); work whose lease ran out belongs to a dead process and
is taken over by whoever sweeps first (`claim_abandoned_*`). A live process's work is never
touched, so replicas never share a job and a restart never redoes a live one.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields
from typing import Any

from bot.domain import (
    DEFAULT_NUMBER,
    Call,
    DeliveryState,
    EventResult,
    Request,
    RequestState,
)
from bot.phones import customer_key

# How long the readiness write probe waits for a lock before calling the store unready.
PROBE_TIMEOUT = 0.5
# Retention erases a finished delivery's payload down to this.
PURGED_PAYLOAD = "{}"


class StoreError(Exception):
    """The database could not be reached, read or written. The message says what and why, with no
    driver internals; callers answer "try again" rather than crash."""


class SchemaTooNew(StoreError):
    """The database was migrated by a newer AskCall; this one must not serve it."""

    def __init__(self, where: str, version: int, known: int) -> None:
        super().__init__(
            f"the database at {where} is at schema version {version}, newer than this AskCall knows ({known}): "
            "upgrade AskCall, or point it at another database"
        )
        self.version = version
        self.known = known


@dataclass(frozen=True)
class NewDelivery:
    """A Slack call to make later: `kind` names the Web API call, `payload` its arguments."""

    dedup_key: str
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Delivery:
    id: int
    dedup_key: str
    request_id: int
    kind: str
    payload: dict[str, Any]
    state: DeliveryState
    attempts: int
    next_attempt_at: float
    last_error: str | None
    result_ts: str | None
    created_at: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", DeliveryState(self.state))


DELIVERY_FIELDS = frozenset(f.name for f in fields(Delivery))


@dataclass(frozen=True)
class NewReminder:
    kind: str
    due_at: float


@dataclass(frozen=True)
class Reminder:
    id: int
    request_id: int
    kind: str
    due_at: float
    state: str
    fired_at: float | None


@dataclass(frozen=True)
class WebhookEvent:
    id: int
    event: str
    status: str | None
    from_phone: str | None
    to_phone: str | None
    phone_key: str | None
    event_ts: str | None
    received_at: float
    processed_at: float | None
    request_id: int | None
    result: str | None
    number_name: str = DEFAULT_NUMBER


@dataclass(frozen=True)
class RecordedEvent:
    """A stored webhook delivery: `is_new` False for a redelivery; `unmatched` when it was settled at
    once because no request could own it (nothing left to process)."""

    id: int
    is_new: bool
    unmatched: bool = False


@dataclass(frozen=True)
class NewEvent:
    """A webhook delivery about to be stored; `answered_at` is set for answers (see record_webhook_event)."""

    dedup_key: str
    event: str
    status: str | None
    from_phone: str | None
    to_phone: str | None
    phone_key: str
    event_ts: str | None
    body: str
    received_at: float
    number_name: str
    answered_at: float | None
    result: EventResult | None = None  # stored already settled with this result (e.g. IGNORED)
    request_id: int | None = None  # with `result`: the request the settled event belongs to


@dataclass(frozen=True)
class AnswerTarget:
    """A webhook event being processed, the request it answers (None: none) and the rep's DM wish."""

    event: WebhookEvent
    request: Request | None
    dm: bool


@dataclass(frozen=True)
class MetricsSnapshot:
    requests: dict[tuple[str, str | None], int]
    webhook_events: dict[str | None, int]
    delivery_attempts: dict[str, tuple[int, int]]
    dead_deliveries: int
    pending_deliveries: int
    oldest_pending_at: float | None
    # Browser calls by (state, end reason): (how many, how many connected, their total duration in seconds).
    calls: dict[tuple[str, str], tuple[int, int, int]] = field(default_factory=dict)


_OPEN = f"('{DeliveryState.PENDING}', '{DeliveryState.INFLIGHT}')"
# The /metrics counts: plain SQL that both backends run as it is, in this order (see `metrics_from`).
METRICS_QUERIES = (
    "SELECT state, outcome, COUNT(*) FROM requests GROUP BY state, outcome",
    "SELECT result, COUNT(*) FROM webhook_events GROUP BY result",
    f"""SELECT kind, SUM(attempts), SUM(attempts) - SUM(CASE WHEN state = '{DeliveryState.DONE}' THEN 1 ELSE 0 END)
        FROM deliveries GROUP BY kind""",
    f"SELECT COUNT(*), 0 FROM deliveries WHERE state = '{DeliveryState.DEAD}'",
    f"SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE state IN {_OPEN}",
    """SELECT state, COALESCE(end_reason, ''), COUNT(*), COUNT(connected_at), COALESCE(SUM(duration), 0)
       FROM calls GROUP BY state, end_reason""",
)


def metrics_from(results: list[list[Any]]) -> MetricsSnapshot:
    """The snapshot from the rows of METRICS_QUERIES, whatever the driver's row type (indexable)."""
    requests, events, attempts, (dead,), (waiting,), calls = results
    return MetricsSnapshot(
        calls={(r[0], r[1]): (int(r[2]), int(r[3]), int(r[4])) for r in calls},
        requests={(r[0], r[1]): int(r[2]) for r in requests},
        webhook_events={r[0]: int(r[1]) for r in events},
        delivery_attempts={r[0]: (int(r[1] or 0), int(r[2] or 0)) for r in attempts},
        dead_deliveries=int(dead[0] or 0),
        pending_deliveries=int(waiting[0] or 0),
        oldest_pending_at=float(waiting[1]) if waiting[1] is not None else None,
    )


@dataclass(frozen=True)
class RequestRecord:
    """A request with the webhook event that settled its answer, when there is one, and its browser calls."""

    request: Request
    source_event: str | None  # the event's dedup key
    source_event_ts: str | None  # the event's own timestamp, as Pilot Status sent it
    calls: tuple[Call, ...] = ()  # the browser calls made to the customer for this request, oldest first


@dataclass(frozen=True)
class CallRecord:
    """A browser call with the request it was made for."""

    call: Call
    request: Request


@dataclass(frozen=True)
class PurgeCounts:
    """What a purge erased: requests, webhook events, finished deliveries, calls (their Pilot Status
    call id), and call links / page sessions deleted."""

    requests: int = 0
    events: int = 0
    deliveries: int = 0
    calls: int = 0
    call_credentials: int = 0

    def __add__(self, other: PurgeCounts) -> PurgeCounts:
        return PurgeCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(PurgeCounts)))

    @property
    def leftovers(self) -> bool:
        """A leftovers batch found something: there may be more."""
        return bool(self.events or self.deliveries or self.calls)


DEFAULT_LEASE_SECONDS = 30.0


@dataclass(frozen=True)
class CallSession:
    """A call page's session: what one redeemed link lets its browser do (call about one request)."""

    request_id: int
    user_id: str
    expires_at: float


# What `advance_call` may set (column names go into SQL text: only these are accepted).
CALL_UPDATABLE = frozenset({"pilot_call_id", "state", "connected_at", "ended_at", "duration", "end_reason"})


def call_fields(fields_: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(fields_) - CALL_UPDATABLE
    if unknown:
        raise ValueError(f"not updatable on a call: {sorted(unknown)}")
    return dict(fields_)


def new_owner() -> str:
    """A name for this process's leases: readable in `askcall db status`, unique across restarts."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Store(ABC):
    """What AskCall asks of its database. See the module docstring for the guarantees."""

    def __init__(self, *, owner: str | None = None, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self.owner = owner or new_owner()
        self.lease_seconds = lease_seconds
        self._event_queue: list[tuple[NewEvent, asyncio.Future[RecordedEvent]]] = []
        self._event_writer: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------------------------
    @property
    @abstractmethod
    def description(self) -> str:
        """Where the data lives, safe to log (no password)."""

    async def open(self) -> None:
        """Connect and bring the schema up to date (what `askcall serve` does)."""
        await self.connect()
        try:
            await self.migrate()
        except BaseException:
            await self.close()
            raise

    @abstractmethod
    async def connect(self, *, read_only: bool = False) -> None:
        """Connect without touching the schema. `read_only`: every write is refused (the source of
        `askcall db copy`); a SQLite file that does not exist is then an error, not a new database.
        Raises StoreError."""

    @abstractmethod
    async def migrate(self) -> None:
        """Bring the schema up to date, once, however many processes try at the same moment. Raises
        StoreError (SchemaTooNew) for a database migrated by a newer AskCall."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def schema_version(self) -> int: ...

    @property
    @abstractmethod
    def latest_schema_version(self) -> int:
        """The schema version this AskCall knows."""

    @abstractmethod
    async def probe_write(self, timeout: float = PROBE_TIMEOUT) -> None:  # noqa: ASYNC109
        """Prove the database takes a committed write now, waiting at most `timeout` for locks: a
        lock held elsewhere, a full disk, a read-only or corrupt database raise StoreError. Used by
        /readyz and `askcall check`; it never touches the connections the request path uses."""

    # --- leases ---------------------------------------------------------------------------------
    @abstractmethod
    async def renew_leases(self, now: float, held: Mapping[str, Iterable[int]]) -> int:
        """Extend this process's leases on the rows it is working on right now (`held`: ids by table:
        requests, deliveries, reminders, webhook_events); returns how many. A lease this process took
        but no longer works on (its job failed) is not renewed: it runs out, and the work is swept up
        again. Called well within `lease_seconds`."""

    @abstractmethod
    async def release_leases(self) -> int:
        """Give up every lease this process holds (at shutdown), so others may take the work at once."""

    @abstractmethod
    async def open_leases(self, now: float) -> list[tuple[str, str, int, bool]]:
        """(table, owner, how many, expired?) of every lease held: `askcall db status`."""

    @asynccontextmanager
    async def exclusive(self, job: str) -> AsyncIterator[bool]:
        """Whether this process runs the periodic `job` now: at most one process at a time does, across
        replicas. One process alone (SQLite) always does."""
        yield True

    async def listen(self, wake: Callable[[], None]) -> None:
        """Call `wake` whenever another process stores work this one may run (new deliveries or
        reminders), so it runs at once rather than at the next poll. Runs until cancelled. One process
        alone (SQLite) wakes itself in memory, so the default listens to nothing."""
        await asyncio.Event().wait()

    async def upkeep(self, wait_idle: Callable[[], Awaitable[None]]) -> None:
        """Background housekeeping the backend needs while AskCall runs (forever; cancelled at
        shutdown). `wait_idle` returns once no inbound request is being handled."""
        await asyncio.Event().wait()

    # --- requests -------------------------------------------------------------------------------
    @abstractmethod
    async def create_request(
        self,
        *,
        source_key: str | None,
        team_id: str | None,
        channel_id: str,
        user_id: str,
        phone_e164: str,
        reason: str,
        lang: str,
        response_url: str | None,
        parent: NewDelivery | Callable[[int], NewDelivery],
        thread_ts: str | None = None,
        number_name: str = DEFAULT_NUMBER,
        refuse_if_open: bool = False,
        phone_display: str = "masked",
        max_per_user_hour: int = 0,
    ) -> tuple[int, bool]:
        """Store a request and its parent-message delivery in one transaction.

        Returns (request id, created). A second submission with the same `source_key` (Slack's
        trigger id) returns the first request instead of creating another. With `refuse_if_open`,
        raises OpenRequestExists when the customer already has an open request (checked in the
        same transaction, so two reps asking at once can't both get through). With
        `max_per_user_hour` > 0, raises BudgetSpent when `user_id` already created that many requests
        in the last hour (counted in the same transaction, serialised per user across replicas).
        """

    @abstractmethod
    async def get_request(self, request_id: int) -> Request | None: ...

    @abstractmethod
    async def requests_in_state(self, *states: RequestState) -> list[Request]: ...

    async def transition(
        self,
        request_id: int,
        from_states: Iterable[RequestState],
        to_state: RequestState,
        deliveries: Iterable[NewDelivery] = (),
        reminders: Iterable[NewReminder] = (),
        **fields: Any,
    ) -> bool:
        """Move a request to `to_state` if it is in one of `from_states`, and queue `deliveries`.

        The state check makes every step idempotent: a step replayed after a restart, or raced by
        a duplicate, finds the request already moved on and does nothing.
        """
        moved = await self._move(request_id, tuple(from_states), to_state, list(deliveries), list(reminders), fields)
        return moved is not None

    async def advance(
        self, request_id: int, from_states: Iterable[RequestState], to_state: RequestState, **fields: Any
    ) -> Request | None:
        """`transition` that returns the request as it is now (None if it was not moved), in the same hop."""
        return await self._move(request_id, tuple(from_states), to_state, [], [], fields)

    @abstractmethod
    async def _move(
        self,
        request_id: int,
        from_states: tuple[RequestState, ...],
        to_state: RequestState,
        deliveries: list[NewDelivery],
        reminders: list[NewReminder],
        fields: dict[str, Any],
    ) -> Request | None:
        """The guarded update behind `transition` and `advance`: the moved request, or None."""

    @abstractmethod
    async def update_request(self, request_id: int, **fields: Any) -> None: ...

    @abstractmethod
    async def claim_request(self, request_id: int, state: RequestState, now: float) -> Request | None:
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
    async def open_request_for(self, number_name: str, phone_key: str, now: float) -> Request | None:
        """A request for this customer that is still waiting for them (any rep)."""

    @abstractmethod
    async def requests_by_user(self, user_id: str, since: float) -> list[Request]: ...

    @abstractmethod
    async def requests_called_by(self, user_id: str, since: float, limit: int = 50) -> list[Request]:
        """Up to `limit` requests created since `since`, asked by other reps, on which `user_id` made at
        least one browser call, the most recently called by `user_id` first."""

    # --- webhook events -------------------------------------------------------------------------
    async def record_webhook_event(
        self,
        *,
        dedup_key: str,
        event: str,
        status: str | None,
        from_phone: str | None,
        to_phone: str | None,
        event_ts: str | None,
        body: str,
        number_name: str = DEFAULT_NUMBER,
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
            dedup_key,
            event,
            status,
            from_phone,
            to_phone,
            customer_key(from_phone or ""),
            event_ts,
            body,
            time.time(),
            number_name,
            answered_at,
            result,
            request_id if result is not None else None,
        )
        future: asyncio.Future[RecordedEvent] = asyncio.get_running_loop().create_future()
        self._event_queue.append((item, future))
        if self._event_writer is None or self._event_writer.done():
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
    async def get_webhook_event(self, event_id: int) -> WebhookEvent | None: ...

    @abstractmethod
    async def unprocessed_webhook_events(self) -> list[tuple[int, str]]:
        """(id, customer key) of every event not yet processed, oldest first."""

    @abstractmethod
    async def abandoned_webhook_events(self, now: float) -> list[tuple[int, str]]:
        """(id, customer key) of unprocessed events nobody is processing (no live lease), oldest first."""

    @abstractmethod
    async def next_event_for_customer(self, event: WebhookEvent) -> int | None:
        """The customer's next unprocessed event after `event`, if any: answers apply in order."""

    async def find_request_for_answer(
        self, phone_key: str, answered_at: float, number_name: str = DEFAULT_NUMBER
    ) -> Request | None:
        """The most recent request for this customer that an answer given at `answered_at` can belong to."""
        request, _ = await self.answer_target(phone_key, answered_at, number_name)
        return request

    @abstractmethod
    async def answer_target(
        self, phone_key: str, answered_at: float, number_name: str = DEFAULT_NUMBER
    ) -> tuple[Request | None, bool]:
        """The request an answer given at `answered_at` belongs to (the customer's most recent open one),
        and whether its rep wants answers by DM too."""

    @abstractmethod
    async def open_answer(self, event_id: int, answered_at: Callable[[str | None], float]) -> AnswerTarget | None:
        """An unprocessed event, the request it answers and its rep's DM wish.

        None when the event is unknown, already processed, being processed by another live process,
        or not the customer's oldest unprocessed event (answers from one customer apply in order,
        across processes). Otherwise the event is leased to this process until it is settled. An
        event that answers no request is settled as `unmatched` in the same transaction.
        """

    @abstractmethod
    async def settle_webhook_event(
        self,
        event_id: int,
        result: EventResult,
        *,
        request_id: int | None = None,
        request_update: dict[str, Any] | None = None,
        deliveries: Iterable[NewDelivery] = (),
        reminders: Iterable[NewReminder] = (),
    ) -> bool:
        """Mark an event processed and apply its effect on a request, atomically and only once."""

    # --- deliveries -----------------------------------------------------------------------------
    @abstractmethod
    async def add_deliveries(self, request_id: int, deliveries: Iterable[NewDelivery]) -> None: ...

    async def claim_due_deliveries(self, now: float, limit: int = 50) -> list[Delivery]:
        """Take due pending deliveries (pending → inflight), at most one per request so that each
        request's messages reach Slack in the order they were queued."""
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
    async def delivery_for(self, request_id: int, kind: str) -> Delivery | None: ...

    @abstractmethod
    async def get_delivery(self, delivery_id: int) -> Delivery | None: ...

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
    async def metrics_snapshot(self) -> MetricsSnapshot:
        """Counts for /metrics, read off the request path (never on the writer's connection or lock)."""

    # --- reminders ------------------------------------------------------------------------------
    @abstractmethod
    async def due_reminders(self, now: float, limit: int = 50) -> list[Reminder]:
        """Due pending reminders (read only)."""

    @abstractmethod
    async def claim_due_reminders(self, now: float, limit: int = 50) -> list[Reminder]:
        """Due pending reminders that no live process holds, leased to this one until completed."""

    @abstractmethod
    async def next_reminder_time(self) -> float | None: ...

    @abstractmethod
    async def reminders_for(self, request_id: int) -> list[Reminder]: ...

    @abstractmethod
    async def complete_reminder(
        self,
        reminder_id: int,
        state: str,
        *,
        request_id: int,
        request_update: dict[str, Any] | None = None,
        deliveries: Iterable[NewDelivery] = (),
        reminders: Iterable[NewReminder] = (),
    ) -> bool:
        """Record a reminder's outcome with its effects, once (a replay after a crash does nothing)."""

    # --- per-user preferences, button clicks ----------------------------------------------------
    @abstractmethod
    async def user_prefs(self, user_id: str) -> tuple[bool, str | None, float | None]:
        """(dm_answers, locale, locale_fetched_at) for a user; defaults when unknown."""

    @abstractmethod
    async def set_dm_answers(self, user_id: str, enabled: bool) -> None: ...

    @abstractmethod
    async def set_locale(self, user_id: str, locale: str, fetched_at: float) -> None: ...

    @abstractmethod
    async def claim_action(self, action_key: str) -> bool:
        """True the first time `action_key` is seen: double clicks and Slack retries act once."""

    @abstractmethod
    async def claim_status_check(self, request_id: int, now: float, interval: float) -> tuple[bool, str | None]:
        """(whether the caller may probe Pilot Status for this request now, the last probe's result).

        True at most once per `interval` per request, however many callers race it (in this process
        or another); the others get the last recorded result (None while the first probe runs)."""

    @abstractmethod
    async def record_status_check(self, request_id: int, result: str) -> None:
        """Keep what the probe claimed by `claim_status_check` found, for the clicks that follow."""

    # --- calls from the browser -------------------------------------------------------------------
    # A "Call now" click stores a link (only its token's hash), redeemed once into a page session
    # (only its cookie's hash); each call made from the page is a row updated by its webhooks.
    @abstractmethod
    async def create_call_link(
        self, token_hash: str, request_id: int, user_id: str, created_at: float, expires_at: float
    ) -> None: ...

    @abstractmethod
    async def redeem_call_link(
        self, token_hash: str, session_hash: str, now: float, session_expires_at: float
    ) -> CallSession | None:
        """Use a link once: when it exists, is unused and not expired, mark it used and open a
        session bound to its user and request, in one transaction. None otherwise (also for the
        loser of two racing redemptions)."""

    @abstractmethod
    async def call_session(self, session_hash: str, now: float) -> CallSession | None:
        """The session with this hash, unless unknown or expired."""

    @abstractmethod
    async def create_call(self, request_id: int, user_id: str, started_at: float) -> Call:
        """A call about to be started (state `started`), stored before Pilot Status is asked."""

    @abstractmethod
    async def get_call(self, call_id: int) -> Call | None: ...

    @abstractmethod
    async def call_by_pilot_id(self, pilot_call_id: str) -> Call | None: ...

    @abstractmethod
    async def last_call(self, request_id: int) -> Call | None:
        """The request's most recent call, if any."""

    @abstractmethod
    async def calls_for_requests(self, request_ids: Iterable[int]) -> dict[int, list[Call]]:
        """The calls of each of these requests (oldest first), by request id; requests without calls are absent."""

    @abstractmethod
    async def advance_call(
        self,
        call_id: int,
        from_states: Iterable[str],
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
    async def unconfirmed_call_to(self, phone_key: str, since: float) -> Call | None:
        """The oldest call since `since` to this customer (`customer_key`) that has no Pilot Status id: a
        start whose answer was lost (still `started`), or one its page gave up on (`failed`, CANCELLED)."""

    @abstractmethod
    async def posted_ts(self, dedup_key: str) -> str | None:
        """The Slack ts of a delivered message, by its delivery key (None: not delivered)."""

    @abstractmethod
    async def posted_for(self, request_id: int, ts: str) -> bool:
        """Whether AskCall posted the message `ts` for this request (its replies, reminders, call lines)."""

    # --- records: export and retention ------------------------------------------------------------
    # Consent records (`askcall export`) and LGPD retention (`askcall purge`, automatic retention).
    # Retention erases what identifies the customer and keeps every row, so counts stay right.
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
    async def count_purgeable_requests(self, cutoff: float) -> int:
        """Closed requests created before `cutoff` whose phone and reason are still stored."""

    @abstractmethod
    async def purge_requests_batch(self, cutoff: float, limit: int = 500) -> PurgeCounts:
        """Erase the customer's data from up to `limit` purgeable requests, their events (call events
        included), their finished deliveries and their calls' Pilot Status call ids (which Pilot Status
        could map back to the number), and delete their call links and page sessions. A call still live
        keeps its id (its webhooks must find it) unless it started before `cutoff`; the leftovers
        batch erases it once it is over. Calls keep who called, when, how long and how it ended."""

    @abstractmethod
    async def purge_leftovers_batch(self, cutoff: float, limit: int = 500) -> PurgeCounts:
        """Erase processed events older than `cutoff` that matched no request (or a purged one),
        deliveries of purged requests that finished after their request was purged, and the Pilot
        Status call ids of purged requests' calls that were still live when their request was purged."""

    @abstractmethod
    async def delete_spent_call_credentials(self, now: float, limit: int = 500) -> int:
        """Delete up to `limit` call links that can no longer open a page (used, or expired at `now`)
        and call page sessions expired at `now`; returns how many rows went."""

    # --- administration: `askcall db status | migrate | copy` ----------------------------------------
    # Whole-table access by key, for moving an install between backends. Both backends hold the
    # same columns at the same schema version, so a row read from one can be written to the other.
    @property
    @abstractmethod
    def backend(self) -> str:
        """The backend's name for people: "SQLite" or "PostgreSQL"."""

    @abstractmethod
    async def server_version(self) -> str:
        """The database software's version (the SQLite library's, or PostgreSQL's `server_version`)."""

    @abstractmethod
    async def row_counts(self) -> dict[str, int]:
        """How many rows each of `DATA_TABLES` holds, in that order."""

    @abstractmethod
    async def export_rows(self, table: str, after: Any, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` rows of `table` (one of `DATA_TABLES`), column name → value, in key order,
        starting after the key `after` (None: from the first). Values are ints, floats, strings or
        None, whatever the backend."""

    @abstractmethod
    async def import_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Insert `rows` (as `export_rows` returns them, keys included) into `table`, in one
        transaction. New rows made afterwards get keys past every imported one."""

    @abstractmethod
    async def erase_all_rows(self) -> None:
        """Delete every row of every AskCall table, in one transaction (`askcall db copy --force`)."""


# The tables that hold AskCall's data, parents before children, with the key each is read in order of.
DATA_TABLES: tuple[tuple[str, str], ...] = (
    ("requests", "id"),
    ("status_checks", "request_id"),
    ("webhook_events", "id"),
    ("deliveries", "id"),
    ("reminders", "id"),
    ("user_prefs", "user_id"),
    ("handled_actions", "action_key"),
    ("call_links", "id"),
    ("call_sessions", "id"),
    ("calls", "id"),
)


def data_table_key(table: str) -> str:
    """The key column of `table`; ValueError for anything that is not one of `DATA_TABLES`
    (table names go into SQL text, so only these are ever accepted)."""
    for name, key in DATA_TABLES:
        if name == table:
            return key
    raise ValueError(f"{table!r} is not an AskCall table")
