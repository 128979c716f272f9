"""App factory: wires the store, clients, services and Bolt into one aiohttp application."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import observability
from bot.admin.retention import retention_loop
from bot.config import Settings, WhatsAppNumber
from bot.domain import CLOCK_SKEW
from bot.leases import HeldWork, LeaseKeeper
from bot.listeners import inbound, register_listeners
from bot.listeners.context import ListenerContext
from bot.observability import Metrics, Readiness
from bot.pilot_status.pool import PilotStatusPool
from bot.pilot_status.webhooks import (
    CALL_EVENTS,
    SIGNATURE_HEADER,
    PayloadError,
    UnusableEvent,
    parse_body,
    parse_call_event,
    parse_permission_updated,
    verify_signature,
)
from bot.services.access import AccessPolicy
from bot.services.answers import AnswerService
from bot.services.calls import CallService
from bot.services.deps import ServiceDeps
from bot.services.home import HomeService
from bot.services.reminders import ReminderService
from bot.services.requests import RequestService
from bot.services.status import StatusService
from bot.slack.gateway import SlackGateway
from bot.slack.languages import UserLanguages
from bot.slack.links import Workspace
from bot.slack.notifier import Notifier, ParentHooks
from bot.store import Store, StoreError, create_store
from bot.tasks import Tasks
from bot.web.routes import CallPages

log = logging.getLogger(__name__)


@dataclass
class AskCall:
    """Everything that lives as long as the process."""

    settings: Settings
    store: Store
    tasks: Tasks
    pilots: PilotStatusPool
    session: aiohttp.ClientSession
    slack_client: AsyncWebClient
    notifier: Notifier
    requests: RequestService
    answers: AnswerService
    calls: CallService
    reminders: ReminderService
    workspace: Workspace
    bolt: AsyncApp
    leases: LeaseKeeper
    languages: UserLanguages
    metrics: Metrics = field(default_factory=Metrics)
    readiness: Readiness = field(init=False)
    background: list[asyncio.Task[None]] = field(default_factory=list)
    socket_mode: AsyncSocketModeHandler | None = None

    @classmethod
    async def start(
        cls, settings: Settings, clock: Callable[[], float] = time.time, metrics: Metrics | None = None
    ) -> AskCall:
        metrics = metrics or Metrics(max_age=settings.metrics_max_age)
        store = create_store(
            settings.database.url, pool_size=settings.database.pool_size, lease_seconds=settings.lease_seconds
        )
        await store.open()
        tasks = Tasks()
        held = HeldWork()
        pilot = PilotStatusPool(settings)
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        # Retries are ours (durable, from the store), so the SDK's own retry handlers are off.
        slack_client = AsyncWebClient(
            token=settings.slack_bot_token,
            base_url=settings.slack_api_url,
            session=session,
            retry_handlers=[],
            logger=_quiet_sdk_logger(),
        )
        # Deliveries run on real time (Slack retries are about now); reminders follow `clock`.
        notifier = Notifier(store, SlackGateway(slack_client, session), settings.slack_retry, tasks, held)
        workspace = Workspace(slack_client)
        await workspace.load()
        reminders = ReminderService(store, pilot, notifier.wake, clock, held)
        deps = ServiceDeps(store, pilot, workspace, notifier.wake, reminders.wake, clock, held)
        requests = RequestService(
            deps,
            tasks,
            phone_display=settings.phone_display,
            max_per_rep_per_hour=settings.max_requests_per_rep_per_hour,
            on_refused=metrics.count_refusal,
        )
        notifier.hooks = ParentHooks(posted=requests.parent_posted, failed=requests.parent_failed)
        answers = AnswerService(deps, tasks)
        calls = CallService(
            deps,
            public_url=settings.public_url,
            phone_display=settings.phone_display,
            start_grace=2 * settings.pilot_status_timeout + 15,
        )
        bolt = AsyncApp(
            client=slack_client,
            signing_secret=settings.slack_signing_secret or "insecure-dev",
            request_verification_enabled=settings.slack_signing_secret is not None,
            # Listeners persist, ack, and hand slow work to background tasks themselves, so the
            # HTTP response can go out the moment the listener returns (no 10 ms ack polling).
            process_before_response=True,
        )
        status = StatusService(deps)
        languages = UserLanguages(store, slack_client, settings.language, clock)
        home = HomeService(store, workspace, clock)
        access = AccessPolicy(settings, slack_client)
        register_listeners(
            bolt, ListenerContext(settings, requests, status, access, home, languages, tasks, slack_client, calls)
        )
        askcall = cls(
            settings,
            store,
            tasks,
            pilot,
            session,
            slack_client,
            notifier,
            requests,
            answers,
            calls,
            reminders,
            workspace,
            bolt,
            # Requests first: one caught mid-send must be marked unconfirmed before the notifier's
            # sweep can start new sends (which also pass through the sending state).
            LeaseKeeper(store, held, [requests.sweep, notifier.sweep, answers.sweep]),
            languages,
            metrics,
        )
        await askcall.leases.sweep()
        askcall.leases.start()
        notifier.start()
        reminders.start()
        askcall.background.append(asyncio.create_task(retention_loop(store, settings.retention_days), name="retention"))
        askcall.background.append(asyncio.create_task(store.upkeep(tasks.yield_to_inbound), name="store-upkeep"))
        askcall.background.append(asyncio.create_task(store.listen(askcall._work_stored), name="store-listen"))
        askcall.background.append(asyncio.create_task(calls.run_sweeps(), name="calls-sweep"))
        if settings.slack_app_token:
            # Slack traffic over a WebSocket; the HTTP server still serves webhooks, health and metrics.
            askcall.socket_mode = AsyncSocketModeHandler(bolt, settings.slack_app_token, web_client=slack_client)
            await askcall.socket_mode.connect_async()
        return askcall

    def __post_init__(self) -> None:
        self.readiness = Readiness(self.store)
        self.draining = False

    async def begin_shutdown(self) -> None:
        """SIGTERM: from this moment /readyz answers 503 and no new work is claimed; requests still
        arriving are served (and stored, for another replica to run), and work in flight goes on."""
        if self.draining:
            return
        self.draining = True
        self.readiness.stopping = True
        self.leases.sweeping = False
        log.info("stopping: not ready any more, claiming no new work")
        await self.notifier.stop()
        await self.reminders.stop()

    def _work_stored(self) -> None:
        """Another replica stored deliveries or reminders: look now, not at the next poll."""
        self.notifier.wake()
        self.reminders.wake()

    async def close(self, grace: float | None = None) -> None:
        """Graceful stop within `grace` seconds (default: the settings' shutdown grace): let in-flight
        work finish (or leave it persisted), then close everything."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.settings.shutdown_grace if grace is None else grace)
        if self.socket_mode is not None:
            await self.socket_mode.close_async()
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        await self.calls.close()
        # No new work is claimed; deliveries in flight and Pilot Status calls get the grace period,
        # with their leases still renewed.
        await self.begin_shutdown()
        # Background work gets most of what is left of the grace; closing the clients the rest.
        budget = max(deadline - loop.time(), 0.1)
        await self.tasks.drain(budget * 0.75, cancel_wait=budget * 0.1)
        await self.leases.stop()
        try:
            # What was cut short is taken over by another replica now, not when its lease runs out.
            await self.store.release_leases()
        except Exception as error:
            log.warning("could not release this process's leases (%s); they run out by themselves", error)
        # Bounded: a client stuck on a connection must not keep the process from exiting.
        for closing in (self.pilots.aclose(), self.session.close()):
            try:
                await asyncio.wait_for(closing, max(min(deadline - loop.time(), CLOSE_TIMEOUT), 0.1))
            except TimeoutError:
                log.warning("an HTTP client did not close in time")
        await self.store.close()


ASKCALL = web.AppKey("askcall", AskCall)
# Of the shutdown grace: what closing the HTTP clients may take at most.
CLOSE_TIMEOUT = 1.0
# Of the shutdown grace: how long open connections (requests being handled, bodies still arriving)
# get before they are cancelled; the rest goes to background work (`AskCall.close`).
HTTP_SHARE = 1 / 3


def _quiet_sdk_logger() -> logging.Logger:
    """slack_sdk builds its DEBUG request/response messages whenever its logger's *own* level is
    NOTSET, even if nothing would print them (and they carry message text): an explicit WARNING
    level skips that work on every Slack call."""
    logger = logging.getLogger("slack_sdk.web.askcall")
    logger.setLevel(logging.WARNING)
    return logger


# What a 503 asks the sender to wait before retrying, while the database is unreachable.
RETRY_AFTER = 30
MAX_BODY = 1024**2  # larger bodies get 413 (Slack's and Pilot Status's are a few KiB)
LINGERING_TIME = 1.0


# Open HTTP connections (a request being handled, a body still arriving) get at most this long at
# shutdown: a stalled client never holds the stop anywhere near a container's 10 s stop timeout.
HTTP_SHUTDOWN_MAX = 3.0
# Between SIGTERM and closing the listener: /readyz already says 503, so a load balancer stops
# sending new traffic, while whatever still arrives is served.
DRAIN_SECONDS = 2.0


def http_shutdown_timeout(settings: Settings) -> float:
    """`shutdown_timeout` for aiohttp: the HTTP share of the shutdown grace, a few seconds at most."""
    return min(settings.shutdown_grace * HTTP_SHARE, HTTP_SHUTDOWN_MAX)


def drain_seconds(settings: Settings) -> float:
    return min(DRAIN_SECONDS, settings.shutdown_grace / 4)


def _on_sigterm(app: web.Application, settings: Settings) -> None:
    """SIGTERM from `askcall serve`: not ready at once, stop claiming work, and close the listener a
    moment later (aiohttp's own graceful stop then lets open requests and background work finish)."""
    loop = asyncio.get_running_loop()

    def stop_serving() -> None:
        raise web.GracefulExit()  # propagates out of the loop, as aiohttp's own signal handler does

    if ASKCALL in app and not app[ASKCALL].draining:
        app[ASKCALL].tasks.spawn(app[ASKCALL].begin_shutdown(), name="begin-shutdown")
        loop.call_later(drain_seconds(settings), stop_serving)


def create_web_app(
    settings: Settings, clock: Callable[[], float] = time.time, *, handle_sigterm: bool = False
) -> web.Application:
    metrics = Metrics(max_age=settings.metrics_max_age)
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[observability.middleware(metrics)],
        # After answering a request whose body never finished (408), aiohttp drains the rest for
        # this long before closing; its default (10 s) would let a stalled client keep the socket.
        # Requests it can't parse are logged as warnings, not as ERROR tracebacks.
        handler_args={"lingering_time": LINGERING_TIME, "logger": observability.server_log()},
    )

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        app[ASKCALL] = await AskCall.start(settings, clock, metrics)
        metrics_runner = await _serve_metrics(app[ASKCALL], settings) if settings.metrics_port is not None else None
        log.info("AskCall ready on %s:%d", settings.host, settings.port)
        if handle_sigterm:  # replaces aiohttp's handler, which would close the listener at once
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, _on_sigterm, app, settings)
        yield
        log.info("AskCall shutting down")
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        left = settings.shutdown_grace - drain_seconds(settings) - http_shutdown_timeout(settings)
        await app[ASKCALL].close(max(left, 1.0))

    app.cleanup_ctx.append(lifecycle)
    if not settings.slack_app_token:
        app.router.add_post("/slack/events", slack_events)
    for number in settings.numbers:
        app.router.add_post(number.webhook_path, partial(pilot_status_webhook, number))
    if settings.number_for_channel(None) is not None:
        app.router.add_post("/webhooks/pilot-status/default", partial(pilot_status_webhook, settings.numbers[0]))
    CallPages(
        lambda: app[ASKCALL].calls,
        lambda user_id: app[ASKCALL].languages.name_for(user_id),
        public_url=settings.public_url,
        language=settings.language,
    ).register(app.router)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readiness)
    if settings.metrics_port is None:
        app.router.add_get("/metrics", metrics_endpoint)
    return app


async def _serve_metrics(askcall: AskCall, settings: Settings) -> web.AppRunner:
    """/metrics alone, on ASKCALL_METRICS_PORT (a port only the metrics network need reach)."""
    metrics_app = web.Application()
    metrics_app[ASKCALL] = askcall
    metrics_app.router.add_get("/metrics", metrics_endpoint)
    runner = web.AppRunner(metrics_app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.metrics_port)
    await site.start()
    log.info("metrics on %s:%d", settings.host, settings.metrics_port)
    return runner


async def read_body(request: web.Request, timeout: float) -> bytes:  # noqa: ASYNC109
    """The whole body; else 408 when the client has not sent it within `timeout`, 413 past the size
    limit, 400 (logged at INFO, no traceback) when it hung up halfway.

    A slow or stalled client holds nothing but its own connection: no request counts as inbound work
    until its body is here, and the connection is closed soon after the 408 (`LINGERING_TIME`).
    """
    try:
        async with asyncio.timeout(timeout):
            return await request.read()
    except TimeoutError:
        log.warning("a client did not send its request body within %.1f s", timeout)
        raise web.HTTPRequestTimeout(
            text='{"error": "request body not received in time"}', content_type="application/json"
        ) from None
    except ConnectionResetError:  # the client hung up mid-body: nobody is left to answer
        log.info("a client hung up before sending its whole request body")
        raise web.HTTPBadRequest(text='{"error": "connection lost"}', content_type="application/json") from None


async def slack_events(request: web.Request) -> web.Response:
    askcall = request.app[ASKCALL]
    body = await read_body(request, askcall.settings.body_timeout)
    secret = askcall.settings.slack_signing_secret
    try:
        bolt_request = inbound.bolt_request(body, request.query_string, request.headers, secret, time.time())
    except inbound.Refused as refused:
        log.warning("refused a Slack request: %s", refused.reason)
        return web.json_response({"error": refused.reason}, status=refused.status)
    with askcall.tasks.inbound():
        response = await askcall.bolt.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)


async def pilot_status_webhook(number: WhatsAppNumber, request: web.Request) -> web.Response:
    askcall = request.app[ASKCALL]
    body = await read_body(request, askcall.settings.body_timeout)
    secret = number.webhook_secret
    if secret is not None and not verify_signature(secret, body, request.headers.get(SIGNATURE_HEADER)):
        log.warning("rejected a Pilot Status webhook with a missing or wrong signature")
        return web.json_response({"error": "invalid signature"}, status=401)
    with askcall.tasks.inbound():
        try:
            return await _handle_webhook(askcall, number, body)
        except StoreError as error:
            # Never a 200 for what was not stored: Pilot Status retries it once the database is back.
            log.warning("could not store a Pilot Status webhook (%s); answered 503", error)
            return web.json_response(
                {"error": "temporarily unavailable"}, status=503, headers={"Retry-After": str(RETRY_AFTER)}
            )


async def _handle_webhook(askcall: AskCall, number: WhatsAppNumber, body: bytes) -> web.Response:
    try:
        data = parse_body(body)
    except PayloadError as error:
        log.warning("refused a Pilot Status webhook: %s", error)
        return web.json_response({"error": str(error)}, status=400)
    if isinstance(data.get("event"), str) and data["event"] in CALL_EVENTS:
        return await _handle_call_event(askcall, number, data, body)
    try:
        event = parse_permission_updated(data)
    except UnusableEvent as unusable:
        # Signed, but nothing AskCall can act on (a new status, another event): refusing it would
        # only make Pilot Status retry for days. Kept and counted instead.
        recorded = await askcall.answers.ignore(data, body, number.name, str(unusable))
        return web.json_response({"ok": True, "ignored": True, "duplicate": not recorded.is_new})
    if event.answered_at > time.time() + CLOCK_SKEW:
        log.warning("refused a Pilot Status webhook stamped %.0f s in the future", event.answered_at - time.time())
        return web.json_response({"error": "timestamp is in the future"}, status=400)
    recorded = await askcall.answers.ingest(event, body, number.name)
    if recorded.is_new and not recorded.unmatched:
        askcall.tasks.spawn(askcall.answers.process(recorded.id, event.customer_key), name=f"answer-{recorded.id}")
    return web.json_response({"ok": True, "duplicate": not recorded.is_new})


async def _handle_call_event(
    askcall: AskCall, number: WhatsAppNumber, data: dict[str, Any], body: bytes
) -> web.Response:
    """A browser call's call.* event: applied to its call (by callId), stored once, pushed to its page."""
    try:
        event = parse_call_event(data)
    except UnusableEvent as unusable:
        recorded = await askcall.answers.ignore(data, body, number.name, str(unusable))
        return web.json_response({"ok": True, "ignored": True, "duplicate": not recorded.is_new})
    is_new = await askcall.calls.on_event(event, body, number.name)
    return web.json_response({"ok": True, "duplicate": not is_new})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readiness(request: web.Request) -> web.Response:
    return await request.app[ASKCALL].readiness.response()


async def metrics_endpoint(request: web.Request) -> web.Response:
    askcall = request.app[ASKCALL]
    if not observability.authorized(request, askcall.settings.metrics_token):
        return web.json_response(
            {"error": "a bearer token is required"}, status=401, headers={"WWW-Authenticate": "Bearer"}
        )
    try:
        body = await askcall.metrics.render(askcall.store, time.time())
    except StoreError as error:  # the scrape fails (Prometheus marks it down), not the server
        log.warning("could not read the counts for /metrics (%s)", error)
        return web.json_response({"error": "the database can't be read"}, status=503)
    return observability.metrics_response(body)
