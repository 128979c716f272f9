"""Readiness, Prometheus metrics, request ids and JSON logs.

Counts (requests by outcome, webhook events by result, Slack delivery attempts, pending work) are
read from the store at scrape time: they are facts about persisted rows, so they are right after a
restart too. Only handler latency is measured in process.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest

from bot.store import Store

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("askcall_request_id", default="-")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Metrics:
    def __init__(self) -> None:
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
        self.pending = Gauge("askcall_pending_deliveries", "Slack deliveries not done yet", registry=self.registry)
        self.oldest_pending = Gauge(
            "askcall_oldest_pending_delivery_age_seconds", "Age of the oldest pending delivery", registry=self.registry
        )

    async def render(self, store: Store, now: float) -> bytes:
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
        self.deliveries_dead.set(snapshot.dead_deliveries)
        self.pending.set(snapshot.pending_deliveries)
        self.oldest_pending.set(max(now - snapshot.oldest_pending_at, 0.0) if snapshot.oldest_pending_at else 0.0)
        return generate_latest(self.registry)


def route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def middleware(metrics: Metrics) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Background work spawned while handling inherits this id (tasks copy the context).
        REQUEST_ID.set(request.headers.get("X-Request-Id") or uuid.uuid4().hex[:16])
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            metrics.latency.labels(route=route_name(request)).observe(time.perf_counter() - started)

    return observe


async def readyz(store: Store) -> web.Response:
    try:
        version = await store.schema_version()
    except Exception as error:  # any failure to reach the database means "not ready"
        return web.json_response({"status": "unavailable", "database": type(error).__name__}, status=503)
    if version != store.latest_schema_version:
        return web.json_response({"status": "migrating", "schema": version}, status=503)
    return web.json_response({"status": "ready", "schema": version})


def metrics_response(body: bytes) -> web.Response:
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return response


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
