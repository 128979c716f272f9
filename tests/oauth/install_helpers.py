"""AskCall in multi-workspace mode on loopback, a browser-like walk through Add to Slack (landing → install →
the fake Slack's authorize page → redirect → success page), and slack-sdk installations to store directly."""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urljoin

import aiohttp
from aiohttp import web
from slack_sdk.oauth.installation_store import Installation

from bot.app import ASKCALL, AskCall, create_web_app
from bot.config import Settings
from bot.fakes import FakePilotStatus, FakeSlack
from bot.secrets import new_key
from tests.conftest import make_settings


def installation(team: str = "T1", token: str = "xoxb-T1-secret", **extra: object) -> Installation:
    """A bot installation of `team` as Bolt's OAuth flow would save it."""
    return Installation(
        app_id="A1",
        team_id=team,
        team_name=f"Team {team}",
        bot_token=token,
        bot_id="B1",
        bot_user_id="UBOT",
        bot_scopes="commands,chat:write",
        user_id="UINSTALLER",
        installed_at=time.time(),
        **extra,  # type: ignore[arg-type]
    )


def multi_settings(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, database_url: str, port: int, key: str | None = None
) -> Settings:
    return replace(
        make_settings(slack, pilot, tmp_path / "askcall.db", database_url=database_url),
        slack_bot_token="",
        slack_client_id=slack.oauth.client_id,
        slack_client_secret=slack.oauth.client_secret,
        encryption_key=key or new_key(),
        public_url=f"http://127.0.0.1:{port}",
        slack_authorize_url=f"{slack.base_url}/oauth/v2/authorize",
    )


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class MultiServer:
    url: str
    runner: web.AppRunner
    slack: FakeSlack

    @property
    def askcall(self) -> AskCall:
        return self.runner.app[ASKCALL]

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_multi(settings: Settings, sock: socket.socket, slack: FakeSlack) -> MultiServer:
    runner = web.AppRunner(create_web_app(settings))
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return MultiServer(f"http://127.0.0.1:{sock.getsockname()[1]}", runner, slack)


def browser() -> aiohttp.ClientSession:
    """A client that keeps cookies for 127.0.0.1, as a browser does."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def begin_install(http: aiohttp.ClientSession, askcall_url: str) -> str:
    """Landing page → Add to Slack → the fake Slack's authorize page: its URL."""
    async with http.get(askcall_url + "/") as landing:
        assert landing.status == 200
        href = re.search(r'id="add-to-slack" class="add" href="([^"]+)"', await landing.text())
        assert href is not None
    async with http.get(urljoin(askcall_url, href.group(1)), allow_redirects=False) as install:
        assert install.status == 302, await install.text()
        return install.headers["Location"]


async def allow(http: aiohttp.ClientSession, authorize_url: str, team: str) -> str:
    """On the fake Slack's authorize page, allow the install in `team`: the redirect back to AskCall."""
    async with http.get(authorize_url) as page:
        assert page.status == 200, await page.text()
        link = re.search(rf'id="allow-{team}" href="([^"]+)"', await page.text())
        assert link is not None
    async with http.get(urljoin(authorize_url, link.group(1).replace("&amp;", "&")), allow_redirects=False) as back:
        assert back.status == 302, await back.text()
        return back.headers["Location"]


async def install(http: aiohttp.ClientSession, askcall_url: str, team: str) -> tuple[int, str]:
    """The whole walk; the final page's status and text."""
    redirect = await allow(http, await begin_install(http, askcall_url), team)
    async with http.get(redirect) as done:
        return done.status, await done.text()
