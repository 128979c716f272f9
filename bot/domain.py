"""The domain: a call-permission request, its states and outcomes, and the rules they follow.

Everything else (views, services, both store backends) asks these types instead of comparing
string literals, so a state or an outcome means the same thing everywhere. The enums are
`StrEnum`s: each member *is* its stored string, so rows round-trip through any database unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum, StrEnum
from typing import NewType

from bot.phones import display_phone

DEFAULT_NUMBER = "default"

# A workspace's key on every row that belongs to it: the enterprise id for an org-wide install (one
# installation serves every team of the organisation), the team id otherwise. Slack's ids carry their kind
# as the first letter (T…, E…), so the two never collide.
TenantId = NewType("TenantId", str)


def tenant_key(*, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool = False) -> TenantId:
    """The tenant a Slack request, an installation or a token belongs to (as Bolt models installs)."""
    if is_enterprise_install:
        if not enterprise_id:
            raise ValueError("an org-wide install has an enterprise id")
        return TenantId(enterprise_id)
    if not team_id:
        raise ValueError("a workspace install has a team id")
    return TenantId(team_id)


def number_scoped(dedup_key: str, number_name: str) -> str:
    """A webhook's dedup key as stored: two numbers may hear the same customer at the same instant, so their
    events are kept apart (the default number's keys stay as they are)."""
    return dedup_key if number_name == DEFAULT_NUMBER else f"{number_name}:{dedup_key}"


# Meta expires an unanswered request 7 days after delivery, and an answer can change until then.
REQUEST_LIFETIME = 7 * 24 * 3600
# Tolerance for clock differences between Pilot Status and this machine.
CLOCK_SKEW = 5 * 60
# Meta: a temporary permission lasts 7 days from the approval.
TEMPORARY_GRANT = 7 * 24 * 3600


class RequestState(StrEnum):
    """Where a request is, in the order a request normally goes through them."""

    NEW = "new"  # stored; the parent message is not posted yet
    READY = "ready"  # parent posted; Pilot Status not called yet
    SENDING = "sending"  # Pilot Status call in progress (a crash here leaves the outcome unknown)
    WAITING = "waiting"  # Pilot Status accepted; waiting for the customer
    UNCONFIRMED = "unconfirmed"  # Pilot Status may or may not have accepted; never resent
    FAILED = "failed"  # Pilot Status refused or stayed unavailable
    ANSWERED = "answered"  # the customer answered (the outcome holds the answer)
    UNDELIVERABLE = "undeliverable"  # AskCall could not post in the channel; nothing was sent
    EXPIRED = "expired"  # a temporary grant ran out (no webhook says so; a reminder found it)

    @property
    def is_open(self) -> bool:
        """Still waiting for the customer (or about to ask): a second request would be wasted."""
        return self in OPEN_STATES

    @property
    def reached_customer(self) -> bool:
        """A customer's answer may belong to a request in this state."""
        return self in CORRELATABLE_STATES

    @property
    def failed(self) -> bool:
        return self in (RequestState.FAILED, RequestState.UNDELIVERABLE)


OPEN_STATES = (
    RequestState.NEW,
    RequestState.READY,
    RequestState.SENDING,
    RequestState.WAITING,
    RequestState.UNCONFIRMED,
)
CORRELATABLE_STATES = (
    RequestState.SENDING,
    RequestState.WAITING,
    RequestState.UNCONFIRMED,
    RequestState.ANSWERED,
)
# Not yet at Pilot Status: retention never erases these.
UNSENT_STATES = (RequestState.NEW, RequestState.READY, RequestState.SENDING)


class Outcome(StrEnum):
    """The customer's answer, as `call.permission_updated` spells it."""

    TEMPORARY = "TEMPORARY"  # granted for 7 days
    PERMANENT = "PERMANENT"
    NO_PERMISSION = "NO_PERMISSION"  # declined

    @classmethod
    def parse(cls, value: str | None) -> Outcome | None:
        """The outcome a status names, or None for a value AskCall doesn't know."""
        try:
            return cls(value) if value is not None else None
        except ValueError:
            return None


class Standing(Enum):
    """What a rep can do next with a request: App Home groups requests by it."""

    READY_TO_CALL = "ready"
    WAITING = "waiting"
    CLOSED = "closed"


class DeliveryState(StrEnum):
    PENDING = "pending"
    INFLIGHT = "inflight"
    DONE = "done"
    DEAD = "dead"


FINISHED_DELIVERIES = (DeliveryState.DONE, DeliveryState.DEAD)


class DeliveryKind(StrEnum):
    """What a stored Slack delivery does: the Slack call it makes (bot.slack.gateway carries it out)."""

    PARENT = "parent"  # chat.postMessage in the channel; its ts becomes the request's thread
    REPLY = "reply"  # chat.postMessage with thread_ts
    UPDATE = "update"  # chat.update of the parent
    RESPOND = "respond"  # POST to the slash command's response_url (ephemeral to the rep)
    DIRECT = "direct"  # chat.postMessage to the rep's user id (app DM), when there is no response_url


class ReminderKind(StrEnum):
    WARNING = "expiry_warning"  # 24 h before a temporary grant expires
    EXPIRY = "expiry"  # at expiry: probe, then renewed / permanent / expired


class ReminderState(StrEnum):
    PENDING = "pending"
    FIRED = "fired"
    SKIPPED = "skipped"  # the grant it was set for changed meanwhile


class EventResult(StrEnum):
    """What processing a webhook event did."""

    MATCHED = "matched"  # set a request's answer
    CHANGED = "changed"  # changed a request's answer
    UNCHANGED = "unchanged"  # the same answer again
    STALE = "stale"  # older than the answer the request has
    UNMATCHED = "unmatched"  # no request can own it
    IGNORED = "ignored"  # signed, but nothing AskCall can use (an unknown event or status)
    CALL = "call"  # a call.* event of a browser call, applied to that call when it arrived

    @property
    def settles(self) -> bool:
        """The event set (or changed) its request's answer."""
        return self in (EventResult.MATCHED, EventResult.CHANGED)


SETTLING_RESULTS = (EventResult.MATCHED, EventResult.CHANGED)


class CallState(StrEnum):
    """A browser call, in the order it goes: started (offer on its way to Pilot Status) → ringing →
    connected → ended; or failed (Pilot Status refused to start it)."""

    STARTED = "started"
    RINGING = "ringing"
    CONNECTED = "connected"
    ENDED = "ended"
    FAILED = "failed"

    @property
    def is_live(self) -> bool:
        """The customer's phone may ring or be in the call: hanging up means something."""
        return self in LIVE_CALL_STATES

    @property
    def is_final(self) -> bool:
        return not self.is_live

    @classmethod
    def of_status(cls, status: str) -> tuple[CallState, EndReason | None] | None:
        """What a Pilot Status call `status` (GET /v1/calls/{id}) means here; None for one AskCall doesn't know."""
        status = status.upper()
        if status in ("INITIATED", "RINGING", "ACCEPTED"):
            return {"INITIATED": cls.STARTED, "RINGING": cls.RINGING, "ACCEPTED": cls.CONNECTED}[status], None
        if status in ("COMPLETED", "REJECTED", "MISSED", "FAILED"):
            return cls.ENDED, EndReason(status.lower())
        return None


LIVE_CALL_STATES = (CallState.STARTED, CallState.RINGING, CallState.CONNECTED)
# A call whose start AskCall could not confirm, and whose page hung up before it was found (`Call.end_reason`).
CANCELLED = "CANCELLED"
# The end_reason of a start Pilot Status may have accepted but that it never listed: it did not happen.
NOT_STARTED = "NOT_STARTED"
# The end_reason of a call Pilot Status took without the browser's offer (a web number keeps none), or that
# connected with no answer SDP: the browser could never hear it, so AskCall ended it.
NO_ANSWER_SDP = "NO_ANSWER_SDP"


class EndReason(StrEnum):
    """How an ended call ended. A failed call's `end_reason` is Pilot Status's error code instead."""

    COMPLETED = "completed"  # answered, then hung up by either side
    MISSED = "missed"  # rang out unanswered
    REJECTED = "rejected"  # the customer declined it
    FAILED = "failed"  # anything else (a status AskCall does not know)

    @classmethod
    def of_event(cls, event: str, status: str) -> EndReason:
        """The reason a `call.ended` / `call.missed` webhook gives."""
        if event == "call.missed":
            return cls.MISSED
        try:
            return cls(status.lower())
        except ValueError:
            return cls.FAILED


# A failed call's end_reason: Meta says the customer doesn't allow calls (138006), so the grant is over.
PERMISSION_REQUIRED = "META_CALL_PERMISSION_REQUIRED"
# A failed call's reason in the thread when Pilot Status rate-limited the start (whatever code it sent).
RATE_LIMITED = "RATE_LIMITED"


@dataclass(frozen=True)
class Call:
    """One browser call to a request's customer, made by `user_id` (the rep who called).

    `end_reason`: an `EndReason` once ended; Pilot Status's error code (or the error's name) once failed.
    `delivery_key`: the thread message that tells the call's story (posted once, then updated)."""

    id: int
    request_id: int
    user_id: str
    pilot_call_id: str | None
    state: CallState
    started_at: float
    connected_at: float | None
    ended_at: float | None
    duration: int | None
    end_reason: str | None
    delivery_key: str
    updated_at: float
    # The customer called (the request's number and `customer_key`): at most one live call each (the store's
    # unique index). Erased (None) with the customer's other data by retention.
    number_name: str = DEFAULT_NUMBER
    phone_key: str | None = None
    session_id: int | None = None  # the call page session that started it: the one that follows and hangs it up
    external_call_id: str | None = None  # the provider's id (Meta's wacid), which webhooks may carry instead
    tenant_id: str = ""  # the workspace the call belongs to (its request's)

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", CallState(self.state))

    @property
    def tenant(self) -> TenantId:
        return TenantId(self.tenant_id)

    @property
    def is_live(self) -> bool:
        return self.state.is_live

    @property
    def answered(self) -> bool:
        """The customer picked up (the call has, or had, a connection)."""
        return self.connected_at is not None


class PhoneDisplay(StrEnum):
    """How channel messages show a request's number (ASKCALL_PHONE_DISPLAY when the request was made)."""

    MASKED = "masked"
    FULL = "full"


@dataclass(frozen=True)
class Request:
    id: int
    source_key: str | None
    team_id: str | None
    channel_id: str
    user_id: str
    phone_e164: str
    phone_key: str
    reason: str
    lang: str
    response_url: str | None
    state: RequestState
    outcome: Outcome | None
    error_code: str | None
    parent_ts: str | None
    message_id: str | None
    answer_event_ts: str | None
    created_at: float
    sent_at: float | None
    answered_at: float | None
    expires_at: float | None
    updated_at: float
    thread_ts: str | None = None
    number_name: str = DEFAULT_NUMBER
    purged_at: float | None = None
    phone_display: PhoneDisplay = PhoneDisplay.MASKED
    # The thread's line about the request's last browser call (its status message shows it).
    last_call: str | None = None
    tenant_id: str = ""  # the workspace the request belongs to ('' only for rows made before tenancy)

    @property
    def tenant(self) -> TenantId:
        return TenantId(self.tenant_id)

    def __post_init__(self) -> None:
        # Rows come back from the database as plain strings: give them their domain types once, here.
        object.__setattr__(self, "state", RequestState(self.state))
        if self.outcome is not None:
            object.__setattr__(self, "outcome", Outcome(self.outcome))
        object.__setattr__(self, "phone_display", PhoneDisplay(self.phone_display))

    @property
    def shown_phone(self) -> str:
        """The customer's number as channel messages show it."""
        return display_phone(self.phone_e164, self.phone_display is PhoneDisplay.FULL)

    @property
    def reply_thread(self) -> str | None:
        """Where replies go: the thread the request started in, or its own status message."""
        return self.thread_ts or self.parent_ts

    @property
    def declined(self) -> bool:
        return self.outcome is Outcome.NO_PERMISSION

    @property
    def can_ask_again(self) -> bool:
        """A new request makes sense only once this one is over without a usable grant."""
        return self.state in (RequestState.FAILED, RequestState.EXPIRED) or self.declined

    def grant_is_usable(self, now: float) -> bool:
        """The customer allows calls right now (and AskCall still has their number: retention erases it)."""
        if self.state is RequestState.EXPIRED or self.purged_at is not None:
            return False
        if self.outcome is Outcome.PERMANENT:
            return True
        return self.outcome is Outcome.TEMPORARY and (self.expires_at or 0) > now

    def grant_ran_out(self, now: float) -> bool:
        """A temporary grant whose time is over (the expiry reminder may not have run yet)."""
        return self.state is RequestState.EXPIRED or (
            self.outcome is Outcome.TEMPORARY and (self.expires_at or 0) <= now
        )

    def standing(self, now: float) -> Standing:
        if self.state.failed or self.declined or self.grant_ran_out(now):
            return Standing.CLOSED
        if self.grant_is_usable(now):
            return Standing.READY_TO_CALL
        return Standing.WAITING


REQUEST_FIELDS = frozenset(f.name for f in fields(Request))


class OpenRequestExists(Exception):
    """The customer already has an open request (from any rep): a second one could only spend their quota."""

    def __init__(self, request: Request) -> None:
        super().__init__(f"request {request.id} is still open for this customer")
        self.request = request


class CallInProgress(Exception):
    """The customer already has a live call (from any rep, page or replica): a second one would ring them twice.
    `call` is that call (who made it, since when, from which page session)."""

    def __init__(self, call: Call) -> None:
        super().__init__(f"call {call.id} to this customer is still live")
        self.call = call


class BudgetSpent(Exception):
    """The rep made as many requests in the last hour as ASKCALL_MAX_REQUESTS_PER_REP_PER_HOUR allows:
    a burst of permission requests hurts the WhatsApp number's quality rating."""

    def __init__(self, user_id: str, limit: int, refills_at: float) -> None:
        super().__init__(f"{user_id} made {limit} requests in the last hour")
        self.user_id = user_id
        self.limit = limit
        self.refills_at = refills_at  # when the oldest counted request stops counting


# How long a request counts against its rep's budget, and how often one status message may probe.
BUDGET_WINDOW = 3600.0
STATUS_CHECK_INTERVAL = 10.0
