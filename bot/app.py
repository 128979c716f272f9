"""The composition root: settings → store → clients → services → Bolt app → aiohttp app, and their lifecycle.

Nothing here handles a request. The HTTP surfaces are in bot/web (one module per surface), Slack's listeners
in bot/listeners, the work in bot/services. `AskCall.start` builds and starts what lives as long as the
process; `create_web_app` builds the aiohttp application around it. Nothing happens at import time.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from bot import __version__, observability
from bot.config import Settings
from bot.domain import TenantId
from bot.leases import HeldWork, LeaseKeeper
from bot.listeners import installs, register_listeners
from bot.listeners.authorize import InstalledAuthorize
from bot.listeners.context import ListenerContext
from bot.listeners.direct import DirectCommand
from bot.observability import Metrics, Readiness
from bot.pilot_status.pool import PilotStatusPool
from bot.services.access import AccessPolicy
from bot.services.answers import AnswerService
from bot.services.calls import CallService
from bot.services.connect import ConnectService
from bot.services.deps import ServiceDeps
from bot.services.home import HomeService
from bot.services.leaving import SingleWorkspaceLeaving
from bot.services.reminders import ReminderService
from bot.services.requests import RequestService
from bot.services.retention import retention_loop
from bot.services.settings import SettingsService
from bot.services.status import StatusService
from bot.services.welcome import WelcomeService
from bot.slack.env_installations import EnvInstallations
from bot.slack.gateway import SlackGateway
from bot.slack.installations import Installations
from bot.slack.languages import UserLanguages
from bot.slack.links import WorkspaceLinks
from bot.slack.notifier import Notifier, ParentHooks
from bot.slack.scopes import REQUIRED_BOT_SCOPES
from bot.slack.stored_installations import StoredInstallations
from bot.store import Store, create_store
from bot.store.installations import OAUTH_STATE_SECONDS
from bot.tasks import Tasks
from bot.tenant_config import EnvConfigs, StoredConfigs, TenantConfigs
from bot.web import install, socket_mode
from bot.web.body import LINGERING_TIME, MAX_BODY
from bot.web.call_page import CallPages
from bot.web.health import Health
from bot.web.metrics import MetricsEndpoint, serve_metrics
from bot.web.slack_events import SlackEvents
from bot.web.socket_mode import SocketMode
from bot.web.webhooks import PilotStatusWebhooks

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
    workspace: WorkspaceLinks
    bolt: AsyncApp
    # Slack's HTTP requests: `/askcall` directly, the rest through `bolt` (bot.listeners.direct).
    slack_http: DirectCommand
    leases: LeaseKeeper
    languages: UserLanguages
    # Who AskCall serves: the env token's workspace, or the workspaces installed through Add to Slack.
    installations: Installations
    # Single-workspace mode: the workspace the environment's numbers and webhook URLs serve (None with many).
    env_tenant: TenantId | None
    # Each workspace's settings and WhatsApp numbers (bot.tenant_config).
    configs: TenantConfigs
    # Multi-workspace mode: connecting each workspace's Pilot Status account from Slack (None with one workspace).
    connect: ConnectService | None
    metrics: Metrics = field(default_factory=Metrics)
    readiness: Readiness = field(init=False)
    background: list[asyncio.Task[None]] = field(default_factory=list)
    socket_mode: SocketMode | None = None

    @classmethod
    async def start(
        cls, settings: Settings, clock: Callable[[], float] = time.time, metrics: Metrics | None = None
    ) -> AskCall:
        metrics = metrics or Metrics(max_age=settings.metrics_max_age)
        first_socket_url = None
        if settings.slack_app_token:
            # A token Slack refuses stops the start here (AppTokenRefused), before anything is opened.
            verifier = AsyncWebClient(base_url=settings.slack_api_url, retry_handlers=[], logger=_quiet_sdk_logger())
            first_socket_url = await socket_mode.verify(verifier, settings.slack_app_token)
        # The store.
        store = create_store(
            settings.database.url, pool_size=settings.database.pool_size, lease_seconds=settings.lease_seconds
        )
        await store.open()
        tasks = Tasks()
        held = HeldWork()
        # Clients: Pilot Status (one per tenant and number) and Slack (the Web API, the delivery outbox, links,
        # languages).
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        # Retries are ours (durable, from the store), so the SDK's own retry handlers are off.
        # No token of its own: every call names the token of the tenant it is made for (`installations`).
        slack_client = AsyncWebClient(
            base_url=settings.slack_api_url,
            session=session,
            retry_handlers=[],
            logger=_quiet_sdk_logger(),
        )
        # Deliveries run on real time (Slack retries are about now); reminders follow `clock`.
        # Which installations the requests are authorized through, and whose token each Slack call names.
        stored = multi_workspace_installations(settings, store, session)
        installations: Installations
        if stored is not None:
            # Many workspaces: each installed through Add to Slack, its token in the store (encrypted).
            installations, env_tenant = stored, None
        else:
            # One workspace: the env token's (auth.test), recorded, and the rows made before tenancy adopted.
            try:
                env = await EnvInstallations.start(slack_client, settings.slack_bot_token or "", store)
            except BaseException:  # WorkspaceUnknown, or a database that failed meanwhile: nothing is left open
                await session.close()
                await store.close()
                raise
            installations, env_tenant = env, env.tenant
        workspace = WorkspaceLinks()
        for known in await store.workspaces():
            workspace.remember(known.tenant, known.url)
        if stored is None:
            workspace.remember(env.tenant, env.url)
        # Each workspace's settings and numbers: the environment's serve the env's workspace only; in
        # multi-workspace mode each workspace's own, as its admins set them in App Home.
        configs: TenantConfigs = (
            StoredConfigs(settings, store, settings.secrets(), clock=clock)
            if stored is not None
            else EnvConfigs(settings, env_tenant)
        )
        pilot = PilotStatusPool(settings, configs)
        connect = (
            ConnectService(
                store,
                configs,
                settings.secrets(),
                base_url=settings.pilot_status_base_url,
                public_url=settings.public_url,
                clock=clock,
            )
            if stored is not None
            else None
        )
        notifier = Notifier(
            store, SlackGateway(slack_client, session), settings.slack_retry, tasks, held, installations
        )
        languages = UserLanguages(store, slack_client, installations, settings.language, clock, configs)
        # Services.
        reminders = ReminderService(store, pilot, notifier.wake, clock, held)
        deps = ServiceDeps(store, pilot, workspace, notifier.wake, reminders.wake, clock, held)
        requests = RequestService(
            deps,
            tasks,
            phone_display=settings.phone_display,
            max_per_rep_per_hour=settings.max_requests_per_rep_per_hour,
            configs=configs,
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
        status = StatusService(deps)
        home = HomeService(store, workspace, clock)
        access = AccessPolicy(configs, slack_client, installations)
        # The Bolt app, with the listeners.
        # Every request is authorized through the installations: its tenant goes in the context for the listeners,
        # and a request naming a team AskCall doesn't serve gets Bolt's "not installed" answer.
        authorize = InstalledAuthorize(installations)
        bolt = AsyncApp(
            client=slack_client,
            authorize=authorize,
            signing_secret=settings.slack_signing_secret or "insecure-dev",
            request_verification_enabled=settings.slack_signing_secret is not None,
            # Listeners persist, ack, and hand slow work to background tasks themselves, so the
            # HTTP response can go out the moment the listener returns (no 10 ms ack polling).
            process_before_response=True,
            **(oauth_options(settings, stored) if stored is not None else {}),
        )
        if stored is not None:
            # app_uninstalled and tokens_revoked: Bolt's listeners, deleting through AskCall's installation store.
            bolt.enable_token_revocation_listeners()
        else:
            leaving = SingleWorkspaceLeaving(store, env)
            installs.register_single_workspace(bolt, leaving)
        if stored is not None:
            # Right after Add to Slack, the installer's welcome DM: stored before the success page answers.
            stored.sdk_store.installed = WelcomeService(store, configs, notifier.wake).welcome
        admin = SettingsService(store, slack_client, installations, configs, connect, settings.public_url, clock)
        context = ListenerContext(settings, requests, status, access, home, languages, tasks, calls, configs, admin)
        register_listeners(bolt, context)
        # POST /slack/events: `/askcall` without Bolt's dispatch around it (same steps), the rest through Bolt.
        slack_http = DirectCommand(bolt, authorize, context)
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
            slack_http,
            # Requests first: one caught mid-send must be marked unconfirmed before the notifier's
            # sweep can start new sends (which also pass through the sending state).
            LeaseKeeper(store, held, [requests.sweep, notifier.sweep, answers.sweep]),
            languages,
            installations,
            env_tenant,
            configs,
            connect,
            metrics,
        )
        if stored is None:
            askcall.background.append(asyncio.create_task(leaving.watch(), name="workspace-left-watch"))
        else:
            askcall.background.append(asyncio.create_task(stored.listen(), name="installations-listen"))
            askcall.background.append(asyncio.create_task(configs.listen(), name="workspace-settings-listen"))
        # Start: first take over abandoned work, then the loops.
        await askcall.leases.sweep()
        askcall.leases.start()
        notifier.start()
        reminders.start()
        retention = retention_loop(
            store,
            settings.retention_days,
            interval=settings.retention_interval_seconds,
            grace_days=settings.uninstall_grace_days,
            configs=configs if stored is not None else None,
        )
        askcall.background.append(asyncio.create_task(retention, name="retention"))
        askcall.background.append(asyncio.create_task(store.upkeep(tasks.yield_to_inbound), name="store-upkeep"))
        askcall.background.append(asyncio.create_task(store.listen(askcall._work_stored), name="store-listen"))
        askcall.background.append(
            asyncio.create_task(calls.run_sweeps(settings.calls_sweep_seconds), name="calls-sweep")
        )
        if settings.slack_app_token:
            # Slack traffic over a WebSocket, connected (and reconnected) in the background: the HTTP server still
            # serves webhooks, health and metrics meanwhile, and /readyz says why Slack can't reach AskCall.
            askcall.socket_mode = SocketMode(bolt, settings.slack_app_token, slack_client, first_socket_url)
            askcall.socket_mode.start()
        return askcall

    def __post_init__(self) -> None:
        self.readiness = Readiness(self.store, conditions=[self._slack_problem])
        self.draining = False
        self.aborted = False

    def _slack_problem(self) -> str | None:
        """Why Slack's traffic can't reach this AskCall now (Socket Mode disconnected; with one workspace, Slack
        said AskCall was uninstalled there or its token revoked), or None."""
        problems = [
            self.socket_mode.problem if self.socket_mode is not None else None,
            self.installations.problem if isinstance(self.installations, EnvInstallations) else None,
        ]
        return "; ".join(problem for problem in problems if problem) or None

    def startup_line(self, where: str) -> str:
        """The line `askcall serve` logs once it listens: version, mode, backend and schema (never a password)."""
        mode = "Socket Mode" if self.settings.slack_app_token else "HTTP"
        if self.settings.multi_workspace:
            mode += f" for many workspaces (Add to Slack at {self.settings.public_url}/)"
        return (
            f"AskCall {__version__} ready on {where}: Slack over {mode}, database {self.store.backend} "
            f"{self.settings.database.redacted()}, schema version {self.store.latest_schema_version}"
        )

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

    async def abort(self) -> None:
        """Stop at once, the way a killed process stops (for tests of what a crash leaves behind): leases are
        neither renewed nor released, so other instances take the work over only when they run out; work in
        flight is cancelled where it stands. `close` afterwards does nothing."""
        self.aborted = True
        self.readiness.stopping = True
        await self.leases.stop()
        for task in self.background:
            task.cancel()
        await self.tasks.drain(0, cancel_wait=CLOSE_TIMEOUT)
        await asyncio.gather(*self.background, self.notifier.stop(), self.reminders.stop(), return_exceptions=True)
        await self.calls.close()
        if self.socket_mode is not None:
            await self.socket_mode.close_async()
        await asyncio.gather(self.pilots.aclose(), self.session.close(), return_exceptions=True)
        await self.store.close()

    async def close(self, grace: float | None = None) -> None:
        """Graceful stop within `grace` seconds (default: the settings' shutdown grace): let in-flight
        work finish (or leave it persisted), then close everything."""
        if self.aborted:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.settings.shutdown_grace if grace is None else grace)
        if self.socket_mode is not None:
            await self.socket_mode.close()
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


def multi_workspace_installations(
    settings: Settings, store: Store, session: aiohttp.ClientSession
) -> StoredInstallations | None:
    """Multi-workspace mode's installations (with token rotation through Slack's API), or None with one bot token."""
    if not settings.multi_workspace:
        return None
    assert settings.slack_client_id and settings.slack_client_secret
    client = AsyncWebClient(
        base_url=settings.slack_api_url, session=session, retry_handlers=[], logger=_quiet_sdk_logger()
    )
    rotator = AsyncTokenRotator(
        client_id=settings.slack_client_id, client_secret=settings.slack_client_secret, client=client
    )
    return StoredInstallations(store, settings.secrets(), rotator)


def oauth_options(settings: Settings, installations: StoredInstallations) -> dict[str, object]:
    """Bolt's OAuth flow (Add to Slack) on AskCall's stores, and authorize through the installations' cache."""
    return {
        "oauth_settings": AsyncOAuthSettings(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            scopes=list(REQUIRED_BOT_SCOPES),
            redirect_uri=f"{settings.public_url}{install.REDIRECT_PATH}",
            install_path=install.INSTALL_PATH,
            redirect_uri_path=install.REDIRECT_PATH,
            # The landing page is the install page: /slack/install goes straight to Slack.
            install_page_rendering_enabled=False,
            authorization_url=settings.slack_authorize_url,
            installation_store=installations.sdk_store,
            installation_store_bot_only=True,
            state_store=installations.state_store,
            state_expiration_seconds=OAUTH_STATE_SECONDS,
            callback_options=install.callback_options(settings),
        ),
        "installation_store": installations.sdk_store,
    }


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
    settings: Settings,
    clock: Callable[[], float] = time.time,
    *,
    handle_sigterm: bool = False,
    metrics_socket: socket.socket | None = None,
) -> web.Application:
    metrics = Metrics(max_age=settings.metrics_max_age)
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[observability.middleware(metrics)],
        # After answering a request whose body never finished (408), aiohttp drains the rest for
        # LINGERING_TIME before closing. Requests it can't parse are logged as warnings, not as
        # ERROR tracebacks.
        handler_args={"lingering_time": LINGERING_TIME, "logger": observability.server_log()},
    )

    def running() -> AskCall:
        """The AskCall the routes serve: it starts with the server (`lifecycle`), after they are made."""
        return app[ASKCALL]

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        app[ASKCALL] = await AskCall.start(settings, clock, metrics)
        metrics_runner = None
        if settings.metrics_port is not None:
            endpoint = MetricsEndpoint(running, settings.metrics_token)
            metrics_runner = await serve_metrics(endpoint, settings.host, settings.metrics_port, metrics_socket)
        if handle_sigterm:  # replaces aiohttp's handler, which would close the listener at once
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, _on_sigterm, app, settings)
        yield
        log.info("AskCall shutting down")
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        left = settings.shutdown_grace - drain_seconds(settings) - http_shutdown_timeout(settings)
        await app[ASKCALL].close(max(left, 1.0))

    app.cleanup_ctx.append(lifecycle)
    # The HTTP surfaces, one module of bot/web each.
    if not settings.slack_app_token:
        SlackEvents(running, settings).register(app.router)
    PilotStatusWebhooks(running, settings).register(app.router)
    if settings.multi_workspace:
        install.InstallPages(running, settings).register(app.router)
    pages = CallPages(
        lambda: running().calls,
        lambda tenant, user_id: running().languages.name_for(tenant, user_id),
        public_url=settings.public_url,
        language=settings.language,
        body_timeout=settings.body_timeout,
    )
    pages.register(app.router)
    # At shutdown, before aiohttp waits for open requests: the pages' event streams end at once.
    app.on_shutdown.append(pages.close_streams)
    Health(running).register(app.router)
    if settings.metrics_port is None:
        MetricsEndpoint(running, settings.metrics_token).register(app.router)
    return app
