"""Calls from the browser: the personal link, the call page's session, the call and its story in the thread.

Invariants:
- a link's token and a page session's cookie exist only in the rep's hands; the store keeps their
  SHA-256 (`digest`), so a database leak opens no call page;
- a link is redeemed once, within `LINK_LIFETIME`, into a session bound to the rep who clicked and
  to that one request; every page request is checked against that session;
- a call is stored (state `started`) before Pilot Status is asked to ring the customer, and
  `POST /v1/calls` is never resent once it may have landed (the client's `start_call`): a start whose
  answer was lost keeps no Pilot Status id until AskCall finds the call (its webhook, or the list of
  calls, by the `bizOpaqueCallbackData` marker it sent), and is failed `NOT_STARTED` only once Pilot
  Status doesn't list it;
- a customer has at most one live call, whoever starts it from whichever page or replica (the store's unique
  index): a second start is refused before Pilot Status is asked, naming who is on the call and since when; the
  same page session starting again (a double click, a retried offer) gets its own call back;
- each page session follows and hangs up its own call (the call carries the session), never a teammate's;
- no call stays live for ever: one whose webhooks stop coming is asked about (the sweep);
- a call only moves forward (started → ringing → connected → ended; or failed), whatever order or
  however often its webhooks arrive, and its thread message is posted once then updated in place
  (deliveries keyed by the call and the state), in the same transaction as the move;
- a webhook never waits: it is applied when its call is known, stored, and answered; one that may belong to a
  start still on its way (or whose answer was lost) is matched in the background (`_reconcile`);
- the page's streams cost one store read per process and interval whatever their number, and one Pilot Status
  read (with backoff) per call for its answer SDP (`_Watch`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import secrets
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bot.domain import (
    CANCELLED,
    CLOCK_SKEW,
    DEFAULT_NUMBER,
    LIVE_CALL_STATES,
    NO_ANSWER_SDP,
    NOT_STARTED,
    PERMISSION_REQUIRED,
    RATE_LIMITED,
    Call,
    CallInProgress,
    CallState,
    DeliveryKind,
    EndReason,
    EventResult,
    Outcome,
    Request,
    RequestState,
    TenantId,
    number_scoped,
)
from bot.i18n import Translator
from bot.phones import customer_key, display_phone, log_phone
from bot.pilot_status.client import CallDetails, PilotStatusClient
from bot.pilot_status.errors import (
    BadRequestError,
    PilotStatusError,
    RateLimitError,
    UnconfirmedError,
    UnexpectedResponseError,
)
from bot.pilot_status.webhooks import OPAQUE_PREFIX, CallEvent
from bot.services.deps import Service, ServiceDeps
from bot.slack import messages
from bot.store import CallSession, Effects, IncomingEvent, NewDelivery, StoreError

log = logging.getLogger(__name__)

LINK_LIFETIME = 600.0  # a link from "Call now" works once, within 10 minutes
SESSION_LIFETIME = 4 * 3600.0  # the call page it opens, for a working session
# A webhook may overtake the answer to POST /v1/calls: how long its call is looked for in the background.
CORRELATE_WAIT = 3.0
RECONCILE_INTERVAL = 0.1
MAX_UNMATCHED = 1000  # webhooks waiting for their call at once; past it, the sweep settles AskCall's own calls
# The pages' event streams re-read their calls this often (another replica may have taken their webhooks).
POLL_INTERVAL = 1.0
# A connected call's answer SDP is read from Pilot Status once per call, retried after these delays (seconds);
# none by ANSWER_WAIT after the page first needed it: the call has no audio for the browser, and is ended.
ANSWER_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0)
ANSWER_WAIT = 15.0
# A start whose answer was lost is looked for in Pilot Status's list of calls after these delays (seconds),
# then by the sweep, which gives up FIND_FOR seconds after the start's grace: not listed by then, it never rang.
FIND_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0)
FIND_FOR = 60.0
LIST_LIMIT = 50  # how many of the number's newest calls are searched
# A webhook for an unknown call is matched to a lost start to the same customer this recent.
ADOPT_WINDOW = 300.0
# A live call unchanged this long is asked about (its webhooks may be lost), then again at most this often.
QUIET = 60.0
SWEEP_INTERVAL = 15.0


def digest(secret: str) -> str:
    """What the store keeps of a link token or a session cookie."""
    return hashlib.sha256(secret.encode()).hexdigest()


class LinkProblem(StrEnum):
    NO_PUBLIC_URL = "no_public_url"  # ASKCALL_PUBLIC_URL is not set
    NOT_CALLABLE = "not_callable"  # no usable grant (expired, declined, unknown request)


@dataclass(frozen=True)
class IssuedLink:
    url: str
    request: Request


class CallStartError(Exception):
    """The call could not be started; `code` is what the page shows (Pilot Status's code when it sent one)."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


CALL_IN_PROGRESS = "CALL_IN_PROGRESS"
# The request's workspace uninstalled AskCall or was disabled: no call is started on its behalf.
WORKSPACE_STOPPED = "WORKSPACE_STOPPED"


class CallBusyError(CallStartError):
    """The customer is already on a call (a teammate's, or another page's): who made it and since when."""

    def __init__(self, call: Call) -> None:
        super().__init__(409, CALL_IN_PROGRESS)
        self.user_id = call.user_id
        self.since = _iso(call.started_at)  # ISO-8601 UTC: the page shows it in the rep's own time


@dataclass(frozen=True)
class Started:
    """What a start gave the page: its call, and whether that call was already there (the same page asked again)."""

    call: Call
    repeated: bool = False


@dataclass
class _Watch:
    """A call followed by this process's page streams: its latest row and answer SDP, shared by all of them."""

    call: Call
    streams: int = 0
    answer: str | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()


@dataclass(frozen=True)
class _Unmatched:
    """A call webhook whose call AskCall does not know yet: its start may still be on its way."""

    event: CallEvent
    until: float  # loop time


class CallService(Service):
    def __init__(
        self,
        deps: ServiceDeps,
        *,
        public_url: str | None,
        phone_display: str = "masked",
        start_grace: float = 75.0,
    ) -> None:
        super().__init__(deps)
        self._finders: set[asyncio.Task[None]] = set()
        self._watches: dict[int, _Watch] = {}  # call id -> what this process's streams know of it
        self._watcher: asyncio.Task[None] | None = None
        self._answering: dict[int, asyncio.Task[None]] = {}  # call id -> its one read of the answer SDP
        # (tenant, Pilot Status call id) -> its webhook, until matched (only ever against the tenant's own calls)
        self._unmatched: dict[tuple[TenantId, str], _Unmatched] = {}
        self._reconciler: asyncio.Task[None] | None = None
        # How long a start may still be waiting for Pilot Status's answer (the client's timeout and
        # retries): only older starts without an answer are looked for by the sweep.
        self._start_grace = start_grace
        self._public_url = public_url.rstrip("/") if public_url else None
        self._phone_display = phone_display
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ the link and the session
    async def issue_link(self, request: Request, user_id: str) -> IssuedLink | LinkProblem:
        now = self._clock()
        if not request.grant_is_usable(now):
            return LinkProblem.NOT_CALLABLE
        if not self._public_url:
            return LinkProblem.NO_PUBLIC_URL
        token = secrets.token_urlsafe(32)
        await self._store.create_call_link(request.tenant, digest(token), request.id, user_id, now, now + LINK_LIFETIME)
        return IssuedLink(f"{self._public_url}/call/{token}", request)

    async def redeem(self, token: str) -> tuple[str, CallSession] | None:
        """The session cookie's value and its session, or None for a used, expired or unknown link."""
        cookie = secrets.token_urlsafe(32)
        now = self._clock()
        session = await self._store.redeem_call_link(digest(token), digest(cookie), now, now + SESSION_LIFETIME)
        return (cookie, session) if session is not None else None

    async def session(self, cookie: str | None) -> CallSession | None:
        if not cookie:
            return None
        return await self._store.call_session(digest(cookie), self._clock())

    async def page_config(self, session: CallSession) -> dict[str, Any]:
        """What the page shows: the customer (masked unless ASKCALL_PHONE_DISPLAY=full), who asked, why, until when."""
        request = await self._request(session)
        until = request.expires_at if request.outcome is Outcome.TEMPORARY else None
        return {
            "lang": request.lang,
            "customer": display_phone(request.phone_e164, self._phone_display == "full"),
            "askedById": request.user_id,  # the page shows the name Slack shows for them
            "reason": request.reason,
            "validUntil": _iso(until) if until else None,
            "iceServers": [],
        }

    async def _request(self, session: CallSession) -> Request:
        request = await self._store.get_request(session.tenant, session.request_id)
        if request is None:  # a session is never made for a request that does not exist
            raise LookupError(session.request_id)
        return request

    # ------------------------------------------------------------------ the call
    async def start(self, session: CallSession, sdp: str) -> Started:
        """Ring the customer with the page's offer. The call returned has no Pilot Status id when the start's
        answer was lost (it may or may not ring): AskCall then looks for it (`_find_lost_start`), never resends.
        Raises CallBusyError, before Pilot Status is asked, when the customer is on another call; the same page
        session asking again gets its own live call back."""
        request = await self._request(session)
        if await self._stopped(request.tenant):
            raise CallStartError(403, WORKSPACE_STOPPED)
        now = self._clock()
        if not request.grant_is_usable(now):
            raise CallStartError(409, PERMISSION_REQUIRED)
        try:
            call = await self._store.create_call(request.tenant, request.id, session.user_id, now, session.id or None)
        except CallInProgress as busy:
            if session.id and busy.call.session_id == session.id:
                log.info("call %d: its page asked to start it again; the same call", busy.call.id)
                return Started(busy.call, repeated=True)
            log.info("a start to %s refused: call %d is live", log_phone(request.phone_e164), busy.call.id)
            raise CallBusyError(busy.call) from None
        try:
            started = await (await self._pilot(request)).start_call(request.phone_e164, sdp, opaque=_opaque(call))
        except (UnconfirmedError, UnexpectedResponseError) as error:
            log.warning(
                "call %d to %s: Pilot Status may have started it (%s); looking for it, never resending",
                call.id,
                log_phone(request.phone_e164),
                error.label,
            )
            self._look_in_background(self._find_lost_start(call.tenant, call.id), f"call-{call.id}-find")
            return Started(call)
        except PilotStatusError as error:
            code = error.code or type(error).__name__
            log.warning("call %d to %s did not start: %s", call.id, log_phone(request.phone_e164), error.label)
            told = self._failure_told(call, request, RATE_LIMITED if isinstance(error, RateLimitError) else code)
            await self._store.advance_call(
                call.tenant, call.id, [CallState.STARTED], {"state": CallState.FAILED, "end_reason": code[:100]}, told
            )
            if code == PERMISSION_REQUIRED:
                await self._permission_gone(request, call)
            self._wake_notifier()
            raise CallStartError(error.status if error.status and error.status < 500 else 502, code) from error
        assigned = await self._assign(call, request, started.id, started.external_id)
        log.info("call %d to %s started (%s)", call.id, log_phone(request.phone_e164), started.id)
        if assigned is None:  # a webhook matched it first (the id is the same): the call as it is now
            return Started(await self._store.get_call(call.tenant, call.id) or call)
        if not await self._takes_browser_audio(assigned, request):
            raise CallStartError(502, NO_ANSWER_SDP)
        return Started(assigned)

    async def _takes_browser_audio(self, call: Call, request: Request) -> bool:
        """Whether the browser can hear this call. A web (EVO_GO) number takes no SDP (its media stays on Pilot
        Status's side): what it does with one is not documented, and if it starts the call anyway, the call would
        ring with no audio for the page, so it is ended at once with a clear message. Two documented facts must
        agree: Pilot Status keeps no offer for the call (`sdpOffer` null, as on web numbers), and the number is not a
        Meta one (its calling settings, Meta-only, are refused). Anything else, or unknown: True, and a connected
        call whose answer SDP never comes is ended then (`_read_answer`)."""
        if not call.pilot_call_id:
            return True
        client = await self._pilot(request)
        try:
            details = await client.get_call(call.pilot_call_id, include_sdp=True)
            if details.sdp_offer is not None or not details.sdp_known or await client.is_meta_number():
                return True
        except PilotStatusError as error:
            log.info("call %d: could not check that Pilot Status took the offer (%s)", call.id, error.label)
            return True
        log.warning("call %d: a web number started it without the offer; no audio for the browser: ended", call.id)
        await self._no_browser_audio(call, request)
        return False

    async def _no_browser_audio(self, call: Call, request: Request) -> None:
        """End a call the browser can't hear: failed with NO_ANSWER_SDP (the page and the thread say why), then
        hung up at Pilot Status so the customer is not left ringing, or talking to nobody."""
        line, told = await self._outcome(call, NO_ANSWER_SDP, None)  # the call's thread line, updated in place
        failed = {"state": CallState.FAILED, "end_reason": NO_ANSWER_SDP, "ended_at": self._clock()}
        if (
            await self._store.advance_call(call.tenant, call.id, LIVE_CALL_STATES, failed, told, last_call=line)
            is not None
        ):
            self._wake_notifier()
            self._notify()
        if call.pilot_call_id:
            await self._terminate(request, call.pilot_call_id)

    @staticmethod
    def _failure_told(call: Call, request: Request, reason: str) -> list[NewDelivery]:
        """The thread's line for a call that did not start, saying what to do next (its one message)."""
        if not request.reply_thread:
            return []
        text = messages.call_line(Translator(request.lang), call.user_id, CallState.FAILED, reason, None)
        return [NewDelivery(_post_key(call), DeliveryKind.REPLY, messages.thread_reply(request, text))]

    async def _permission_gone(self, request: Request, call: Call) -> None:
        """Meta says the customer doesn't allow calls (138006): the grant is over whatever AskCall knew, so the
        request expires and its status message offers "Ask again" instead of "Call now"."""
        expired = replace(request, state=RequestState.EXPIRED)
        update = [NewDelivery(f"{call.delivery_key}:expired", DeliveryKind.UPDATE, messages.parent_update(expired))]
        effects = Effects(deliveries=update if request.parent_ts else ())
        if await self._store.transition(
            request.tenant, request.id, [RequestState.ANSWERED], RequestState.EXPIRED, effects
        ):
            log.info("request %d: Meta says the customer's permission is gone; expired", request.id)

    async def _assign(
        self, call: Call, request: Request, pilot_call_id: str, external_call_id: str | None = None
    ) -> Call | None:
        """Give a started call its Pilot Status id and post its line in the thread (once: the first to assign)."""
        deliveries = []
        if request.reply_thread:
            text = messages.call_line(Translator(request.lang), call.user_id, CallState.STARTED, None, None)
            deliveries.append(NewDelivery(_post_key(call), DeliveryKind.REPLY, messages.thread_reply(request, text)))
        ids = {"pilot_call_id": pilot_call_id} | ({"external_call_id": external_call_id} if external_call_id else {})
        assigned = await self._store.advance_call(
            call.tenant, call.id, [CallState.STARTED], ids, deliveries, unassigned=True
        )
        if assigned is not None:
            self._wake_notifier()
            self._notify()
        return assigned

    async def hang_up(self, session: CallSession) -> bool:
        """Terminate the session's own live call (never a teammate's); False when there is none. A call whose
        start is not confirmed yet is marked cancelled: if it turns out to ring, it is terminated when found."""
        call = await self._session_call(session)
        if call is None or not call.is_live:
            return False
        if not call.pilot_call_id:
            cancelled = {"state": CallState.FAILED, "end_reason": CANCELLED}
            if (
                await self._store.advance_call(call.tenant, call.id, [CallState.STARTED], cancelled, unassigned=True)
                is not None
            ):
                self._notify()
                return True
            call = await self._store.get_call(call.tenant, call.id) or call  # found meanwhile: terminate it below
            if not call.pilot_call_id:
                return False
        request = await self._request(session)
        await self._terminate(request, call.pilot_call_id)
        return True

    async def _session_call(self, session: CallSession) -> Call | None:
        """The page session's own newest call. A call made before calls carried their session (an upgrade in the
        middle of a call) is still its rep's, on the page of the same request."""
        own = await self._store.session_call(session.tenant, session.id) if session.id else None
        if own is not None:
            return own
        call = await self._store.last_call(session.tenant, session.request_id)
        legacy = call is not None and call.session_id is None and call.user_id == session.user_id
        return call if legacy else None

    async def _terminate(self, request: Request, pilot_call_id: str) -> None:
        """Hang up at Pilot Status. Never raises: a call already over has nothing to stop, and a failure leaves the
        call to its webhooks and the sweep (the page is told it ended either way)."""
        try:
            await (await self._pilot(request)).terminate_call(pilot_call_id)
        except BadRequestError as error:  # already over (e.g. the customer hung up first): nothing to stop
            log.info("terminating call %s: %s", pilot_call_id, error.label)
        except PilotStatusError as error:
            log.warning(
                "terminating call %s failed (%s); its webhooks or the sweep will tell", pilot_call_id, error.label
            )

    async def _pilot(self, request: Request) -> PilotStatusClient:
        return await self._pilots.get(request.tenant, request.number_name or DEFAULT_NUMBER)

    # ------------------------------------------------------------------ starts whose answer was lost
    async def _find_lost_start(self, tenant: TenantId, call_id: int) -> None:
        """Right after a start whose answer was lost: look for the call a few times, then leave it to the sweep.
        Not tracked as work in flight: cancelled at shutdown, the sweep (here or on another replica) takes over."""
        try:
            for delay in FIND_DELAYS:
                await asyncio.sleep(delay)
                call = await self._store.get_call(tenant, call_id)
                if call is None or call.pilot_call_id or not (call.is_live or call.end_reason == CANCELLED):
                    return  # found (by a webhook, the sweep or another replica) or settled
                with contextlib.suppress(PilotStatusError):
                    if await self._look_for(call, give_up=False):
                        return
        except StoreError as error:
            log.warning("looking for call %d stopped (%s); the sweep takes over", call_id, error)

    def _look_in_background(self, looking: Coroutine[Any, Any, None], name: str) -> None:
        """Looking for a lost start is not work in flight: nothing waits on it, shutdown cancels it."""
        finder = asyncio.create_task(looking, name=name)
        self._finders.add(finder)
        finder.add_done_callback(self._finders.discard)

    async def close(self) -> None:
        """Stop looking for lost starts, matching webhooks and following calls now (the sweep takes over); the
        pages' streams end."""
        tasks = [*self._finders, *self._answering.values(), self._watcher, self._reconciler]
        running = [task for task in tasks if task is not None]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for watch in self._watches.values():
            watch.wake()

    async def _look_for(self, call: Call, *, give_up: bool) -> bool:
        """Find a call whose start's answer was lost in Pilot Status's list of the number's calls; True when
        settled (found, or with `give_up` recorded as never started). Raises PilotStatusError."""
        request = await self._store.get_request(call.tenant, call.request_id)
        if request is None:
            return False
        client = await self._pilot(request)
        digits = request.phone_e164.lstrip("+")
        for listed in await client.list_calls(LIST_LIMIT):
            if (
                listed.direction in ("OUTBOUND", "")
                and listed.peer_digits == digits
                and (listed.created_at is None or listed.created_at >= call.started_at - CLOCK_SKEW)
                and await self._store.call_by_pilot_id(call.tenant, listed.id) is None
            ):
                details = await client.get_call(listed.id)
                if details.opaque not in (None, _opaque(call)):
                    continue  # another AskCall call (or another tool's) to the same customer
                await self._adopt(call, request, details)
                return True
        if not give_up:
            return False
        log.warning(
            "call %d to %s: not in Pilot Status's calls; it never started", call.id, log_phone(request.phone_e164)
        )
        gone = {"state": CallState.FAILED, "end_reason": NOT_STARTED}
        told = self._failure_told(call, request, NOT_STARTED)
        if (
            await self._store.advance_call(call.tenant, call.id, [CallState.STARTED], gone, told, unassigned=True)
            is not None
        ):
            self._wake_notifier()
            self._notify()
        return True

    async def _adopt(self, call: Call, request: Request, details: CallDetails) -> None:
        """The lost start was found: give it its id; a page that gave up on it meanwhile gets it terminated."""
        log.info("call %d to %s found at Pilot Status (%s)", call.id, log_phone(request.phone_e164), details.id)
        if call.state is CallState.FAILED:  # cancelled by its page: ring no more
            assigned = await self._store.advance_call(
                call.tenant, call.id, [CallState.FAILED], {"pilot_call_id": details.id}, unassigned=True
            )
            if assigned is not None:
                await self._terminate(request, details.id)
            return
        assigned = await self._assign(call, request, details.id, details.external_id)
        if assigned is not None:
            await self._settle(assigned, details.status, details.duration)

    # ------------------------------------------------------------------ the sweep
    async def sweep(self) -> None:
        """Once: settle calls that need a look at Pilot Status (one replica at a time). A start whose answer
        was lost is looked for; a live call whose webhooks stopped coming is asked about."""
        now = self._clock()
        async with self._store.exclusive("calls") as mine:
            if not mine:
                return
            for call in await self._store.unsettled_calls(now - self._start_grace, now - QUIET):
                try:
                    if call.pilot_call_id:
                        await self._ask_about(call)
                    else:
                        await self._look_for(call, give_up=now - call.started_at > self._start_grace + FIND_FOR)
                except PilotStatusError as error:
                    log.info("call %d: Pilot Status did not say (%s); next sweep", call.id, error.label)
                except StoreError:
                    raise  # the database is down: this round is over
                except Exception as error:  # one call's problem (e.g. its number left the settings) stops no other
                    log.warning("call %d: could not settle it (%s: %s)", call.id, type(error).__name__, error)

    async def run_sweeps(self, interval: float = SWEEP_INTERVAL) -> None:
        """`sweep` every `interval` seconds, until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception as error:  # a failed round must not end the sweeps; the next one retries
                log.warning("calls sweep failed (%s); next in %.0f s", type(error).__name__, interval)

    async def _ask_about(self, call: Call) -> None:
        request = await self._store.get_request(call.tenant, call.request_id)
        if request is None or not call.pilot_call_id:
            return
        try:
            details = await (await self._pilot(request)).get_call(call.pilot_call_id)
        except BadRequestError as error:
            if error.status != 404:
                raise
            log.warning("call %d: Pilot Status no longer knows it; ended", call.id)
            await self._settle(call, "FAILED", None)
            return
        if not await self._settle(call, details.status, details.duration):
            await self._store.advance_call(
                call.tenant, call.id, [call.state], {"state": call.state}
            )  # not again before QUIET

    # ------------------------------------------------------------------ webhooks
    async def on_event(self, tenant: TenantId, event: CallEvent, body: bytes, number_name: str) -> bool:
        """Apply a signed call.* event to its call, then store it once; True when new. Never waits: a call
        AskCall does not know may be a start still on its way (its answer not back yet, maybe on another
        replica) or one whose answer was lost: it is matched in the background (`_reconcile`). A call that is
        clearly not AskCall's (inbound, or marked by another tool) is only stored."""
        call = None if await self._stopped(tenant) else await self._call_of(tenant, event, number_name)
        if call is not None:  # a stopped workspace's event is only stored
            await self._apply(call, event)
        incoming = IncomingEvent(
            tenant,
            dedup_key=number_scoped(f"call:{event.dedup_key}", number_name),
            event=event.event,
            status=event.status or None,
            from_phone=event.from_phone,
            to_phone=event.to_phone,
            event_ts=event.timestamp,
            body=body.decode("utf-8", errors="replace"),
            number_name=number_name,
        )
        recorded = await self._store.record_webhook_event(
            incoming,
            result=EventResult.CALL,
            request_id=call.request_id if call is not None else None,  # retention erases it with its request
        )
        if call is None and recorded.is_new:
            if event.clearly_not_askcalls or not event.call_id:
                log.info("a %s webhook for a call AskCall did not start; stored only", event.event)
            else:
                self._match_later(tenant, event)
        return recorded.is_new

    async def from_hint(self, tenant: TenantId, pilot_call_id: str) -> bool:
        """Hint mode (a number whose webhook secret isn't set yet): an unsigned call.* event only names a call.
        The tenant's call of that id, if any, is settled from what Pilot Status says of it (`GET /v1/calls/{id}`),
        never from the body. False when the tenant has no such call (nothing done). Raises PilotStatusError when
        Pilot Status can't be asked (the webhook is then answered 503, and resent)."""
        if not pilot_call_id or len(pilot_call_id) > 200:
            return False
        call = await self._store.call_by_pilot_id(tenant, pilot_call_id)
        if call is None:
            return False
        await self._ask_about(call)
        self._notify()
        return True

    async def _call_of(self, tenant: TenantId, event: CallEvent, number_name: str) -> Call | None:
        """The event's call: by Pilot Status's id, else the provider's; an event with neither (the SDK allows a
        null callId) is the customer's one live AskCall call, if any (there is at most one)."""
        if event.call_id:
            return await self._store.call_by_pilot_id(tenant, event.call_id)
        if event.external_call_id:
            return await self._store.call_by_external_id(tenant, event.external_call_id)
        key = customer_key(event.customer or "")
        if not key or event.clearly_not_askcalls:
            return None
        return await self._store.live_call_to(tenant, number_name, key)

    def _match_later(self, tenant: TenantId, event: CallEvent) -> None:
        """Keep the webhook until its call is known (CORRELATE_WAIT at most), then check it against a start to the
        same customer whose answer was lost. Memory is bounded: past MAX_UNMATCHED, the sweep settles AskCall's own
        calls."""
        assert event.call_id is not None
        if len(self._unmatched) >= MAX_UNMATCHED and (tenant, event.call_id) not in self._unmatched:
            log.warning("too many call webhooks waiting for their calls; this one is left to the sweep")
            return
        loop = asyncio.get_running_loop()
        self._unmatched[tenant, event.call_id] = _Unmatched(event, loop.time() + CORRELATE_WAIT)
        if self._reconciler is None or self._reconciler.done():
            self._reconciler = asyncio.create_task(self._reconcile(), name="calls-reconcile")

    async def _reconcile(self) -> None:
        """While webhooks wait for their calls: look them all up in one query, apply those found, drop those
        waited for long enough. Woken at once when this process gives a call its id."""
        loop = asyncio.get_running_loop()
        while self._unmatched:
            changed = self._changed
            try:
                found = [
                    ((tenant, pilot_call_id), call)
                    for tenant in {tenant for tenant, _ in self._unmatched}
                    for pilot_call_id, call in (
                        await self._store.calls_by_pilot_ids(tenant, [k for t, k in self._unmatched if t == tenant])
                    ).items()
                ]
            except StoreError as error:
                log.warning("matching call webhooks stopped (%s); the sweep takes over", error)
                self._unmatched.clear()
                return
            for key, call in found:
                waiting = self._unmatched.pop(key, None)
                if waiting is None:
                    continue
                try:
                    await self._apply(call, waiting.event)
                except Exception as error:  # one event's problem stops no other; the sweep settles the call
                    log.warning("call %d: a webhook matched late could not be applied (%s)", call.id, error)
            now = loop.time()
            for tenant, pilot_call_id in [k for k, v in self._unmatched.items() if v.until <= now]:
                waited = self._unmatched.pop((tenant, pilot_call_id))
                self._look_in_background(self._check_lost_start(tenant, waited.event), f"call-{pilot_call_id}-lost")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), RECONCILE_INTERVAL)

    async def _check_lost_start(self, tenant: TenantId, event: CallEvent) -> None:
        """Whether AskCall has a start whose answer was lost to this webhook's customer; if so the webhook's
        call is checked against it (its marker, at Pilot Status)."""
        key = customer_key(event.customer or "")
        try:
            lost = await self._store.unconfirmed_call_to(tenant, key, self._clock() - ADOPT_WINDOW) if key else None
        except StoreError as error:
            log.info("could not look for a lost start (%s); the sweep will", error)
            return
        if lost is None or not event.call_id:
            log.info("a %s webhook for a call AskCall did not start; stored only", event.event)
            return
        await self._adopt_if_ours(lost, event.call_id)

    async def _adopt_if_ours(self, lost: Call, pilot_call_id: str) -> None:
        """The call is the lost start if it carries the marker AskCall sent (another tool's call to the same
        customer doesn't); adopted with its state now. Whatever fails here, the list of calls will tell."""
        try:
            request = await self._store.get_request(lost.tenant, lost.request_id)
            if request is None:
                return
            details = await (await self._pilot(request)).get_call(pilot_call_id)
            if details.opaque in (None, _opaque(lost)):
                await self._adopt(lost, request, details)
        except (PilotStatusError, StoreError) as error:
            log.info(
                "could not check call %s against call %d (%s); the list of calls will tell",
                pilot_call_id,
                lost.id,
                error,
            )

    async def _apply(self, call: Call, event: CallEvent) -> None:
        if event.event == "call.ringing":
            await self._settle(call, "RINGING", None)
        elif event.event == "call.connected":
            await self._settle(call, "ACCEPTED", None)
        else:
            await self._ended(call, EndReason.of_event(event.event, event.status), event.duration)

    async def _settle(self, call: Call, status: str, duration: int | None) -> bool:
        """Move the call to what Pilot Status says of it (a webhook, or GET /v1/calls/{id}); True when it moved."""
        meaning = CallState.of_status(status)
        if meaning is None:
            return False
        state, reason = meaning
        if state is CallState.RINGING:
            moved = await self._store.advance_call(
                call.tenant, call.id, [CallState.STARTED], {"state": CallState.RINGING}
            )
        elif state is CallState.CONNECTED:
            moved = await self._store.advance_call(
                call.tenant,
                call.id,
                [CallState.STARTED, CallState.RINGING],
                {"state": CallState.CONNECTED, "connected_at": self._clock()},
            )
        elif state is CallState.ENDED and reason is not None:
            return await self._ended(call, reason, duration)
        else:
            return False
        if moved is not None:
            self._notify()
        return moved is not None

    async def _ended(self, call: Call, reason: EndReason, duration: int | None) -> bool:
        fields: dict[str, Any] = {"state": CallState.ENDED, "ended_at": self._clock(), "end_reason": reason}
        if duration is not None:
            fields["duration"] = duration
        line, deliveries = await self._outcome(call, reason, duration)
        moved = await self._store.advance_call(
            call.tenant, call.id, LIVE_CALL_STATES, fields, deliveries, last_call=line
        )
        if moved is not None:
            self._wake_notifier()
            self._notify()
        return moved is not None

    async def _outcome(self, call: Call, reason: str, duration: int | None) -> tuple[str | None, list[NewDelivery]]:
        """The call's final line (kept on the request for its status message) and the thread's updates."""
        request = await self._store.get_request(call.tenant, call.request_id)
        if request is None:
            return None, []
        line = messages.call_line(Translator(request.lang), call.user_id, CallState.ENDED, reason, duration)
        if not request.reply_thread:
            return line, []
        update = {"channel": request.channel_id, "ts_of": _post_key(call), "text": line}
        deliveries = [NewDelivery(f"{call.delivery_key}:ended", DeliveryKind.UPDATE, update)]
        if request.parent_ts:
            parent = messages.parent_update(request, last_call=line)
            deliveries.append(NewDelivery(f"{call.delivery_key}:parent", DeliveryKind.UPDATE, parent))
        return line, deliveries

    # ------------------------------------------------------------------ the page's event stream
    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def page_updates(self, session: CallSession) -> AsyncIterator[dict[str, Any]]:
        """The session's own call as the page needs it, each time it changes (the current state first); ends
        after the final state. Every stream of a call in this process shares one `_Watch`: re-read with all the
        others in one query each POLL_INTERVAL (another replica may have taken its webhooks), woken at once by
        this process's own changes, and with one read of the answer SDP at Pilot Status."""
        call = await self._session_call(session)
        while call is None:  # the stream opened before its offer was stored: wait for the session's call
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), POLL_INTERVAL)
            call = await self._session_call(session)
        watch = self._watch(call)
        try:
            sent: dict[str, Any] | None = None
            while True:
                changed = watch.changed
                update = self._page_update(watch, session)
                # Read with the update, not after the yield: the call may end while its stream writes (the
                # followed row is replaced meanwhile), and that end must still be sent before the stream ends.
                final = watch.call.state.is_final
                if update is not None and update != sent:
                    sent = update
                    # `now`: the page times the call on this clock (from connectedAt), not on its computer's.
                    yield {**update, "now": self._clock()}
                if update is not None and final:
                    return
                await changed.wait()
        finally:
            self._unwatch(watch)

    def _watch(self, call: Call) -> _Watch:
        watch = self._watches.get(call.id)
        if watch is None:
            watch = self._watches[call.id] = _Watch(call)
        watch.streams += 1
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._follow(), name="calls-follow")
        return watch

    def _unwatch(self, watch: _Watch) -> None:
        watch.streams -= 1
        if watch.streams <= 0 and self._watches.get(watch.call.id) is watch:
            del self._watches[watch.call.id]
            reading = self._answering.pop(watch.call.id, None)
            if reading is not None:
                reading.cancel()

    async def _follow(self) -> None:
        """While streams are open: re-read every followed call in one query, each POLL_INTERVAL or as soon as this
        process changed a call, and wake the streams of those that changed."""
        while self._watches:
            changed = self._changed
            try:
                fresh = await self._store.calls_by_ids(list(self._watches))
            except StoreError as error:
                log.info("could not re-read the followed calls (%s); next in %.0f s", error, POLL_INTERVAL)
                fresh = {}
            for call_id, call in fresh.items():
                watch = self._watches.get(call_id)
                if watch is not None and call != watch.call:
                    watch.call = call
                    watch.wake()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), POLL_INTERVAL)

    def _page_update(self, watch: _Watch, session: CallSession) -> dict[str, Any] | None:
        call = watch.call
        if call.state is CallState.RINGING:
            return {"state": call.state}
        if call.state is CallState.CONNECTED:
            if watch.answer:
                return {"state": call.state, "sdpAnswer": watch.answer, "connectedAt": call.connected_at}
            if call.id not in self._answering and call.pilot_call_id:
                reading = asyncio.create_task(self._read_answer(watch, session), name=f"call-{call.id}-answer")
                self._answering[call.id] = reading
            return None
        if call.state.is_final:
            # The talk time the thread tells (messages.call_line), so the page ends on the same number.
            return {"state": call.state, "reason": call.end_reason or EndReason.FAILED, "seconds": call.duration}
        return None

    async def _read_answer(self, watch: _Watch, session: CallSession) -> None:
        """Read the connected call's answer SDP once for all its streams, retrying with backoff (ANSWER_DELAYS)
        on the same key as permission requests, so never more than that. None by ANSWER_WAIT: the call has no
        audio for the browser (e.g. a web number that took the start anyway), and is ended with that reason."""
        try:
            await self._read_answer_until(watch, session)
        except StoreError as error:  # the page's stream goes on; a new stream reads it again
            log.warning("could not read call %d's answer (%s)", watch.call.id, error)
            self._answering.pop(watch.call.id, None)

    async def _read_answer_until(self, watch: _Watch, session: CallSession) -> None:
        call = watch.call
        assert call.pilot_call_id is not None
        request = await self._request(session)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ANSWER_WAIT
        for attempt in itertools.count():
            try:
                details = await (await self._pilot(request)).get_call(call.pilot_call_id, include_sdp=True)
            except PilotStatusError as error:
                log.warning("could not read call %d's answer: %s", call.id, error.label)
            else:
                if details.sdp_answer:
                    watch.answer = details.sdp_answer
                    watch.wake()
                    return
            if watch.call.state is not CallState.CONNECTED:
                return
            if loop.time() >= deadline:
                log.warning("call %d: connected, but Pilot Status gives no answer SDP; ending it", call.id)
                await self._no_browser_audio(watch.call, request)
                return
            await asyncio.sleep(ANSWER_DELAYS[min(attempt, len(ANSWER_DELAYS) - 1)])


def _opaque(call: Call) -> str:
    """What AskCall sends as bizOpaqueCallbackData: Pilot Status keeps it on the call, so it can be found as ours."""
    return f"{OPAQUE_PREFIX}{call.delivery_key}"


def _post_key(call: Call) -> str:
    return f"{call.delivery_key}:post"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
