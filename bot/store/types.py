"""The values that cross the store's boundary: what callers hand to a store and what they get back.

All of them are plain, immutable values: nothing here knows a database, a driver or a connection,
so both backends read and write the same types, and callers never see a row. Errors are typed:
a database that can't be used raises StoreError (with SchemaTooNew for one a newer AskCall migrated).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from bot.domain import (
    DEFAULT_NUMBER,
    Call,
    DeliveryKind,
    DeliveryState,
    EventResult,
    PhoneDisplay,
    ReminderKind,
    ReminderState,
    Request,
    TenantId,
)

DEFAULT_LEASE_SECONDS = 30.0
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


# --- requests -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewRequest:
    """A request about to be stored: who asks, in which channel (and thread), whom and why.

    `source_key` identifies the submission (Slack's trigger id, or the button's for "Ask again"): a
    second submission with the same key returns the first request. None or "": no key. `phone_display`
    is how channel messages show this request's number (ASKCALL_PHONE_DISPLAY when it was made)."""

    tenant: TenantId
    channel_id: str
    user_id: str
    phone_e164: str
    reason: str
    lang: str
    source_key: str | None = None
    team_id: str | None = None
    response_url: str | None = None
    thread_ts: str | None = None
    number_name: str = DEFAULT_NUMBER
    phone_display: PhoneDisplay = PhoneDisplay.MASKED

    def __post_init__(self) -> None:
        object.__setattr__(self, "phone_display", PhoneDisplay(self.phone_display))


# --- deliveries -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewDelivery:
    """A Slack call to make later: `kind` names the Web API call, `payload` its arguments."""

    dedup_key: str
    kind: DeliveryKind
    payload: dict[str, Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", DeliveryKind(self.kind))


@dataclass(frozen=True)
class Delivery:
    id: int
    dedup_key: str
    request_id: int | None  # None: a message of the workspace's own (the installer's welcome DM)
    kind: DeliveryKind
    payload: dict[str, Any]
    state: DeliveryState
    attempts: int
    next_attempt_at: float
    last_error: str | None
    result_ts: str | None
    created_at: float
    tenant_id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", DeliveryKind(self.kind))
        object.__setattr__(self, "state", DeliveryState(self.state))

    @property
    def tenant(self) -> TenantId:
        return TenantId(self.tenant_id)


DELIVERY_FIELDS = frozenset(f.name for f in fields(Delivery))


# --- reminders ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewReminder:
    kind: ReminderKind
    due_at: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ReminderKind(self.kind))


@dataclass(frozen=True)
class Reminder:
    id: int
    request_id: int
    kind: ReminderKind
    due_at: float
    state: ReminderState
    fired_at: float | None
    tenant_id: str = ""

    def __post_init__(self) -> None:
        # Rows come back as plain strings: give them their domain types once, here.
        object.__setattr__(self, "kind", ReminderKind(self.kind))
        object.__setattr__(self, "state", ReminderState(self.state))

    @property
    def tenant(self) -> TenantId:
        return TenantId(self.tenant_id)


# --- effects --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Effects:
    """What a step does besides its own guarded change, in the same transaction and only if the step acts:
    columns to set on its request, Slack messages to queue for it, reminders to schedule for it."""

    request_update: Mapping[str, Any] = field(default_factory=dict)
    deliveries: Sequence[NewDelivery] = ()
    reminders: Sequence[NewReminder] = ()

    def __post_init__(self) -> None:
        # Read-only copies: the effects a caller built can't change once handed to the store.
        object.__setattr__(self, "request_update", MappingProxyType(dict(self.request_update)))
        object.__setattr__(self, "deliveries", tuple(self.deliveries))
        object.__setattr__(self, "reminders", tuple(self.reminders))


NO_EFFECTS = Effects()


# --- webhook events -------------------------------------------------------------------------------
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
    result: EventResult | None
    number_name: str = DEFAULT_NUMBER
    tenant_id: str = ""

    def __post_init__(self) -> None:
        if self.result is not None:
            object.__setattr__(self, "result", EventResult(self.result))

    @property
    def tenant(self) -> TenantId:
        return TenantId(self.tenant_id)


@dataclass(frozen=True)
class RecordedEvent:
    """A stored webhook delivery: `is_new` False for a redelivery; `unmatched` when it was settled at
    once because no request could own it (nothing left to process)."""

    id: int
    is_new: bool
    unmatched: bool = False


@dataclass(frozen=True)
class IncomingEvent:
    """A signed webhook delivery as AskCall keeps it: its dedup key (already scoped to its number, see
    `number_scoped`), what it says, and its body as received, for the tenant its webhook belongs to."""

    tenant: TenantId
    dedup_key: str
    event: str
    status: str | None
    from_phone: str | None
    to_phone: str | None
    event_ts: str | None
    body: str
    number_name: str = DEFAULT_NUMBER


@dataclass(frozen=True)
class NewEvent:
    """A webhook delivery about to be inserted (built by `record_webhook_event` from an IncomingEvent);
    `answered_at` is set for answers."""

    tenant: TenantId
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
    """A webhook event being processed, the request it answers (None: none) and the rep's DM wish. An event that
    answers no request is settled (`unmatched`) when it is opened: `next_id` is then the customer's next unprocessed
    event, read after that settling (None: none, or the event still has to be settled)."""

    event: WebhookEvent
    request: Request | None
    dm: bool
    next_id: int | None = None


# --- metrics --------------------------------------------------------------------------------------
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

    @classmethod
    def from_rows(cls, results: list[list[Any]]) -> MetricsSnapshot:
        """The snapshot from the rows of `sql.METRICS_QUERIES`, whatever the driver's row type (indexable)."""
        requests, events, attempts, (dead,), (waiting,), calls = results
        return cls(
            calls={(r[0], r[1]): (int(r[2]), int(r[3]), int(r[4])) for r in calls},
            requests={(r[0], r[1]): int(r[2]) for r in requests},
            webhook_events={r[0]: int(r[1]) for r in events},
            delivery_attempts={r[0]: (int(r[1] or 0), int(r[2] or 0)) for r in attempts},
            dead_deliveries=int(dead[0] or 0),
            pending_deliveries=int(waiting[0] or 0),
            oldest_pending_at=float(waiting[1]) if waiting[1] is not None else None,
        )


# --- records and retention ------------------------------------------------------------------------
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


# --- calls from the browser -----------------------------------------------------------------------
@dataclass(frozen=True)
class CallSession:
    """A call page's session: what one redeemed link lets its browser do (call about one request)."""

    request_id: int
    user_id: str
    expires_at: float
    id: int = 0  # the session's row: its calls carry it (each page follows and hangs up its own call)
    tenant_id: str = ""  # the workspace whose link made it: every lookup the page makes is scoped by it

    @property
    def tenant(self) -> TenantId:
        return TenantId(self.tenant_id)


# What `advance_call` may set (column names go into SQL text: only these are accepted).
CALL_UPDATABLE = frozenset(
    {"pilot_call_id", "external_call_id", "state", "connected_at", "ended_at", "duration", "end_reason"}
)


def call_fields(fields_: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(fields_) - CALL_UPDATABLE
    if unknown:
        raise ValueError(f"not updatable on a call: {sorted(unknown)}")
    return dict(fields_)


# --- workspaces -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Workspace:
    """A workspace (or organisation) AskCall serves or served: its tenant, Slack ids, name and URL
    (https://x.slack.com/, the base of permalinks), and when it was installed, uninstalled or disabled."""

    tenant: TenantId
    team_id: str | None
    enterprise_id: str | None
    is_enterprise_install: bool = False
    name: str | None = None
    url: str | None = None
    installed_at: float = 0.0
    uninstalled_at: float | None = None
    disabled_at: float | None = None

    @property
    def stopped(self) -> bool:
        """Uninstalled, revoked or disabled: AskCall does no work for it (see bot.store.workspaces)."""
        return self.uninstalled_at is not None or self.disabled_at is not None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Workspace:
        """From the columns of `sql.WORKSPACE_COLUMNS`, in that order."""
        tenant, team, enterprise, org_wide, name, url, installed, uninstalled, disabled = row
        return cls(TenantId(tenant), team, enterprise, bool(org_wide), name, url, installed, uninstalled, disabled)


class OtherWorkspaceRecorded(StoreError):
    """Legacy rows (made before tenancy) can't be given to a tenant once another workspace was recorded: they
    might be that one's, and moving them would merge two companies' data."""

    def __init__(self, rows: int, tenant: TenantId) -> None:
        super().__init__(
            f"{rows} rows made before tenancy can't be given to {tenant}: another workspace was recorded first, and "
            "they might be its; nothing was moved"
        )


# --- leases ---------------------------------------------------------------------------------------
class LeasedTable(StrEnum):
    """The tables whose rows are jobs claimed with a lease (`renew_leases`, `open_leases`)."""

    REQUESTS = "requests"  # a request's pipeline step (pre-check and send)
    DELIVERIES = "deliveries"  # a Slack call being made
    REMINDERS = "reminders"  # a reminder being fired
    WEBHOOK_EVENTS = "webhook_events"  # an answer being applied


# --- administration -------------------------------------------------------------------------------
# The tables that hold AskCall's data, parents before children, with the key each is read in order of.
DATA_TABLES: tuple[tuple[str, str], ...] = (
    ("workspaces", "tenant_id"),
    ("requests", "id"),
    ("status_checks", "request_id"),
    ("webhook_events", "id"),
    ("deliveries", "id"),
    ("reminders", "id"),
    ("user_prefs", "id"),
    ("handled_actions", "id"),
    ("call_links", "id"),
    ("call_sessions", "id"),
    ("calls", "id"),
    ("slack_installations", "tenant_id"),
    ("oauth_states", "state"),
    ("workspace_settings", "tenant_id"),
    ("workspace_numbers", "webhook_token"),
)


def data_table_key(table: str) -> str:
    """The key column of `table`; ValueError for anything that is not one of `DATA_TABLES`
    (table names go into SQL text, so only these are ever accepted)."""
    for name, key in DATA_TABLES:
        if name == table:
            return key
    raise ValueError(f"{table!r} is not an AskCall table")
