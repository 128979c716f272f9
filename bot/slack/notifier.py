"""Delivers stored Slack messages: in order per request, with durable retries and backoff.

Slack's outbound side, next to the gateway it drives: the services only store deliveries and wake it (a
callable handed over by the app), so they never import it.

Every Slack write (parent message, thread reply, chat.update, response_url) is a row in
`deliveries`. The notifier claims due rows (pending → inflight), makes the call, and records the
outcome; a failed call is rescheduled with backoff (or Slack's Retry-After, which costs no attempt).

Exactly once: a post whose outcome is unknown (left inflight by a crash, or failed in a way that
may have reached Slack: a dropped connection, a 5xx) is marked "unconfirmed" in its `last_error`,
durably. Before it is sent again, Slack is asked whether it already has it
(:meth:`SlackGateway.find_posted`, which joins a public channel when that is what it takes to read
it). Found → adopted; absent → sent; the check itself failing for a while (rate limit, network) →
checked again later. Where Slack can't tell at all (a channel that can't be joined or read, a
response_url, a missing scope), the delivery is NOT sent again: it is marked dead with
`last_error` "unverifiable: …", logged and counted with the dead deliveries. A rare lost notice is
better than a duplicate in front of a customer's team; the operator can see and act on it.
Only chat.update is resent without a check: editing a message to the same content is idempotent.

A note to the rep through a response_url that takes no more posts (they expire after 30 minutes and a
few uses, and a request may need one much later, after a crash or a long Pilot Status outage) goes to
the rep's DM with the app instead: a new delivery, with its own key, so it too is posted once.

Every call is made with the token of the delivery's own workspace (`Installations.for_tenant`); a delivery whose
workspace has no installation any more dies with `last_error` "uninstalled" ("disabled" when the operator disabled
it), never sent with another's token. A delivery of no request (the installer's welcome DM, `request_id` None) is
delivered the same way, a queue of its own, with no request hooks.

Fairness: a 429's Retry-After reschedules only the message Slack refused (Slack limits per method and channel, and
another message, even of the same workspace, may go meanwhile), so one workspace's rate limit never delays
another's; the claim shares the outbox out in turns across workspaces.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from bot.config import RetryPolicy
from bot.domain import DeliveryKind, DeliveryState, TenantId
from bot.leases import DELIVERIES, HeldWork, until_recorded
from bot.slack.gateway import DEAD_RESPONSE_URL, UNVERIFIABLE, DeliveryError, SlackGateway
from bot.slack.installations import Installations
from bot.store import Delivery, NewDelivery, Store
from bot.tasks import Tasks
from bot.worker import DueWorkLoop

log = logging.getLogger(__name__)

# `last_error` prefix: the last attempt may have reached Slack (UNVERIFIABLE: and Slack can't tell).
UNCONFIRMED = "unconfirmed: "
# The last error of a delivery whose workspace has no installation any more (it is never sent), or was disabled by
# the operator (`askcall workspaces disable`, as `stop_workspace` says it).
UNINSTALLED = "uninstalled"
DISABLED = "disabled"


def _of(delivery: Delivery) -> str:
    """Which message, for a log line: its request's, or its workspace's own (the welcome DM)."""
    if delivery.request_id is None:
        return f"of workspace {delivery.tenant} ({delivery.dedup_key})"
    return f"for request {delivery.request_id}"


def unconfirmed(delivery: Delivery) -> bool:
    """Whether the delivery's last attempt may have reached Slack (so it must be checked first)."""
    return delivery.kind != DeliveryKind.UPDATE and (delivery.last_error or "").startswith(UNCONFIRMED)


@dataclass(frozen=True)
class ParentHooks:
    """What the request pipeline wants to hear about its parent message."""

    posted: Callable[[TenantId, int, str], Awaitable[None]]
    failed: Callable[[TenantId, int, DeliveryError], Awaitable[None]]


class Notifier:
    def __init__(
        self,
        store: Store,
        gateway: SlackGateway,
        policy: RetryPolicy,
        tasks: Tasks,
        held: HeldWork,
        installations: Installations,
        *,
        concurrency: int = 16,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._gateway = gateway
        self._policy = policy
        self._tasks = tasks
        self._held = held
        self._installations = installations
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
        """Deliveries a dead process left inflight (their lease ran out) may have reached Slack: each
        is checked before any resend. A live process's deliveries are never touched."""
        for delivery in await self._store.claim_abandoned_deliveries(time.time()):
            if (DELIVERIES, delivery.id) in self._held:
                continue  # a task of this process is on it (its lease lapsed while the database was down)
            await self._store.mark_delivery(
                delivery.tenant, delivery.id, DeliveryState.PENDING, last_error=f"{UNCONFIRMED}takeover"
            )
        self.wake()

    async def _start_due(self) -> float | None:
        deliveries, next_at = await self._store.claim_due(self._clock())
        for delivery in deliveries:
            await self._slots.acquire()
            if self._tasks.spawn(self._deliver(delivery), name=f"delivery-{delivery.id}") is None:
                self._slots.release()  # shutting down: the row stays inflight until its lease runs out
        return next_at

    async def _deliver(self, delivery: Delivery) -> None:
        drained = False
        try:
            next_up: Delivery | None = delivery
            # A claimed message cut short by shutdown stays inflight: whoever takes it over checks Slack first.
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
        installed = await self._installations.for_tenant(delivery.tenant)
        if installed is None:
            await self._uninstalled(delivery)
            return None, False
        token = installed.bot_token
        try:
            if unconfirmed(delivery):
                ts = await self._already_posted(delivery, token)
                if ts is not None:
                    log.info("Slack %s %s had already landed; not sent again", delivery.kind, _of(delivery))
                    return await self._succeeded(delivery, ts)
            ts = await self._gateway.execute(await self._addressed(delivery), token)
        except _Unverifiable as unknown:
            await self._unverifiable(delivery, unknown.error)
            return None, False
        except DeliveryError as error:
            await self._failed(delivery, error)
            return None, False
        await self._tasks.yield_to_inbound()
        return await self._succeeded(delivery, ts)

    async def _addressed(self, delivery: Delivery) -> Delivery:
        """An update of a message AskCall posted earlier names that post's delivery key (`ts_of`):
        its ts is known only once it was posted (deliveries of a request go in order)."""
        key = delivery.payload.get("ts_of") if delivery.kind == DeliveryKind.UPDATE else None
        if not key:
            return delivery
        ts = await self._store.posted_ts(delivery.tenant, str(key))
        if ts is None:
            raise DeliveryError("message_not_posted", transient=True)
        payload = {name: value for name, value in delivery.payload.items() if name != "ts_of"}
        return replace(delivery, payload={**payload, "ts": ts})

    async def _uninstalled(self, delivery: Delivery) -> None:
        """The delivery's workspace has no installation any more, or the operator disabled it: it dies (last error
        "uninstalled" or "disabled", as `stop_workspace` would have said), never sent with another's token."""
        workspace = await self._store.workspace(delivery.tenant)
        reason = DISABLED if workspace is not None and workspace.disabled_at is not None else UNINSTALLED
        log.warning("Slack %s %s dropped: its workspace is %s", delivery.kind, _of(delivery), reason)
        await self._store.mark_delivery(
            delivery.tenant, delivery.id, DeliveryState.DEAD, last_error=reason, count_attempt=True
        )
        await self._parent_failed(delivery, DeliveryError(reason, transient=False))

    async def _already_posted(self, delivery: Delivery, token: str) -> str | None:
        """Slack's ts for the delivery if it landed. A transient failure to check keeps it unconfirmed."""
        try:
            return await self._gateway.find_posted(delivery, token)
        except DeliveryError as error:
            if not error.transient:
                raise _Unverifiable(error) from error
            raise DeliveryError(
                f"{UNCONFIRMED}check failed: {error.code}",
                transient=True,
                retry_after=error.retry_after,
                ambiguous=True,
            ) from error

    async def _unverifiable(self, delivery: Delivery, error: DeliveryError) -> None:
        log.error(
            "Slack %s %s may or may not have landed, and Slack can't tell (%s); not sent again",
            delivery.kind,
            _of(delivery),
            error.code,
        )
        code = f"{UNVERIFIABLE}{error.code}"
        await self._store.mark_delivery(
            delivery.tenant, delivery.id, DeliveryState.DEAD, last_error=code, count_attempt=True
        )
        await self._parent_failed(delivery, DeliveryError(code, transient=False))

    async def _succeeded(
        self, delivery: Delivery, ts: str | None, *, claim_next: bool = True
    ) -> tuple[Delivery | None, bool]:
        # Slack has the message: record that, rather than leave it to an "is it there?" check later.
        completed = await until_recorded(
            lambda: self._store.complete_delivery(delivery, ts, self._clock(), claim_next=claim_next),
            f"Slack {delivery.kind} {_of(delivery)}",
        )
        if delivery.kind == DeliveryKind.PARENT and self.hooks is not None and ts and delivery.request_id is not None:
            await self.hooks.posted(delivery.tenant, delivery.request_id, ts)
        return completed

    async def _failed(self, delivery: Delivery, error: DeliveryError) -> None:
        # A rate limit is Slack saying "later", not a failed attempt: a busy channel (Slack takes about one
        # post a second in each) must not use up a message's attempts while it waits its turn.
        counted = error.retry_after is None
        attempt = delivery.attempts + (1 if counted else 0)
        if error.ambiguous and not error.code.startswith(UNCONFIRMED):
            error = DeliveryError(
                f"{UNCONFIRMED}{error.code}", transient=error.transient, retry_after=error.retry_after, ambiguous=True
            )
        if error.transient and attempt < self._policy.attempts:
            delay = error.retry_after if error.retry_after is not None else self._backoff(attempt)
            log.warning(
                "Slack %s %s failed (%s); retry %d in %.1fs",
                delivery.kind,
                _of(delivery),
                error.code,
                attempt,
                delay,
            )
            await self._store.mark_delivery(
                delivery.tenant,
                delivery.id,
                DeliveryState.PENDING,
                last_error=error.code,
                next_attempt_at=self._clock() + delay,
                count_attempt=counted,
            )
            return
        if delivery.kind == DeliveryKind.RESPOND and error.code.startswith(DEAD_RESPONSE_URL):
            await self._send_as_dm(delivery, error)
        else:
            log.error("Slack %s %s failed for good: %s", delivery.kind, _of(delivery), error.code)
        await self._store.mark_delivery(
            delivery.tenant, delivery.id, DeliveryState.DEAD, last_error=error.code, count_attempt=True
        )
        await self._parent_failed(delivery, error)

    async def _parent_failed(self, delivery: Delivery, error: DeliveryError) -> None:
        """A request's parent message failed for good: the request pipeline hears of it."""
        if delivery.kind == DeliveryKind.PARENT and self.hooks is not None and delivery.request_id is not None:
            await self.hooks.failed(delivery.tenant, delivery.request_id, error)

    async def _send_as_dm(self, delivery: Delivery, error: DeliveryError) -> None:
        """The rep's note could not go through its response_url: queue it for the rep's DM with the app
        (queued before the note is marked dead, so a crash in between only queues it again, under the same key)."""
        rid = delivery.request_id
        request = None if rid is None else await self._store.get_request(delivery.tenant, rid)
        if request is None:
            log.error("Slack note %s failed for good: %s", _of(delivery), error.code)
            return
        log.warning(
            "the response_url of request %d takes no more posts (%s); the note goes to the rep's DM",
            request.id,
            error.code,
        )
        payload = {key: delivery.payload[key] for key in ("text", "blocks") if key in delivery.payload}
        direct = NewDelivery(f"{delivery.dedup_key}:dm", DeliveryKind.DIRECT, {"channel": request.user_id, **payload})
        await self._store.add_deliveries(delivery.tenant, request.id, [direct])

    def _backoff(self, attempt: int) -> float:
        return self._policy.delay(attempt) * (0.75 + random.random() / 4)


class _Unverifiable(Exception):
    """Slack can't tell whether an unconfirmed delivery landed."""

    def __init__(self, error: DeliveryError) -> None:
        super().__init__(error.code)
        self.error = error
