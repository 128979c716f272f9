"""Readiness, Prometheus metrics, request ids and JSON logs.

Counts (requests by outcome, webhook events by result, browser calls, Slack delivery attempts, pending work) are
read from the store: they are facts about persisted rows, so they are right after a restart too.
They are read at most once every `max_age` seconds, on a read-only connection in a worker thread,
never on the request path's connection; while the database is down the last ones are served, with their age.
Only handler latency and refusals are counted in process. Counters are counters (`_total`), gauges are not.

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
from collections.abc import Awaitable, Callable, Iterator, Sequence

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot import __version__
from bot.store import MetricsSnapshot, Store, StoreError

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("askcall_request_id", default="-")
REQUEST_ID_HEADER = "X-Request-Id"
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
READY_MAX_AGE = 1.0
log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Metrics:
    """The /metrics registry: handler latency and refusals counted in process, the process and platform
    collectors, `askcall_build_info`, and the counts read from the store (`StoredCounts`).

    The stored counts are read at most once every `max_age` seconds, by one scrape at a time. When the read
    fails (the database is down), the scrape still succeeds: it serves the last counts it has, with
    `askcall_database_up 0` and their age in `askcall_stored_counts_age_seconds`, so the outage is watched rather
    than scraped as a failure."""

    def __init__(self, max_age: float = 10.0) -> None:
        self.max_age = max_age
        self._refresh = asyncio.Lock()
        self.registry = CollectorRegistry()
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=self.registry)
        self.build = Info(
            "askcall_build", "The AskCall release and the database schema version it runs", registry=self.registry
        )
        self.stored = StoredCounts()
        self.registry.register(self.stored)
        self.latency = Histogram(
            "askcall_http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            ["route"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
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
        """The exposition; the stored counts are re-read only when older than `max_age`, by one scrape at a
        time (the others wait for it and share its result)."""
        self.build.info({"version": __version__, "schema": str(store.latest_schema_version)})
        async with self._refresh:
            if self.stored.age(time.monotonic()) is None or self.stored.age(time.monotonic()) >= self.max_age:
                try:
                    self.stored.update(await store.metrics_snapshot(), now, time.monotonic())
                except StoreError as error:  # served anyway: the last counts, marked stale
                    if self.stored.database_up:
                        log.warning("could not read the counts for /metrics (%s); serving the last ones", error)
                    self.stored.database_up = False
        return generate_latest(self.registry)


class StoredCounts(Collector):
    """The facts /metrics reads from the store (bot.store.MetricsSnapshot), as of the last read that worked.

    Monotonic totals (delivery attempts and failures, answered calls, call seconds) are counters; the rest are
    gauges of what the store holds now."""

    def __init__(self) -> None:
        self.snapshot: MetricsSnapshot | None = None
        self.oldest_pending_age = 0.0
        self.read_at: float | None = None  # time.monotonic() of the last read that worked
        self.database_up = False

    def update(self, snapshot: MetricsSnapshot, now: float, monotonic: float) -> None:
        self.snapshot, self.read_at, self.database_up = snapshot, monotonic, True
        oldest = snapshot.oldest_pending_at
        self.oldest_pending_age = max(now - oldest, 0.0) if oldest else 0.0

    def age(self, monotonic: float) -> float | None:
        return None if self.read_at is None else monotonic - self.read_at

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "askcall_database_up",
            "1 when the last read of the stored counts worked, 0 while the database can't be read",
            value=1 if self.database_up else 0,
        )
        age = self.age(time.monotonic())
        if age is not None:
            yield GaugeMetricFamily(
                "askcall_stored_counts_age_seconds",
                "Seconds since the counts read from the database were read (they grow old while it is down)",
                value=age,
            )
        if self.snapshot is not None:
            yield from _families(self.snapshot, self.oldest_pending_age)


def _families(snapshot: MetricsSnapshot, oldest_pending_age: float) -> Iterator[Metric]:
    requests = GaugeMetricFamily(
        "askcall_requests", "Stored call-permission requests, by state and outcome", labels=["outcome", "state"]
    )
    for (state, outcome), count in snapshot.requests.items():
        requests.add_metric([outcome or "none", state], count)
    events = GaugeMetricFamily(
        "askcall_webhook_events", "Stored Pilot Status webhook events, by result", labels=["result"]
    )
    for result, count in snapshot.webhook_events.items():
        events.add_metric([result or "pending"], count)
    attempts = CounterMetricFamily(
        "askcall_slack_delivery_attempts", "Slack calls made for deliveries, by kind", labels=["kind"]
    )
    failures = CounterMetricFamily(
        "askcall_slack_delivery_failures", "Slack calls that failed (retried or given up), by kind", labels=["kind"]
    )
    for kind, (tried, failed) in snapshot.delivery_attempts.items():
        attempts.add_metric([kind], tried)
        failures.add_metric([kind], failed)
    calls = GaugeMetricFamily(
        "askcall_calls",
        "Browser calls, by state (started, ringing, connected, ended, failed) and end reason",
        labels=["end_reason", "state"],
    )
    for (state, reason), (count, _connected, _seconds) in snapshot.calls.items():
        calls.add_metric([reason or "none", state], count)
    answered = sum(connected for _count, connected, _seconds in snapshot.calls.values())
    seconds = sum(seconds for _count, _connected, seconds in snapshot.calls.values())
    yield from (requests, events, attempts, failures, calls)
    yield CounterMetricFamily("askcall_calls_connected", "Browser calls the customer answered", value=answered)
    yield CounterMetricFamily("askcall_call_duration_seconds", "Talk time of answered browser calls", value=seconds)
    yield GaugeMetricFamily(
        "askcall_slack_deliveries_dead", "Deliveries given up after their retries", value=snapshot.dead_deliveries
    )
    yield GaugeMetricFamily(
        "askcall_pending_deliveries", "Slack deliveries not done yet", value=snapshot.pending_deliveries
    )
    yield GaugeMetricFamily(
        "askcall_oldest_pending_delivery_age_seconds",
        "Age of the oldest pending delivery when the counts were read",
        value=oldest_pending_age,
    )


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
    elsewhere, a full disk, a read-only or corrupt file all make it unready). The database's answer is
    reused for `max_age` seconds, so probes cost one tiny write per second at most.

    `conditions` (Socket Mode disconnected) degrade the answer without making it unready: it stays 200,
    with `"status": "degraded"` and the reason in `"slack"`. A lost Slack connection is usually Slack's
    outage, felt by every replica at once; pulling them all from the load balancer would refuse the
    Pilot Status webhooks each replica can still store, and the outbox delivers once Slack is back.

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
        if problems and status == 200:
            body = {**body, "status": "degraded", "slack": "; ".join(problems)}
        elif problems:
            body = {**body, "slack": "; ".join(problems)}
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
