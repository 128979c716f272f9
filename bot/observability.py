"""Readiness, Prometheus metrics, request ids and JSON logs.

Counts (requests by outcome, webhook events by result, browser calls, Slack delivery attempts, pending work) are
read from the store: they are facts about persisted rows, so they are right after a restart too.
They are read at most once every `max_age` seconds, on a read-only connection in a worker thread,
never on the request path's connection. Only handler latency is measured in process.

A request id comes from `X-Request-Id` only when it is short and safe (it ends up in every log
line); otherwise one is generated. Readiness means the database can be written right now.

Its layer (pyproject.toml) is below the HTTP surfaces (bot.web) and the app that use it; it knows only
the store.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.store import Store

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("askcall_request_id", default="-")
REQUEST_ID_HEADER = "X-Request-Id"
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
READY_MAX_AGE = 1.0
log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Metrics:
    def __init__(self, max_age: float = 10.0) -> None:
        self.max_age = max_age
        self._rendered: tuple[float, bytes] | None = None
        self._refresh = asyncio.Lock()
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "askcall_http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            ["route"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.requests = Gauge(
            "askcall_requests",
            "Stored call-permission requests, by state and outcome",
            ["state", "outcome"],
            registry=self.registry,
        )
        self.webhook_events = Gauge(
            "askcall_webhook_events",
            "Stored Pilot Status webhook events, by result",
            ["result"],
            registry=self.registry,
        )
        self.delivery_attempts = Gauge(
            "askcall_slack_delivery_attempts",
            "Slack calls made for deliveries, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.delivery_failures = Gauge(
            "askcall_slack_delivery_failures",
            "Slack calls that failed (retried or given up), by kind",
            ["kind"],
            registry=self.registry,
        )
        self.deliveries_dead = Gauge(
            "askcall_slack_deliveries_dead", "Deliveries given up after their retries", registry=self.registry
        )
        self.calls = Gauge(
            "askcall_calls",
            "Browser calls, by state (started, ringing, connected, ended, failed) and end reason",
            ["state", "end_reason"],
            registry=self.registry,
        )
        self.calls_connected = Gauge(
            "askcall_calls_connected", "Browser calls the customer answered", registry=self.registry
        )
        self.call_seconds = Gauge(
            "askcall_call_duration_seconds_total", "Total duration of answered browser calls", registry=self.registry
        )
        self.pending = Gauge("askcall_pending_deliveries", "Slack deliveries not done yet", registry=self.registry)
        self.oldest_pending = Gauge(
            "askcall_oldest_pending_delivery_age_seconds", "Age of the oldest pending delivery", registry=self.registry
        )

        # Counted in process (since this process started), like latency.
        self.refused = Counter(
            "askcall_requests_refused",
            "Requests refused before anything was stored or sent, by reason (budget, open_request)",
            ["reason"],
            registry=self.registry,
        )

    def count_refusal(self, reason: str) -> None:
        self.refused.labels(reason=reason).inc()

    async def render(self, store: Store, now: float) -> bytes:
        """The exposition; the stored counts are re-read only when older than `max_age`, by one
        scrape at a time (the others wait for it and share its result)."""
        async with self._refresh:
            if self._rendered is None or time.monotonic() - self._rendered[0] >= self.max_age:
                await self._read_counts(store, now)
                self._rendered = (time.monotonic(), generate_latest(self.registry))
            else:  # latency is in process: always current
                self._rendered = (self._rendered[0], generate_latest(self.registry))
            return self._rendered[1]

    async def _read_counts(self, store: Store, now: float) -> None:
        snapshot = await store.metrics_snapshot()
        self.requests.clear()
        for (state, outcome), count in snapshot.requests.items():
            self.requests.labels(state=state, outcome=outcome or "none").set(count)
        self.webhook_events.clear()
        for result, count in snapshot.webhook_events.items():
            self.webhook_events.labels(result=result or "pending").set(count)
        for kind, (attempts, failures) in snapshot.delivery_attempts.items():
            self.delivery_attempts.labels(kind=kind).set(attempts)
            self.delivery_failures.labels(kind=kind).set(failures)
        self.calls.clear()
        for (state, reason), (count, _connected, _seconds) in snapshot.calls.items():
            self.calls.labels(state=state, end_reason=reason or "none").set(count)
        self.calls_connected.set(sum(connected for _count, connected, _seconds in snapshot.calls.values()))
        self.call_seconds.set(sum(seconds for _count, _connected, seconds in snapshot.calls.values()))
        self.deliveries_dead.set(snapshot.dead_deliveries)
        self.pending.set(snapshot.pending_deliveries)
        self.oldest_pending.set(max(now - snapshot.oldest_pending_at, 0.0) if snapshot.oldest_pending_at else 0.0)


def route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def middleware(metrics: Metrics) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Background work spawned while handling inherits this id (tasks copy the context).
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        REQUEST_ID.set(request_id)
        started = time.perf_counter()
        try:
            response = await handler(request)
        except web.HTTPException as answer:  # 408, 413…: answers too
            answer.headers[REQUEST_ID_HEADER] = request_id
            raise
        finally:
            metrics.latency.labels(route=route_name(request)).observe(time.perf_counter() - started)
        if not response.prepared:  # a streamed response has sent its headers already
            response.headers[REQUEST_ID_HEADER] = request_id
        return response

    return observe


def request_id_from(header: str | None) -> str:
    """The caller's id when it is short and plain (it is written into every log line); else a new one."""
    if header is not None and SAFE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex[:16]


def authorized(request: web.Request, token: str | None) -> bool:
    """No token configured, or `Authorization: Bearer <token>` (compared in constant time)."""
    if token is None:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


class Readiness:
    """Ready means the schema is current AND the database takes a write right now (a lock held
    elsewhere, a full disk, a read-only or corrupt file all make it unready) AND nothing else keeps
    work from arriving (`conditions`: Socket Mode disconnected). The database's answer is reused for
    `max_age` seconds, so probes cost one tiny write per second at most.

    The answer says what is wrong in words that don't say where the database lives (host, name, user,
    path): /readyz is on the public port. The log line has the details."""

    def __init__(
        self,
        store: Store,
        max_age: float = READY_MAX_AGE,
        conditions: Sequence[Callable[[], str | None]] = (),
    ) -> None:
        self._store = store
        self._max_age = max_age
        self._conditions = list(conditions)
        self._lock = asyncio.Lock()
        self._last: tuple[float, int, dict[str, object]] | None = None

    stopping = False  # set on SIGTERM: not ready from that moment on, whatever the database says

    async def response(self) -> web.Response:
        if self.stopping:
            return web.json_response({"status": "stopping"}, status=503)
        async with self._lock:
            if self._last is None or time.monotonic() - self._last[0] >= self._max_age:
                status, body = await self._check()
                self._last = (time.monotonic(), status, body)
            _, status, body = self._last
        problems = [problem for condition in self._conditions if (problem := condition())]
        if problems:
            status, body = 503, {**body, "status": "unavailable", "slack": "; ".join(problems)}
        return web.json_response(body, status=status)

    async def _check(self) -> tuple[int, dict[str, object]]:
        try:
            version = await self._store.schema_version()
            if version != self._store.latest_schema_version:
                return 503, {"status": "migrating", "schema": version}
            await self._store.probe_write()
        except Exception as error:  # any failure to reach or write the database means "not ready"
            log.warning("not ready: the database can't be written (%s)", error)
            return 503, {"status": "unavailable", "database": database_problem(error)}
        return 200, {"status": "ready", "schema": version}


# What /readyz may say about a database failure: a kind, never the text (it names the host, database, user, path).
DATABASE_PROBLEMS = (
    (("read-only", "readonly"), "the database is read-only"),
    (("locked", "busy", "lock timeout", "lock_timeout"), "the database is locked by another process"),
    (("is full", "no space", "disk full"), "the disk holding the database is full"),
    (("corrupt", "malformed", "not a database", "quick_check"), "the database is corrupt"),
    (("cannot be reached", "refused", "timed out", "timeout", "connect", "closed"), "the database can't be reached"),
)


def database_problem(error: BaseException) -> str:
    """A fixed phrase for what is wrong with the database; the details go to the log only."""
    text = str(error).lower()
    for words, phrase in DATABASE_PROBLEMS:
        if any(word in text for word in words):
            return phrase
    return "the database can't be written (details in AskCall's log)"


def metrics_response(body: bytes) -> web.Response:
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return response


class ServerLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server log, with requests it could not even parse (the client's garbage: a bad request
    line, oversized or malformed headers, a broken body encoding) as one-line warnings instead of
    ERROR tracebacks. Errors raised by AskCall's own handlers stay errors, with their traceback."""

    def exception(self, msg: object, *args: object, exc_info: object = True, **kwargs: object) -> None:
        error = exc_info if isinstance(exc_info, BaseException) else None
        if isinstance(error, HttpProcessingError):
            # The exception's text quotes the client's bytes: only its kind goes in the log.
            self.warning("refused a malformed HTTP request (%s %s)", error.code, type(error).__name__)
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)  # type: ignore[arg-type]


def server_log() -> ServerLog:
    return ServerLog(logging.getLogger("aiohttp.server"), {})


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log pipelines."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
