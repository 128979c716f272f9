"""One AskCall deployment in multi-workspace mode, as the end-to-end tests run it: replicas (AskCall web apps in this
process, each on its own port, all on one database) behind a round-robin balancer whose address is
ASKCALL_PUBLIC_URL, so Slack's requests, Pilot Status's webhooks and the browsers' requests are spread over the
replicas as a load balancer would; and the steps of a workspace's life in Slack (install from the landing page,
connect Pilot Status from App Home, `/askcall`, "Call now"), each sent as Slack sends it, signed."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from bot.domain import TenantId
from bot.fakes import FakePilotStatus, FakeSlack
from bot.fakes.pilot_status import PilotAccount
from bot.fakes.server import LoopbackServer
from bot.fakes.slack import (
    interaction_body,
    slack_signed_headers,
    slash_command_body,
    view_submission_payload,
)
from bot.slack.settings import (
    CONNECT_ACTION,
    CONNECT_VIEW,
    KEY_BLOCK,
    KEY_INPUT,
    SECRET_BLOCK,
    SECRET_INPUT,
    SECRET_VIEW,
)
from tests.calls.helpers import wait_until
from tests.conftest import SIGNING_SECRET
from tests.oauth.install_helpers import MultiServer, browser, free_socket, install, multi_settings, start_multi

ADMIN = "UINSTALLER"  # who installs (an admin of the workspace, in the fake Slack)
DEFAULT_NUMBER_META = json.dumps({"number": "default"})
LINK_RE = re.compile(r"<(https?://[^|>]+)\|")
# A WebRTC offer as a browser's page sends it (rewritten to a=setup:active); the fake's customer only rings.
OFFER = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:active\r\n"
# Headers that belong to one hop, not forwarded by the balancer.
HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "host", "content-length", "content-encoding"})


class Balancer(LoopbackServer):
    """A round-robin reverse proxy: each request goes to the next replica (whole bodies, no streaming)."""

    def __init__(self) -> None:
        self.backends: list[str] = []
        self.spread: list[str] = []  # the replica that took each request, in order
        self._turn = itertools.count()
        self._http: aiohttp.ClientSession | None = None
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        super().__init__(app)

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        if self._http is None:
            self._http = aiohttp.ClientSession(auto_decompress=False)
        backend = self.backends[next(self._turn) % len(self.backends)]
        self.spread.append(backend)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        async with self._http.request(
            request.method, backend + request.path_qs, data=await request.read(), headers=headers, allow_redirects=False
        ) as answer:
            body = await answer.read()
            kept = CIMultiDict((k, v) for k, v in answer.headers.items() if k.lower() not in HOP - {"content-encoding"})
        return web.Response(status=answer.status, body=body, headers=kept)

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
        await super().stop()


@dataclass
class Deployment:
    """The replicas behind the balancer; `url` is the balancer's (ASKCALL_PUBLIC_URL)."""

    balancer: Balancer
    replicas: list[MultiServer]
    slack: FakeSlack
    pilot: FakePilotStatus
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return self.balancer.base_url

    async def post_slack(self, body: str, content_type: str) -> tuple[int, str]:
        """A request from Slack, signed, through the balancer."""
        headers = {**slack_signed_headers(body, SIGNING_SECRET), "Content-Type": content_type}
        async with self.http.post(self.url + "/slack/events", data=body.encode(), headers=headers) as answer:
            return answer.status, await answer.text()

    async def interact(self, payload: dict[str, Any]) -> tuple[int, str]:
        return await self.post_slack(interaction_body(payload), "application/x-www-form-urlencoded")

    async def command(self, team: str, channel: str, user: str, text: str) -> tuple[int, str]:
        body = slash_command_body(
            text,
            team_id=team,
            channel_id=channel,
            user_id=user,
            response_url=self.slack.new_response_url(),
            trigger_id=self.slack.trigger_id(),
        )
        return await self.post_slack(body, "application/x-www-form-urlencoded")

    async def wait_idle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Until no replica has a background task and the outbox is empty, twice in a row a moment apart."""
        quiet = 0
        async with asyncio.timeout(timeout):
            while quiet < 2:
                busy = any(r.askcall.tasks for r in self.replicas)
                pending = await self.replicas[0].askcall.store.pending_delivery_count()
                quiet = 0 if busy or pending else quiet + 1
                await asyncio.sleep(0.05)


@asynccontextmanager
async def deployment(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, database_url: str, **overrides: Any
) -> AsyncIterator[Deployment]:
    """AskCall web apps on `database_url` (sharing the encryption key) behind one balancer: 2 replicas on
    PostgreSQL, 1 on SQLite (one process: SQLite runs no replicas). `overrides` change the settings."""
    replicas = 1 if database_url.startswith("sqlite") else 2
    balancer = Balancer()
    await balancer.start()
    assert balancer.port is not None
    settings = replace(multi_settings(slack, pilot, tmp_path, database_url, balancer.port), **overrides)
    started: list[MultiServer] = []
    try:
        for _ in range(replicas):
            started.append(await start_multi(settings, free_socket(), slack))
        balancer.backends = [r.url for r in started]
        async with aiohttp.ClientSession() as http:
            yield Deployment(balancer, started, slack, pilot, http)
    finally:
        for replica in started:
            await replica.stop()
        await balancer.stop()


@dataclass
class Workspace:
    """One workspace of a test: its team, channel, rep, Pilot Status account and customer."""

    team: str
    name: str
    channel: str
    rep: str
    account: PilotAccount
    phone: str  # as the rep types it
    e164: str

    @property
    def tenant(self) -> TenantId:
        return TenantId(self.team)


def two_workspaces(slack: FakeSlack, pilot: FakePilotStatus) -> tuple[Workspace, Workspace]:
    """Acme (T2) and Beta (T3), each with its own channel, rep, customer and Pilot Status account; neither
    installed yet. Each customer is chatting with their business (the 24-hour window is open)."""
    made = []
    for team, name, key, number, secret, channel, phone, e164 in (
        ("T2", "Acme Vendas", "ps_acme", "5511888880002", "whsec_acme", "CACME", "+55 11 98765-4321", "+5511987654321"),
        ("T3", "Beta Ltda", "ps_beta", "5521777770003", "whsec_beta", "CBETA", "+55 21 99876-1234", "+5521998761234"),
    ):
        slack.oauth.add_team(team, name)
        slack.channel_teams[channel] = team  # the channel is the team's: another team's token can't reach it
        account = pilot.add_account(key, number, secret)
        account.customer_writes(e164)
        made.append(Workspace(team, name, channel, f"UREP{team}", account, phone, e164))
    return made[0], made[1]


async def join(deployed: Deployment, ws: Workspace) -> None:
    """Installed from the landing page, then connected to its own Pilot Status account from App Home."""
    await install_from_landing(deployed, ws.team)
    await connect_from_app_home(deployed, ws.team, ws.account.api_key, ws.account.webhook_secret)
    (hook,) = ws.account.webhooks.values()
    assert hook["url"].startswith(deployed.url + "/webhooks/pilot-status/t/")


# ---------------------------------------------------------------------- a workspace's steps, as Slack sends them
def home_click(team: str, user: str, action_id: str, trigger_id: str) -> dict[str, Any]:
    """A click on App Home (no channel, no response_url)."""
    return {
        "type": "block_actions",
        "team": {"id": team, "domain": team.lower()},
        "user": {"id": user, "username": user.lower(), "team_id": team},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": trigger_id,
        "container": {"type": "view", "view_id": f"VHOME{team}"},
        "view": {"id": f"VHOME{team}", "type": "home", "team_id": team, "blocks": [], "private_metadata": ""},
        "actions": [{"type": "button", "action_id": action_id, "value": "connect", "action_ts": "1.1"}],
    }


def text_submission(
    team: str,
    user: str,
    callback_id: str,
    block: str,
    action: str,
    value: str,
    metadata: str = "",
    view_id: str | None = None,
) -> dict[str, Any]:
    values = {block: {action: {"type": "plain_text_input", "value": value}}}
    return view_submission_payload(callback_id, values, metadata, user_id=user, team_id=team, view_id=view_id)


async def install_from_landing(deployed: Deployment, team: str) -> None:
    async with browser() as http:
        status, text = await install(http, deployed.url, team)
    assert status == 200, text


async def open_connect_form(deployed: Deployment, team: str, user: str) -> str:
    """The admin clicks Connect on App Home; the id of the modal Slack opened (in that team)."""
    slack = deployed.slack
    trigger = slack.trigger_id()
    status, _ = await deployed.interact(home_click(team, user, CONNECT_ACTION, trigger))
    assert status == 200
    opened = lambda: [c for c in slack.calls_to("views.open") if c.args.get("trigger_id") == trigger]  # noqa: E731
    await wait_until(lambda: bool(opened()), what="the connect modal")
    assert opened()[0].team == team and opened()[0].args["view"]["callback_id"] == CONNECT_VIEW
    return next(v["id"] for v in reversed(slack.views) if v.get("callback_id") == CONNECT_VIEW)


async def connect_from_app_home(deployed: Deployment, team: str, api_key: str, secret: str) -> None:
    """The installer clicks Connect on App Home and submits the key in the modal ("checking…" at once, then the
    modal asks for the webhook secret), then pastes the secret."""
    slack = deployed.slack
    view_id = await open_connect_form(deployed, team, ADMIN)
    submission = text_submission(team, ADMIN, CONNECT_VIEW, KEY_BLOCK, KEY_INPUT, api_key, view_id=view_id)
    status, text = await deployed.interact(submission)
    assert status == 200 and json.loads(text)["response_action"] == "update", text
    updated = lambda: [c for c in slack.calls_to("views.update") if c.args.get("view_id") == view_id]  # noqa: E731
    await wait_until(lambda: bool(updated()), what="the key checked")
    (shown,) = [c.args["view"] for c in updated()]
    assert shown["callback_id"] == SECRET_VIEW, shown
    metadata = shown.get("private_metadata") or DEFAULT_NUMBER_META
    submission = text_submission(team, ADMIN, SECRET_VIEW, SECRET_BLOCK, SECRET_INPUT, secret, metadata, view_id)
    status, text = await deployed.interact(submission)
    assert status == 200 and text in ("", "{}"), text


def carrying(slack: FakeSlack, channel: str, action_id: str, value: str) -> list[dict[str, Any]]:
    """The messages of `channel` with the button `action_id` whose value is `value`."""
    return [
        m
        for m in slack.channel_messages(channel)
        if any(
            e.get("action_id") == action_id and e.get("value") == value
            for b in m.get("blocks") or []
            for e in b.get("elements") or []
        )
    ]
