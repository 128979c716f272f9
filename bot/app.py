"""App factory: wires the store, clients, services and Bolt into one aiohttp application."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import observability
from bot.admin.retention import retention_loop
from bot.config import Settings, WhatsAppNumber
from bot.leases import HeldWork, LeaseKeeper
from bot.notifier import Notifier, ParentHooks
from bot.observability import Metrics
from bot.pilot_status.pool import PilotStatusPool
from bot.pilot_status.webhooks import (
    PERMISSION_UPDATED,
    SIGNATURE_HEADER,
    PayloadError,
    parse_body,
    parse_permission_updated,
    verify_signature,
)
from bot.services.access import AccessPolicy
from bot.services.answers import AnswerService
from bot.services.deps import ServiceDeps
from bot.services.home import HomeService
from bot.services.reminders import ReminderService
from bot.services.requests import RequestService
from bot.services.status import StatusService
from bot.slack.gateway import SlackGateway
from bot.slack.languages import UserLanguages
from bot.slack.links import Workspace
from bot.slack.listeners import register_listeners
from bot.slack.listeners.context import ListenerContext
from bot.store import Store, create_store
from bot.tasks import Tasks

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
    reminders: ReminderService
    workspace: Workspace
    bolt: AsyncApp
    leases: LeaseKeeper
    metrics: Metrics = field(default_factory=Metrics)
    background: list[asyncio.Task[None]] = field(default_factory=list)
    socket_mode: AsyncSocketModeHandler | None = None

    @classmethod
    async def start(cls, settings: Settings, clock: Callable[[], float] = time.time) -> AskCall:
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
        requests = RequestService(deps, tasks, phone_display=settings.phone_display)
        notifier.hooks = ParentHooks(posted=requests.parent_posted, failed=requests.parent_failed)
        answers = AnswerService(deps, tasks)
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
            bolt, ListenerContext(settings, requests, status, access, home, languages, tasks, slack_client)
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
            reminders,
            workspace,
            bolt,
            # Requests first: one caught mid-send must be marked unconfirmed before the notifier's
            # sweep can start new sends (which also pass through the sending state).
            LeaseKeeper(store, held, [requests.sweep, notifier.sweep, answers.sweep]),
        )
        await askcall.leases.sweep()
        askcall.leases.start()
        notifier.start()
        reminders.start()
        askcall.background.append(asyncio.create_task(retention_loop(store, settings.retention_days), name="retention"))
        askcall.background.append(asyncio.create_task(store.upkeep(tasks.yield_to_inbound), name="store-upkeep"))
        askcall.background.append(asyncio.create_task(store.listen(askcall._work_stored), name="store-listen"))
        if settings.slack_app_token:
            # Slack traffic over a WebSocket; the HTTP server still serves webhooks, health and metrics.
            askcall.socket_mode = AsyncSocketModeHandler(bolt, settings.slack_app_token, web_client=slack_client)
            await askcall.socket_mode.connect_async()
        return askcall

    def _work_stored(self) -> None:
        """Another replica stored deliveries or reminders: look now, not at the next poll."""
        self.notifier.wake()
        self.reminders.wake()

    async def close(self) -> None:
        """Graceful stop: let in-flight work finish (or leave it persisted), then close everything."""
        if self.socket_mode is not None:
            await self.socket_mode.close_async()
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        # No new work is claimed; deliveries in flight and Pilot Status calls get the grace period.
        await self.leases.stop()
        await self.notifier.stop()
        await self.reminders.stop()
        await self.tasks.drain(self.settings.shutdown_grace)
        try:
            # What was cut short is taken over by another replica now, not when its lease runs out.
            await self.store.release_leases()
        except Exception as error:
            log.warning("could not release this process's leases (%s); they run out by themselves", error)
        # Bounded: a client stuck on a connection must not keep the process from exiting.
        for closing in (self.pilots.aclose(), self.session.close()):
            try:
                await asyncio.wait_for(closing, CLOSE_TIMEOUT)
            except TimeoutError:
                log.warning("an HTTP client did not close within %.0f s", CLOSE_TIMEOUT)
        await self.store.close()


ASKCALL = web.AppKey("askcall", AskCall)
CLOSE_TIMEOUT = 5.0


def _quiet_sdk_logger() -> logging.Logger:
    """slack_sdk builds its DEBUG request/response messages whenever its logger's *own* level is
    NOTSET, even if nothing would print them (and they carry message text): an explicit WARNING
    level skips that work on every Slack call."""
    logger = logging.getLogger("slack_sdk.web.askcall")
    logger.setLevel(logging.WARNING)
    return logger


def create_web_app(settings: Settings, clock: Callable[[], float] = time.time) -> web.Application:
    metrics = Metrics()
    app = web.Application(client_max_size=1024**2, middlewares=[observability.middleware(metrics)])

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        app[ASKCALL] = await AskCall.start(settings, clock)
        app[ASKCALL].metrics = metrics
        log.info("AskCall ready on %s:%d", settings.host, settings.port)
        yield
        log.info("AskCall shutting down")
        await app[ASKCALL].close()

    app.cleanup_ctx.append(lifecycle)
    if not settings.slack_app_token:
        app.router.add_post("/slack/events", slack_events)
    for number in settings.numbers:
        app.router.add_post(number.webhook_path, partial(pilot_status_webhook, number))
    if settings.number_for_channel(None) is not None:
        app.router.add_post("/webhooks/pilot-status/default", partial(pilot_status_webhook, settings.numbers[0]))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readiness)
    app.router.add_get("/metrics", metrics_endpoint)
    return app


async def slack_events(request: web.Request) -> web.Response:
    askcall = request.app[ASKCALL]
    with askcall.tasks.inbound():
        response = await askcall.bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)


async def pilot_status_webhook(number: WhatsAppNumber, request: web.Request) -> web.Response:
    askcall = request.app[ASKCALL]
    with askcall.tasks.inbound():
        return await _handle_webhook(askcall, number, request)


async def _handle_webhook(askcall: AskCall, number: WhatsAppNumber, request: web.Request) -> web.Response:
    body = await request.read()
    secret = number.webhook_secret
    if secret is not None and not verify_signature(secret, body, request.headers.get(SIGNATURE_HEADER)):
        log.warning("rejected a Pilot Status webhook with a missing or wrong signature")
        return web.json_response({"error": "invalid signature"}, status=401)
    try:
        data = parse_body(body)
        if data.get("event") != PERMISSION_UPDATED:
            log.info("ignored Pilot Status event %r", str(data.get("event"))[:64])
            return web.json_response({"ok": True, "ignored": True})
        event = parse_permission_updated(data)
    except PayloadError as error:
        return web.json_response({"error": str(error)}, status=400)
    recorded = await askcall.answers.ingest(event, body, number.name)
    if recorded.is_new and not recorded.unmatched:
        askcall.tasks.spawn(askcall.answers.process(recorded.id, event.customer_key), name=f"answer-{recorded.id}")
    return web.json_response({"ok": True, "duplicate": not recorded.is_new})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readiness(request: web.Request) -> web.Response:
    return await observability.readyz(request.app[ASKCALL].store)


async def metrics_endpoint(request: web.Request) -> web.Response:
    askcall = request.app[ASKCALL]
    return observability.metrics_response(await askcall.metrics.render(askcall.store, time.time()))
