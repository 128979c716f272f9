"""Slack's traffic over Socket Mode (SLACK_APP_TOKEN): one WebSocket to Slack, kept open by AskCall itself.

Invariant: a token Slack refuses stops start-up (`verify`, before anything else starts: bot.app). After that,
nothing about the connection stops AskCall or holds up its HTTP server (webhooks, health, metrics): a failed
attempt or a dropped connection is retried with backoff (1 s, doubling, at most a minute), one warning line each,
and `problem` says why Slack's traffic can't arrive (for /readyz) until the connection is back. The SDK's own
reconnection, which retries every few seconds forever with a traceback each time, is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.app_token import AppTokenRefused, open_connection_url

log = logging.getLogger(__name__)

BACKOFF_START = 1.0
BACKOFF_MAX = 60.0
WATCH_EVERY = 0.5  # how often the connection is looked at
CONNECT_TIMEOUT = 15.0  # one attempt: the WebSocket handshake after apps.connections.open
UNREACHABLE = (SlackApiError, SlackClientError, aiohttp.ClientError, OSError, TimeoutError, ValueError)


async def verify(web_client: AsyncWebClient, app_token: str) -> str | None:
    """A WebSocket URL for the first connection; AppTokenRefused when Slack refuses the token. None when Slack
    can't be reached now: that is left to the retries."""
    try:
        return await open_connection_url(web_client, app_token)
    except UNREACHABLE as error:
        log.warning("could not reach Slack to check SLACK_APP_TOKEN (%s); Socket Mode keeps trying", _why(error))
        return None


class SocketMode:
    def __init__(
        self, bolt: AsyncApp, app_token: str, web_client: AsyncWebClient, first_url: str | None = None
    ) -> None:
        self._handler = AsyncSocketModeHandler(bolt, app_token, web_client=web_client, logger=_sdk_logger())
        self._client = self._handler.client
        # AskCall reconnects itself (`_keep_connected`); the SDK would also reconnect from its session monitor.
        self._client.default_auto_reconnect_enabled = False
        self._client.auto_reconnect_enabled = False
        self._web_client = web_client
        self._token = app_token
        self._url = first_url  # from `verify`, for the first attempt
        self._task: asyncio.Task[None] | None = None
        self.problem: str | None = "not connected to Slack over Socket Mode yet"

    def start(self) -> None:
        self._task = asyncio.create_task(self._keep_connected(), name="socket-mode")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._handler.close_async()

    async def _keep_connected(self) -> None:
        delay = BACKOFF_START
        while True:
            if self.problem is None and await self._client.is_connected():
                await asyncio.sleep(WATCH_EVERY)
                continue
            if self.problem is None:
                self.problem = "the Socket Mode connection to Slack dropped; reconnecting"
                log.warning("%s", self.problem)
            try:
                await self._connect()
            except (AppTokenRefused, *UNREACHABLE) as error:
                fix = f": {error.fix}" if isinstance(error, AppTokenRefused) else ""
                self.problem = f"Socket Mode can't connect to Slack ({_why(error)}){fix}; retrying in {delay:g} s"
                log.warning("%s", self.problem)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            self.problem = None
            delay = BACKOFF_START
            log.info("connected to Slack over Socket Mode")

    async def _connect(self) -> None:
        url, self._url = self._url, None
        self._client.wss_uri = url or await open_connection_url(self._web_client, self._token)
        try:
            await asyncio.wait_for(self._client.connect(), CONNECT_TIMEOUT)
        except TimeoutError as error:
            raise TimeoutError(f"no WebSocket within {CONNECT_TIMEOUT:g} s") from error
        if not await self._client.is_connected():
            raise ConnectionError("the WebSocket closed as soon as it opened")


def _why(error: BaseException) -> str:
    if isinstance(error, AppTokenRefused):
        return str(error)
    if isinstance(error, SlackApiError):
        data = error.response.data
        return str(data.get("error") if isinstance(data, dict) else "") or f"HTTP {error.response.status_code}"
    text = " ".join(str(error).split())[:120]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class _OneLine(logging.Filter):
    """The SDK logs a failed connection with its traceback: one line is enough (AskCall says what it does)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()} ({type(record.exc_info[1]).__name__})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _sdk_logger() -> logging.Logger:
    logger = logging.getLogger("slack_sdk.socket_mode.askcall")
    if not any(isinstance(f, _OneLine) for f in logger.filters):
        logger.addFilter(_OneLine())
    return logger
