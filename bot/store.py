"""SQLite store (aiosqlite): schema, migrations and every query AskCall makes.

The store is the source of truth. Requests, webhook events and outgoing Slack messages
("deliveries") are written here before anything is acknowledged or sent, and every worker
reads its work back from here, so a crash at any point leaves a state that start-up resumes.

One connection, one writer: SQLite serialises writers anyway, and a single aiosqlite connection
shared by coroutines must not interleave two transactions, so every transaction holds `_lock`.
No network call ever happens inside a transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot.phones import customer_key, display_phone

log = logging.getLogger(__name__)

T = TypeVar("T")

# Request states, in the order a request normally goes through them.
NEW = "new"  # stored; the parent message is not posted yet
READY = "ready"  # parent posted; Pilot Status not called yet
SENDING = "sending"  # Pilot Status call in progress (a crash here leaves the outcome unknown)
WAITING = "waiting"  # Pilot Status accepted; waiting for the customer
UNCONFIRMED = "unconfirmed"  # Pilot Status may or may not have accepted; never resent
FAILED = "failed"  # Pilot Status refused or stayed unavailable
ANSWERED = "answered"  # the customer answered (outcome holds the answer)
UNDELIVERABLE = "undeliverable"  # AskCall could not post in the channel; nothing was sent
EXPIRED = "expired"  # a temporary grant ran out (no webhook says so; a reminder found it)

# States of a request still waiting for the customer (or about to): a second request would be wasted.
OPEN = (NEW, READY, SENDING, WAITING, UNCONFIRMED)

# States in which a customer's answer may belong to the request.
CORRELATABLE = (SENDING, WAITING, UNCONFIRMED, ANSWERED)
# Meta expires an unanswered request 7 days after delivery, and an answer can change until then.
REQUEST_LIFETIME = 7 * 24 * 3600
# Tolerance for clock differences between Pilot Status and this machine.
CLOCK_SKEW = 5 * 60

DEFAULT_NUMBER = "default"
# hygiene: webhook_events.result of a signed event AskCall cannot use (stored settled, and counted).
IGNORED = "ignored"

# Delivery states.
PENDING = "pending"
INFLIGHT = "inflight"
DONE = "done"
DEAD = "dead"

# A delivery may go only when no earlier delivery of the same request is still open.
_HEAD_OF_QUEUE = """d.id = (SELECT MIN(e.id) FROM deliveries e
                      WHERE e.request_id = d.request_id AND e.state IN ('pending', 'inflight'))"""

MIGRATIONS: list[str] = [
    # 1: the core loop
    """
    CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        source_key TEXT UNIQUE,
        team_id TEXT,
        channel_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        phone_e164 TEXT NOT NULL,
        phone_key TEXT NOT NULL,
        reason TEXT NOT NULL,
        lang TEXT NOT NULL,
        response_url TEXT,
        state TEXT NOT NULL,
        outcome TEXT,
        error_code TEXT,
        parent_ts TEXT,
        message_id TEXT,
        answer_event_ts TEXT,
        created_at REAL NOT NULL,
        sent_at REAL,
        answered_at REAL,
        expires_at REAL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX requests_by_customer ON requests (phone_key, created_at);
    CREATE INDEX requests_by_state ON requests (state);

    CREATE TABLE webhook_events (
        id INTEGER PRIMARY KEY,
        dedup_key TEXT NOT NULL UNIQUE,
        event TEXT NOT NULL,
        status TEXT,
        from_phone TEXT,
        to_phone TEXT,
        phone_key TEXT,
        event_ts TEXT,
        body TEXT NOT NULL,
        received_at REAL NOT NULL,
        processed_at REAL,
        request_id INTEGER REFERENCES requests (id),
        result TEXT
    );
    CREATE INDEX webhook_events_unprocessed ON webhook_events (id) WHERE processed_at IS NULL;

    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        dedup_key TEXT NOT NULL UNIQUE,
        request_id INTEGER NOT NULL REFERENCES requests (id),
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT,
        result_ts TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX deliveries_open ON deliveries (state, next_attempt_at);
    CREATE INDEX deliveries_by_request ON deliveries (request_id, state);
    """,
    # 2: rep experience — threads started elsewhere, expiry reminders, per-user preferences
    """
    ALTER TABLE requests ADD COLUMN thread_ts TEXT;
    CREATE INDEX requests_by_user ON requests (user_id, created_at);

    CREATE TABLE reminders (
        id INTEGER PRIMARY KEY,
        request_id INTEGER NOT NULL REFERENCES requests (id),
        kind TEXT NOT NULL,
        due_at REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        fired_at REAL,
        UNIQUE (request_id, kind, due_at)
    );
    CREATE INDEX reminders_due ON reminders (state, due_at);

    CREATE TABLE user_prefs (
        user_id TEXT PRIMARY KEY,
        dm_answers INTEGER NOT NULL DEFAULT 0,
        locale TEXT,
        locale_fetched_at REAL,
        updated_at REAL NOT NULL
    );

    CREATE TABLE handled_actions (
        action_key TEXT PRIMARY KEY,
        created_at REAL NOT NULL
    );
    """,
    # 3: operations — several WhatsApp numbers, retention
    """
    ALTER TABLE requests ADD COLUMN number_name TEXT NOT NULL DEFAULT 'default';
    ALTER TABLE requests ADD COLUMN purged_at REAL;
    ALTER TABLE webhook_events ADD COLUMN number_name TEXT NOT NULL DEFAULT 'default';
    DROP INDEX requests_by_customer;
    CREATE INDEX requests_by_customer ON requests (number_name, phone_key, created_at);
    CREATE INDEX requests_by_created ON requests (created_at);
    """,
    # 4: how channel messages show this request's number (ASKCALL_PHONE_DISPLAY when it was made)
    """
    ALTER TABLE requests ADD COLUMN phone_display TEXT NOT NULL DEFAULT 'masked';
    """,
]


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
    state: str
    outcome: str | None
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
    number_name: str = "default"
    purged_at: float | None = None
    phone_display: str = "masked"

    @property
    def shown_phone(self) -> str:
        """The customer's number as channel messages show it."""
        return display_phone(self.phone_e164, self.phone_display == "full")

    @property
    def reply_thread(self) -> str | None:
        """Where replies go: the thread the request started in, or its own status message."""
        return self.thread_ts or self.parent_ts


@dataclass(frozen=True)
class Delivery:
    id: int
    dedup_key: str
    request_id: int
    kind: str
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    result_ts: str | None
    created_at: float


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
    number_name: str = "default"


@dataclass(frozen=True)
class RecordedEvent:
    """A stored webhook delivery: `is_new` False for a redelivery; `unmatched` when it was settled at
    once because no request could own it (nothing left to process)."""

    id: int
    is_new: bool
    unmatched: bool = False


@dataclass(frozen=True)
class AnswerTarget:
    """A webhook event being processed, the request it answers (None: none) and the rep's DM wish."""

    event: WebhookEvent
    request: Request | None
    dm: bool


class OpenRequestExists(Exception):
    def __init__(self, request: Request) -> None:
        super().__init__(f"request {request.id} is still open for this customer")
        self.request = request


@dataclass(frozen=True)
class MetricsSnapshot:
    requests: dict[tuple[str, str | None], int]
    webhook_events: dict[str | None, int]
    delivery_attempts: dict[str, tuple[int, int]]
    dead_deliveries: int
    pending_deliveries: int
    oldest_pending_at: float | None


@dataclass(frozen=True)
class Reminder:
    id: int
    request_id: int
    kind: str
    due_at: float
    state: str
    fired_at: float | None


@dataclass(frozen=True)
class NewReminder:
    kind: str
    due_at: float


@dataclass(frozen=True)
class NewDelivery:
    """A Slack call to make later: `kind` names the Web API call, `payload` its arguments."""

    dedup_key: str
    kind: str
    payload: dict[str, Any]


# SQLite checkpoints the WAL into the database from inside the commit that crosses its threshold
# (1,000 pages by default): 10-15 ms with the fsync, spent inside whichever ack or webhook was
# committing. The server checkpoints from its own thread instead (`checkpoint_loop`); the automatic
# one stays only as a safety net, far off (~80 MB of WAL with 4 KiB pages).
AUTOCHECKPOINT_PAGES = 4_000
BUSY_TIMEOUT_MS = 5000
# hygiene: how long the readiness write probe waits for the write lock before calling the store unready.
PROBE_TIMEOUT = 0.5
CHECKPOINT_EVERY = 0.5
RESTART_PAGES = 2_000


async def checkpoint_loop(
    store: Store, wait_idle: Callable[[], Awaitable[None]], every: float = CHECKPOINT_EVERY
) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await store.checkpoint(wait_idle)
        except sqlite3.Error as error:  # busy or I/O: the next round (or the safety net) catches up
            log.warning("WAL checkpoint failed: %s", error)


def _restart_wal(conn: sqlite3.Connection) -> None:
    """RESTART without waiting: another process reading the database (an `askcall export`, someone's
    sqlite3 shell) would otherwise hold every write for up to the busy timeout. If it is busy, the
    checkpoint just copies what it can, and the next round tries again."""
    conn.execute("PRAGMA busy_timeout=0")
    try:
        conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
    finally:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def _passive_checkpoint(path: str) -> int:
    """Pages in the WAL, after copying what can be copied without waiting, from a connection of its own."""
    connection = sqlite3.connect(path, timeout=0.2)
    try:
        _, wal_pages, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(wal_pages)
    finally:
        connection.close()


class Store:
    def __init__(self, path: str) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._event_queue: list[tuple[tuple[Any, ...], asyncio.Future[tuple[int, bool]]]] = []
        self._event_writer: asyncio.Task[None] | None = None

    # --- lifecycle --------------------------------------------------------------------------
    async def open(self) -> None:
        """Open (creating it if needed), check and migrate the database; `StoreUnavailable` (one line
        naming the problem and its fix) when it can't be used."""
        _preflight(self.path)  # hygiene block below
        try:
            await self._open()
        except (sqlite3.Error, OSError) as error:
            await self.close()
            raise StoreUnavailable(_explain(self.path, error)) from error

    async def _open(self) -> None:
        connection = aiosqlite.connect(self.path, isolation_level=None)
        # aiosqlite's worker thread is not a daemon: a caller that never reaches close() (a crashed
        # test, an aborted CLI command) would keep the process alive forever. Every write is
        # committed before it is acknowledged, so letting the thread die with the process is safe.
        connection._thread.daemon = True
        self._db = await connection
        self._db.row_factory = aiosqlite.Row
        # WAL: readers never block the writer; NORMAL sync is durable against process crashes
        # (kill -9) because committed pages live in the WAL, and costs no fsync per commit.
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")
        await self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await self._db.execute("PRAGMA foreign_keys=ON")
        await self._db.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        await self._in_db_thread(_quick_check)  # hygiene block below
        await self.migrate()

    async def checkpoint(self, wait_idle: Callable[[], Awaitable[None]]) -> None:
        """Copy committed WAL pages into the database file without stalling a request.

        PASSIVE, from a connection and thread of its own, does the bulk (and its fsync) without
        waiting for or blocking the writer. Under steady writes the WAL still never starts over, so
        once it is long, a RESTART on the writer's own connection (nothing left to wait for) copies
        the few pages written since, at a moment when no request is being handled.
        """
        wal_pages = await asyncio.to_thread(_passive_checkpoint, self.path)
        if wal_pages >= RESTART_PAGES:
            await wait_idle()
            await self._in_db_thread(_restart_wal)

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    async def schema_version(self) -> int:
        async with self.db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> None:
        async with self.transaction() as db:
            async with db.execute("PRAGMA user_version") as cursor:
                row = await cursor.fetchone()
            current = int(row[0]) if row else 0
            for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in _statements(script):
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version={version}")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            await self.db.execute("COMMIT")

    async def _in_db_thread(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` on the database thread in one hop. Each aiosqlite call is a round trip
        between the event loop and that thread; on the hot paths (the ack, webhook ingest,
        deliveries) one round trip per transaction keeps latency low when the loop is busy."""
        connection = self.db
        async with self._lock:
            return await connection._execute(work, connection._conn)

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` inside BEGIN IMMEDIATE … COMMIT, in one hop to the database thread."""

        def transact(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        return await self._in_db_thread(transact)

    async def _fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        args = tuple(params)
        return await self._in_db_thread(lambda conn: conn.execute(sql, args).fetchone())

    async def _fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        args = tuple(params)
        return await self._in_db_thread(lambda conn: conn.execute(sql, args).fetchall())

    # --- requests -----------------------------------------------------------------------------
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
    ) -> tuple[int, bool]:
        """Store a request and its parent-message delivery in one transaction.

        Returns (request id, created). A second submission with the same `source_key` (Slack's
        trigger id) returns the first request instead of creating another. With `refuse_if_open`,
        raises OpenRequestExists when the customer already has an open request (checked in the
        same transaction, so two reps asking at once can't both get through).
        """
        now = time.time()
        source_key = source_key or None  # "" means no key; stored as NULL so it never collides
        phone_key = customer_key(phone_e164)

        def create(conn: sqlite3.Connection) -> tuple[int, bool]:
            if source_key:
                row = conn.execute("SELECT id FROM requests WHERE source_key = ?", (source_key,)).fetchone()
                if row:
                    return int(row[0]), False
            if refuse_if_open:
                row = conn.execute(
                    f"""SELECT * FROM requests WHERE number_name = ? AND phone_key = ?
                          AND state IN ({",".join("?" * len(OPEN))}) AND created_at >= ?
                        ORDER BY created_at DESC, id DESC LIMIT 1""",
                    (number_name, phone_key, *OPEN, now - REQUEST_LIFETIME),
                ).fetchone()
                if row:
                    raise OpenRequestExists(Request(**dict(row)))
            cursor = conn.execute(
                """INSERT INTO requests (source_key, team_id, channel_id, user_id, phone_e164, phone_key,
                       reason, lang, response_url, state, created_at, updated_at, thread_ts, number_name,
                       phone_display)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    source_key,
                    team_id,
                    channel_id,
                    user_id,
                    phone_e164,
                    phone_key,
                    reason,
                    lang,
                    response_url,
                    NEW,
                    now,
                    now,
                    thread_ts,
                    number_name,
                    phone_display,
                ),
            )
            request_id = int(cursor.lastrowid or 0)
            # The parent message carries the request id (its buttons do), so it may be built here.
            first = parent if isinstance(parent, NewDelivery) else parent(request_id)
            _insert_deliveries(conn, request_id, [first], now)
            return request_id, True

        return await self._write(create)

    async def get_request(self, request_id: int) -> Request | None:
        row = await self._fetchone("SELECT * FROM requests WHERE id = ?", (request_id,))
        return Request(**dict(row)) if row else None

    async def requests_in_state(self, *states: str) -> list[Request]:
        marks = ",".join("?" * len(states))
        rows = await self._fetchall(f"SELECT * FROM requests WHERE state IN ({marks}) ORDER BY id", states)
        return [Request(**dict(r)) for r in rows]

    async def transition(
        self,
        request_id: int,
        from_states: Iterable[str],
        to_state: str,
        deliveries: Iterable[NewDelivery] = (),
        reminders: Iterable[NewReminder] = (),
        **fields: Any,
    ) -> bool:
        """Move a request to `to_state` if it is in one of `from_states`, and queue `deliveries`.

        The state check makes every step idempotent: a step replayed after a restart, or raced by
        a duplicate, finds the request already moved on and does nothing.
        """
        return await self._move(request_id, tuple(from_states), to_state, deliveries, reminders, fields) is not None

    async def advance(
        self, request_id: int, from_states: Iterable[str], to_state: str, **fields: Any
    ) -> Request | None:
        """`transition` that returns the request as it is now (None if it was not moved), in the same hop."""
        row = await self._move(request_id, tuple(from_states), to_state, (), (), fields)
        return Request(**dict(row)) if row is not None else None

    async def _move(
        self,
        request_id: int,
        from_states: tuple[str, ...],
        to_state: str,
        deliveries: Iterable[NewDelivery],
        reminders: Iterable[NewReminder],
        fields: dict[str, Any],
    ) -> sqlite3.Row | None:
        now = time.time()
        columns = {"state": to_state, "updated_at": now, **fields}
        assignments = ", ".join(f"{name} = ?" for name in columns)
        marks = ",".join("?" * len(from_states))
        deliveries, reminders = list(deliveries), list(reminders)

        def move(conn: sqlite3.Connection) -> sqlite3.Row | None:
            row: sqlite3.Row | None = conn.execute(
                f"UPDATE requests SET {assignments} WHERE id = ? AND state IN ({marks}) RETURNING *",
                (*columns.values(), request_id, *from_states),
            ).fetchone()
            if row is not None:
                _apply_effects(conn, request_id, None, deliveries, reminders, now)
            return row

        return await self._write(move)

    async def update_request(self, request_id: int, **fields: Any) -> None:
        columns = {**fields, "updated_at": time.time()}
        assignments = ", ".join(f"{name} = ?" for name in columns)
        async with self.transaction() as db:
            await db.execute(f"UPDATE requests SET {assignments} WHERE id = ?", (*columns.values(), request_id))

    # --- webhook events ---------------------------------------------------------------------
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
        result: str | None = None,
    ) -> RecordedEvent:
        """Store a webhook delivery once; returns after it is committed.

        With `result` (e.g. IGNORED) the event is stored already settled, in the same transaction:
        it is never processed, recovered or applied to a request.

        Deliveries arriving together share one transaction (group commit): each caller still
        returns only once its own row is durable, but N concurrent webhooks cost one commit.
        With `answered_at`, a new answer that no request can own is settled `unmatched` in that
        same transaction, so it needs no processing afterwards.
        """
        row = (
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
        )
        future: asyncio.Future[RecordedEvent] = asyncio.get_running_loop().create_future()
        self._event_queue.append(((row, answered_at, result), future))
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

    async def _insert_events(
        self, items: list[tuple[tuple[Any, ...], float | None, str | None]]
    ) -> list[RecordedEvent]:
        def insert(conn: sqlite3.Connection) -> list[RecordedEvent]:
            now = time.time()
            results: list[RecordedEvent] = []
            for row, answered_at, settled in items:
                inserted = conn.execute(
                    """INSERT INTO webhook_events (dedup_key, event, status, from_phone, to_phone,
                           phone_key, event_ts, body, received_at, number_name)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (dedup_key) DO NOTHING RETURNING id""",
                    row,
                ).fetchone()
                if inserted is None:
                    existing = conn.execute("SELECT id FROM webhook_events WHERE dedup_key = ?", (row[0],)).fetchone()
                    results.append(RecordedEvent(int(existing[0]) if existing else 0, is_new=False))
                    continue
                event_id = int(inserted[0])
                if settled is not None:
                    conn.execute(
                        "UPDATE webhook_events SET processed_at = ?, result = ? WHERE id = ?", (now, settled, event_id)
                    )
                    results.append(RecordedEvent(event_id, is_new=True, unmatched=False))
                    continue
                phone_key, number_name = row[5], row[9]
                unmatched = answered_at is not None and (
                    not phone_key or _answer_target_row(conn, phone_key, answered_at, number_name) is None
                )
                if unmatched:
                    conn.execute(
                        "UPDATE webhook_events SET processed_at = ?, result = 'unmatched' WHERE id = ?",
                        (now, event_id),
                    )
                results.append(RecordedEvent(event_id, is_new=True, unmatched=unmatched))
            return results

        return await self._write(insert)

    async def get_webhook_event(self, event_id: int) -> WebhookEvent | None:
        row = await self._fetchone(f"SELECT {_EVENT_COLUMNS} FROM webhook_events WHERE id = ?", (event_id,))
        return WebhookEvent(**dict(row)) if row else None

    async def unprocessed_webhook_events(self) -> list[tuple[int, str]]:
        """(id, customer key) of every event not yet processed, oldest first."""
        rows = await self._fetchall(
            "SELECT id, COALESCE(phone_key, '') FROM webhook_events WHERE processed_at IS NULL ORDER BY id"
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    async def find_request_for_answer(
        self, phone_key: str, answered_at: float, number_name: str = DEFAULT_NUMBER
    ) -> Request | None:
        """The most recent request for this customer that an answer given at `answered_at` can belong to."""
        request, _ = await self.answer_target(phone_key, answered_at, number_name)
        return request

    async def answer_target(
        self, phone_key: str, answered_at: float, number_name: str = DEFAULT_NUMBER
    ) -> tuple[Request | None, bool]:
        """The request an answer given at `answered_at` belongs to (the customer's most recent open one),
        and whether its rep wants answers by DM too, in one hop."""
        row = await self._in_db_thread(lambda conn: _answer_target_row(conn, phone_key, answered_at, number_name))
        return _request_and_dm(row)

    async def open_answer(self, event_id: int, answered_at: Callable[[str | None], float]) -> AnswerTarget | None:
        """An unprocessed event, the request it answers and its rep's DM wish, in one hop.

        None when the event is unknown or already processed. An event that answers no request is
        settled as `unmatched` in the same transaction: most webhooks need this one hop only.
        """
        now = time.time()

        def open_(conn: sqlite3.Connection) -> AnswerTarget | None:
            row = conn.execute(f"SELECT {_EVENT_COLUMNS} FROM webhook_events WHERE id = ?", (event_id,)).fetchone()
            if row is None or row["processed_at"] is not None:
                return None
            event = WebhookEvent(**dict(row))
            target = None
            if event.phone_key:
                target = _answer_target_row(conn, event.phone_key, answered_at(event.event_ts), event.number_name)
            if target is None:
                conn.execute(
                    """UPDATE webhook_events SET processed_at = ?, result = 'unmatched'
                       WHERE id = ? AND processed_at IS NULL""",
                    (now, event_id),
                )
            request, dm = _request_and_dm(target)
            return AnswerTarget(event, request, dm)

        return await self._write(open_)

    async def settle_webhook_event(
        self,
        event_id: int,
        result: str,
        *,
        request_id: int | None = None,
        request_update: dict[str, Any] | None = None,
        deliveries: Iterable[NewDelivery] = (),
        reminders: Iterable[NewReminder] = (),
    ) -> bool:
        """Mark an event processed and apply its effect on a request, atomically and only once."""
        now = time.time()
        deliveries, reminders = list(deliveries), list(reminders)

        def settle(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                """UPDATE webhook_events SET processed_at = ?, result = ?, request_id = ?
                   WHERE id = ? AND processed_at IS NULL""",
                (now, result, request_id, event_id),
            )
            if cursor.rowcount != 1:
                return False
            if request_id is not None:
                _apply_effects(conn, request_id, request_update, deliveries, reminders, now)
            return True

        return await self._write(settle)

    # --- deliveries ---------------------------------------------------------------------------
    async def add_deliveries(self, request_id: int, deliveries: Iterable[NewDelivery]) -> None:
        pending, now = list(deliveries), time.time()
        await self._write(lambda conn: _insert_deliveries(conn, request_id, pending, now))

    async def claim_due_deliveries(self, now: float, limit: int = 50) -> list[Delivery]:
        """Take due pending deliveries (pending → inflight), at most one per request so that each
        request's messages reach Slack in the order they were queued."""
        deliveries, _ = await self.claim_due(now, limit)
        return deliveries

    async def claim_due(self, now: float, limit: int = 50) -> tuple[list[Delivery], float | None]:
        """`claim_due_deliveries`, plus when the next delivery falls due afterwards, in the same hop."""

        def claim(conn: sqlite3.Connection) -> tuple[list[sqlite3.Row], float | None]:
            rows = conn.execute(
                f"""SELECT d.* FROM deliveries d
                    WHERE d.state = 'pending' AND d.next_attempt_at <= ? AND {_HEAD_OF_QUEUE}
                    ORDER BY d.next_attempt_at, d.id LIMIT ?""",
                (now, limit),
            ).fetchall()
            if rows:
                ids = [row["id"] for row in rows]
                marks = ",".join("?" * len(ids))
                conn.execute(
                    f"UPDATE deliveries SET state = 'inflight', updated_at = ? WHERE id IN ({marks})", (now, *ids)
                )
            return rows, _next_delivery_time(conn)

        rows, next_at = await self._write(claim)
        return [_delivery(r) for r in rows], next_at

    async def next_delivery_time(self) -> float | None:
        """When the next delivery that may go now (head of its request's queue) becomes due."""
        return await self._in_db_thread(_next_delivery_time)

    async def inflight_deliveries(self) -> list[Delivery]:
        rows = await self._fetchall("SELECT * FROM deliveries WHERE state = 'inflight' ORDER BY id")
        return [_delivery(r) for r in rows]

    async def delivery_for(self, request_id: int, kind: str) -> Delivery | None:
        row = await self._fetchone(
            "SELECT * FROM deliveries WHERE request_id = ? AND kind = ? ORDER BY id LIMIT 1", (request_id, kind)
        )
        return _delivery(row) if row else None

    async def get_delivery(self, delivery_id: int) -> Delivery | None:
        row = await self._fetchone("SELECT * FROM deliveries WHERE id = ?", (delivery_id,))
        return _delivery(row) if row else None

    async def complete_delivery(
        self, delivery: Delivery, result_ts: str | None, now: float, *, claim_next: bool = True
    ) -> tuple[Delivery | None, bool]:
        """Mark `delivery` done and claim its request's next message if that one is due, in one hop.

        A request's messages go out one after the other (reply, then status update); handing the
        next one straight to the same worker saves a claim round trip and a pass of the loop.
        Returns (the claimed next message, whether the request has nothing else pending).
        """

        def complete(conn: sqlite3.Connection) -> tuple[sqlite3.Row | None, bool]:
            _mark_delivery(conn, delivery.id, DONE, result_ts=result_ts, count_attempt=True)
            if not claim_next:
                return None, False
            row = conn.execute(
                f"""SELECT d.* FROM deliveries d
                    WHERE d.request_id = ? AND d.state = 'pending' AND d.next_attempt_at <= ? AND {_HEAD_OF_QUEUE}""",
                (delivery.request_id, now),
            ).fetchone()
            if row is not None:
                conn.execute("UPDATE deliveries SET state = 'inflight', updated_at = ? WHERE id = ?", (now, row["id"]))
                return row, False
            pending = conn.execute(
                "SELECT 1 FROM deliveries WHERE request_id = ? AND state = 'pending' LIMIT 1", (delivery.request_id,)
            ).fetchone()
            return None, pending is None

        row, drained = await self._write(complete)
        return (_delivery(row) if row is not None else None), drained

    async def mark_delivery(
        self,
        delivery_id: int,
        state: str,
        *,
        result_ts: str | None = None,
        last_error: str | None = None,
        next_attempt_at: float | None = None,
        count_attempt: bool = False,
    ) -> None:
        await self._write(
            lambda conn: _mark_delivery(
                conn,
                delivery_id,
                state,
                result_ts=result_ts,
                last_error=last_error,
                next_attempt_at=next_attempt_at,
                count_attempt=count_attempt,
            )
        )

    async def pending_delivery_count(self) -> int:
        row = await self._fetchone("SELECT COUNT(*) FROM deliveries WHERE state IN ('pending', 'inflight')")
        return int(row[0]) if row else 0

    async def metrics_snapshot(self) -> MetricsSnapshot:
        """Counts for /metrics, from a read-only connection of its own in a worker thread: the scans
        never take the writer's connection or lock (WAL readers don't block the writer)."""
        return await asyncio.to_thread(_read_only, self.path, _metrics_snapshot)

    async def probe_write(self, timeout: float = PROBE_TIMEOUT) -> None:  # noqa: ASYNC109
        """A tiny committed write from a connection of its own (raises `sqlite3.Error` or `OSError`
        when the database can't be written: lock held elsewhere, disk full, read-only, corrupt)."""
        await asyncio.to_thread(_probe_write, self.path, timeout)

    # --- reminders ----------------------------------------------------------------------------
    async def due_reminders(self, now: float, limit: int = 50) -> list[Reminder]:
        rows = await self._fetchall(
            """SELECT id, request_id, kind, due_at, state, fired_at FROM reminders
               WHERE state = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT ?""",
            (now, limit),
        )
        return [Reminder(**dict(r)) for r in rows]

    async def next_reminder_time(self) -> float | None:
        row = await self._fetchone("SELECT MIN(due_at) FROM reminders WHERE state = 'pending'")
        return float(row[0]) if row and row[0] is not None else None

    async def reminders_for(self, request_id: int) -> list[Reminder]:
        rows = await self._fetchall(
            "SELECT id, request_id, kind, due_at, state, fired_at FROM reminders WHERE request_id = ? ORDER BY id",
            (request_id,),
        )
        return [Reminder(**dict(r)) for r in rows]

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
        now = time.time()
        deliveries, reminders = list(deliveries), list(reminders)

        def complete(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE reminders SET state = ?, fired_at = ? WHERE id = ? AND state = 'pending'",
                (state, now, reminder_id),
            )
            if cursor.rowcount != 1:
                return False
            _apply_effects(conn, request_id, request_update, deliveries, reminders, now)
            return True

        return await self._write(complete)

    # --- open requests, a rep's requests ------------------------------------------------------
    async def open_request_for(self, number_name: str, phone_key: str, now: float) -> Request | None:
        """A request for this customer that is still waiting for them (any rep)."""
        row = await self._fetchone(
            f"""SELECT * FROM requests
                WHERE number_name = ? AND phone_key = ? AND state IN ({",".join("?" * len(OPEN))})
                  AND created_at >= ?
                ORDER BY created_at DESC, id DESC LIMIT 1""",
            (number_name, phone_key, *OPEN, now - REQUEST_LIFETIME),
        )
        return Request(**dict(row)) if row else None

    async def requests_by_user(self, user_id: str, since: float) -> list[Request]:
        rows = await self._fetchall(
            "SELECT * FROM requests WHERE user_id = ? AND created_at >= ? ORDER BY created_at DESC, id DESC",
            (user_id, since),
        )
        return [Request(**dict(r)) for r in rows]

    # --- per-user preferences -------------------------------------------------------------------
    async def user_prefs(self, user_id: str) -> tuple[bool, str | None, float | None]:
        """(dm_answers, locale, locale_fetched_at) for a user; defaults when unknown."""
        row = await self._fetchone(
            "SELECT dm_answers, locale, locale_fetched_at FROM user_prefs WHERE user_id = ?", (user_id,)
        )
        if row is None:
            return False, None, None
        return bool(row[0]), row[1], row[2]

    async def set_dm_answers(self, user_id: str, enabled: bool) -> None:
        async with self.transaction() as db:
            await db.execute(
                """INSERT INTO user_prefs (user_id, dm_answers, updated_at) VALUES (?, ?, ?)
                   ON CONFLICT (user_id) DO UPDATE SET dm_answers = excluded.dm_answers,
                                                       updated_at = excluded.updated_at""",
                (user_id, int(enabled), time.time()),
            )

    async def set_locale(self, user_id: str, locale: str, fetched_at: float) -> None:
        async with self.transaction() as db:
            await db.execute(
                """INSERT INTO user_prefs (user_id, locale, locale_fetched_at, updated_at) VALUES (?, ?, ?, ?)
                   ON CONFLICT (user_id) DO UPDATE SET locale = excluded.locale,
                       locale_fetched_at = excluded.locale_fetched_at, updated_at = excluded.updated_at""",
                (user_id, locale, fetched_at, fetched_at),
            )

    # --- button clicks --------------------------------------------------------------------------
    async def claim_action(self, action_key: str) -> bool:
        """True the first time `action_key` is seen: double clicks and Slack retries act once."""
        async with self.transaction() as db:
            cursor = await db.execute(
                "INSERT OR IGNORE INTO handled_actions (action_key, created_at) VALUES (?, ?)",
                (action_key, time.time()),
            )
        return cursor.rowcount == 1


def _apply_effects(
    conn: sqlite3.Connection,
    request_id: int,
    request_update: dict[str, Any] | None,
    deliveries: Iterable[NewDelivery],
    reminders: Iterable[NewReminder],
    now: float,
) -> None:
    """What an outcome does to its request, inside the caller's transaction (database thread)."""
    if request_update:
        columns = {**request_update, "updated_at": now}
        assignments = ", ".join(f"{name} = ?" for name in columns)
        conn.execute(f"UPDATE requests SET {assignments} WHERE id = ?", (*columns.values(), request_id))
    _insert_deliveries(conn, request_id, deliveries, now)
    for r in reminders:
        conn.execute(
            "INSERT OR IGNORE INTO reminders (request_id, kind, due_at) VALUES (?, ?, ?)",
            (request_id, r.kind, r.due_at),
        )


def _insert_deliveries(
    conn: sqlite3.Connection, request_id: int, deliveries: Iterable[NewDelivery], now: float
) -> None:
    conn.executemany(
        """INSERT OR IGNORE INTO deliveries
           (dedup_key, request_id, kind, payload, state, next_attempt_at, created_at, updated_at)
           VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)""",
        [(d.dedup_key, request_id, d.kind, json.dumps(d.payload), now, now, now) for d in deliveries],
    )


def _delivery(row: aiosqlite.Row) -> Delivery:
    data = dict(row)
    data["payload"] = json.loads(data["payload"])
    data.pop("updated_at", None)
    return Delivery(**data)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


# --- hygiene: start-up checks, the readiness write probe, read-only snapshots -------------------
# Kept apart (issue 10 §4): nothing here touches the writer's connection or its lock.


class StoreUnavailable(Exception):
    """The database can't be used; the message is one line naming the problem and the fix."""


def _preflight(path: str) -> None:
    """Fail early and plainly on what SQLite would report as 'unable to open database file'."""
    where = os.path.abspath(path)
    folder = os.path.dirname(where)
    fix = "or set ASKCALL_DB_PATH to a writable location"
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise StoreUnavailable(
            f"cannot create the database folder {folder} ({error.strerror}): create it and make it writable "
            f"by the user running AskCall, {fix}"
        ) from error
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreUnavailable(
            f"the database folder {folder} is not writable (SQLite keeps its -wal and -shm files next to the "
            f"database): make it writable by the user running AskCall, {fix}"
        )
    if os.path.isdir(where):
        raise StoreUnavailable(f"the database path {where} is a folder: point ASKCALL_DB_PATH at a file in it")
    if os.path.exists(where) and not os.access(where, os.R_OK):
        raise StoreUnavailable(
            f"cannot read the database {where} (permission denied): give the user running AskCall read and "
            f"write access to it (chown/chmod), {fix}"
        )
    if os.path.exists(where) and not os.access(where, os.W_OK):
        raise StoreUnavailable(
            f"the database {where} is read-only: give the user running AskCall write access to it (chmod u+w), {fix}"
        )


def _quick_check(conn: sqlite3.Connection) -> None:
    rows = conn.execute("PRAGMA quick_check(3)").fetchall()
    if [tuple(r) for r in rows] != [("ok",)]:
        raise sqlite3.DatabaseError("quick_check: " + "; ".join(str(r[0]) for r in rows))


def _explain(path: str, error: BaseException) -> str:
    where = os.path.abspath(path)
    text = " ".join(str(error).split())[:200]  # one line, whatever SQLite said
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return (
            f"the database {where} is read-only ({text}): make it and its folder writable by the user running "
            "AskCall, or set ASKCALL_DB_PATH to a writable location"
        )
    if "not a database" in lowered or "malformed" in lowered or "quick_check" in lowered or "corrupt" in lowered:
        return (
            f"the database {where} is corrupt ({text}): restore it from a backup, or move it aside to start "
            "with an empty one"
        )
    if "locked" in lowered or "busy" in lowered:
        return f"the database {where} is locked by another process ({text}): stop that process and start again"
    if "disk" in lowered and "full" in lowered:
        return f"the disk holding the database {where} is full ({text}): free some space and start again"
    return f"the database {where} cannot be used ({text}): check its permissions and free space, or restore it"


def _read_only(path: str, work: Callable[[sqlite3.Connection], T]) -> T:
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    connection = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        return work(connection)
    finally:
        connection.close()


def _metrics_snapshot(conn: sqlite3.Connection) -> MetricsSnapshot:
    requests = conn.execute("SELECT state, outcome, COUNT(*) FROM requests GROUP BY state, outcome").fetchall()
    events = conn.execute("SELECT result, COUNT(*) FROM webhook_events GROUP BY result").fetchall()
    attempts = conn.execute(
        """SELECT kind, SUM(attempts), SUM(attempts) - SUM(CASE WHEN state = 'done' THEN 1 ELSE 0 END)
           FROM deliveries GROUP BY kind"""
    ).fetchall()
    dead = conn.execute("SELECT COUNT(*) FROM deliveries WHERE state = 'dead'").fetchone()
    waiting = conn.execute(
        "SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE state IN ('pending', 'inflight')"
    ).fetchone()
    return MetricsSnapshot(
        requests={(r[0], r[1]): int(r[2]) for r in requests},
        webhook_events={r[0]: int(r[1]) for r in events},
        delivery_attempts={r[0]: (int(r[1] or 0), int(r[2] or 0)) for r in attempts},
        dead_deliveries=int(dead[0]) if dead else 0,
        pending_deliveries=int(waiting[0]) if waiting else 0,
        oldest_pending_at=float(waiting[1]) if waiting and waiting[1] is not None else None,
    )


def _probe_write(path: str, timeout: float) -> None:
    """BEGIN IMMEDIATE (the write lock, waiting at most `timeout`), a one-row upsert, COMMIT.

    The file's own permission is asked first: SQLite reuses the process's open descriptors, so a
    file made read-only (chmod, a read-only remount, the immutable flag) would still take the write.
    """
    if not os.access(path, os.R_OK | os.W_OK):
        raise sqlite3.OperationalError(f"attempt to write a readonly database ({os.path.abspath(path)} is read-only)")
    connection = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute("CREATE TABLE IF NOT EXISTS health (id INTEGER PRIMARY KEY, probed_at REAL NOT NULL)")
            connection.execute(
                "INSERT INTO health (id, probed_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET probed_at = ?",
                (time.time(), time.time()),
            )
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
    finally:
        connection.close()


# --- records: export and retention ---------------------------------------------------------------
# Consent records (`askcall export`) and LGPD retention (`askcall purge`, automatic retention).
# Retention erases what identifies the customer and keeps every row, so counts stay right.

# A request in one of these states is still on its way to the customer; every other state is closed.
OPEN_STATES = (NEW, READY, SENDING)
FINISHED_DELIVERIES = (DONE, DEAD)
# Results of a webhook event that set (or changed) a request's answer.
SETTLING_RESULTS = ("matched", "changed")
PURGED_PAYLOAD = "{}"


@dataclass(frozen=True)
class RequestRecord:
    """A request with the webhook event that settled its answer, when there is one."""

    request: Request
    source_event: str | None  # the event's dedup key
    source_event_ts: str | None  # the event's own timestamp, as Pilot Status sent it


@dataclass(frozen=True)
class PurgeCounts:
    requests: int = 0
    events: int = 0
    deliveries: int = 0

    def __add__(self, other: PurgeCounts) -> PurgeCounts:
        return PurgeCounts(
            self.requests + other.requests, self.events + other.events, self.deliveries + other.deliveries
        )


async def iter_request_records(
    store: Store, since: float, until: float | None = None, batch_size: int = 500
) -> AsyncIterator[RequestRecord]:
    """Requests created in [since, until), oldest first, read in pages so any table size fits in memory."""
    last_created, last_id = since, -1
    while True:
        params: list[Any] = [last_created, last_created, last_id]
        upper = ""
        if until is not None:
            upper = "AND created_at < ?"
            params.append(until)
        rows = await store._fetchall(
            f"""SELECT * FROM requests
                WHERE (created_at > ? OR (created_at = ? AND id > ?)) {upper}
                ORDER BY created_at, id LIMIT ?""",
            (*params, batch_size),
        )
        if not rows:
            return
        requests = [Request(**dict(row)) for row in rows]
        sources = await _settling_events(store, [r.id for r in requests])
        for request in requests:
            source = sources.get(request.id)
            yield RequestRecord(request, source[0] if source else None, source[1] if source else None)
        last_created, last_id = requests[-1].created_at, requests[-1].id


async def _settling_events(store: Store, request_ids: list[int]) -> dict[int, tuple[str, str | None]]:
    """For each request, the (dedup key, timestamp) of the last event that set its answer."""
    marks = ",".join("?" * len(request_ids))
    rows = await store._fetchall(
        f"""SELECT request_id, dedup_key, event_ts FROM webhook_events
            WHERE request_id IN ({marks}) AND result IN ({",".join("?" * len(SETTLING_RESULTS))})
            ORDER BY id""",
        (*request_ids, *SETTLING_RESULTS),
    )
    return {int(row["request_id"]): (row["dedup_key"], row["event_ts"]) for row in rows}


_PURGEABLE_REQUESTS = f"""FROM requests
    WHERE created_at < ? AND purged_at IS NULL AND state NOT IN ({",".join("?" * len(OPEN_STATES))})"""


# The dedup key is a hash of the customer's number (and the event's timestamp), so it goes too.
_ERASE_EVENTS = """UPDATE webhook_events
    SET body = '', from_phone = NULL, to_phone = NULL, phone_key = NULL, dedup_key = 'purged:' || id"""


async def count_purgeable_requests(store: Store, cutoff: float) -> int:
    """Closed requests created before `cutoff` whose phone and reason are still stored."""
    row = await store._fetchone(f"SELECT COUNT(*) {_PURGEABLE_REQUESTS}", (cutoff, *OPEN_STATES))
    return int(row[0]) if row else 0


async def purge_requests_batch(store: Store, cutoff: float, limit: int = 500) -> PurgeCounts:
    """Erase the customer's data from up to `limit` purgeable requests, their events and finished deliveries."""
    now = time.time()
    async with store.transaction() as db:
        async with db.execute(
            f"SELECT id {_PURGEABLE_REQUESTS} ORDER BY created_at, id LIMIT ?", (cutoff, *OPEN_STATES, limit)
        ) as cursor:
            ids = [int(row[0]) for row in await cursor.fetchall()]
        if not ids:
            return PurgeCounts()
        marks = ",".join("?" * len(ids))
        # message_id too: a WhatsApp message id (wamid) encodes the recipient's number.
        await db.execute(
            f"""UPDATE requests SET phone_e164 = '', phone_key = '', reason = '', response_url = NULL,
                   message_id = NULL, purged_at = ?, updated_at = ?
                WHERE id IN ({marks})""",
            (now, now, *ids),
        )
        events = await db.execute(f"{_ERASE_EVENTS} WHERE request_id IN ({marks})", ids)
        deliveries = await db.execute(
            f"""UPDATE deliveries SET payload = ?, updated_at = ?
                WHERE request_id IN ({marks}) AND state IN ({",".join("?" * len(FINISHED_DELIVERIES))})""",
            (PURGED_PAYLOAD, now, *ids, *FINISHED_DELIVERIES),
        )
    return PurgeCounts(len(ids), events.rowcount, deliveries.rowcount)


async def purge_leftovers_batch(store: Store, cutoff: float, limit: int = 500) -> PurgeCounts:
    """Erase processed events older than `cutoff` that matched no request (or a purged one), and
    deliveries of purged requests that finished after their request was purged."""
    now = time.time()
    async with store.transaction() as db:
        events = await db.execute(
            f"""{_ERASE_EVENTS} WHERE id IN (
                    SELECT e.id FROM webhook_events e
                    WHERE e.received_at < ? AND e.processed_at IS NOT NULL
                      AND NOT e.dedup_key LIKE 'purged:%'
                      AND (e.request_id IS NULL
                           OR e.request_id IN (SELECT id FROM requests WHERE purged_at IS NOT NULL))
                    LIMIT ?)""",
            (cutoff, limit),
        )
        deliveries = await db.execute(
            f"""UPDATE deliveries SET payload = ?, updated_at = ? WHERE id IN (
                    SELECT d.id FROM deliveries d JOIN requests r ON r.id = d.request_id
                    WHERE r.purged_at IS NOT NULL AND d.payload != ?
                      AND d.state IN ({",".join("?" * len(FINISHED_DELIVERIES))})
                    LIMIT ?)""",
            (PURGED_PAYLOAD, now, PURGED_PAYLOAD, *FINISHED_DELIVERIES, limit),
        )
    return PurgeCounts(0, events.rowcount, deliveries.rowcount)


_EVENT_COLUMNS = """id, event, status, from_phone, to_phone, phone_key, event_ts, received_at,
                    processed_at, request_id, result, number_name"""


def _answer_target_row(
    conn: sqlite3.Connection, phone_key: str, answered_at: float, number_name: str
) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        f"""SELECT r.*, COALESCE(p.dm_answers, 0) AS dm_answers FROM requests r
            LEFT JOIN user_prefs p ON p.user_id = r.user_id
            WHERE r.number_name = ? AND r.phone_key = ? AND r.state IN ({",".join("?" * len(CORRELATABLE))})
              AND r.created_at BETWEEN ? AND ?
            ORDER BY r.created_at DESC, r.id DESC LIMIT 1""",
        (number_name, phone_key, *CORRELATABLE, answered_at - REQUEST_LIFETIME, answered_at + CLOCK_SKEW),
    ).fetchone()
    return row


def _request_and_dm(row: sqlite3.Row | None) -> tuple[Request | None, bool]:
    if row is None:
        return None, False
    fields = dict(row)
    dm = bool(fields.pop("dm_answers"))
    return Request(**fields), dm


def _next_delivery_time(conn: sqlite3.Connection) -> float | None:
    row = conn.execute(
        f"SELECT MIN(d.next_attempt_at) FROM deliveries d WHERE d.state = 'pending' AND {_HEAD_OF_QUEUE}"
    ).fetchone()
    return float(row[0]) if row and row[0] is not None else None


def _mark_delivery(
    conn: sqlite3.Connection,
    delivery_id: int,
    state: str,
    *,
    result_ts: str | None = None,
    last_error: str | None = None,
    next_attempt_at: float | None = None,
    count_attempt: bool = False,
) -> None:
    conn.execute(
        """UPDATE deliveries SET state = ?, updated_at = ?,
               result_ts = COALESCE(?, result_ts),
               last_error = COALESCE(?, last_error),
               next_attempt_at = COALESCE(?, next_attempt_at),
               attempts = attempts + ?
           WHERE id = ?""",
        (state, time.time(), result_ts, last_error, next_attempt_at, 1 if count_attempt else 0, delivery_id),
    )
