"""Fixtures of the multi-workspace tests: an opened store on each backend (and a second one, as another replica
would have), and keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.fakes import FakePilotStatus, FakeSlack
from bot.secrets import Secrets, new_key
from bot.store import Store, create_store
from tests.oauth.deployment import Deployment, Workspace, deployment, two_workspaces
from tests.oauth.install_helpers import MultiServer, browser, free_socket, install, multi_settings, start_multi


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = create_store(database_url, owner="replica-a")
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def rival(store: Store, database_url: str) -> AsyncIterator[Store]:
    opened = create_store(database_url, owner="replica-b")
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def secrets() -> Secrets:
    return Secrets(new_key())


@pytest.fixture
async def multi_askcall(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, database_url: str
) -> AsyncIterator[MultiServer]:
    """AskCall in multi-workspace mode; the fake Slack knows T2 (Acme Vendas) and T3 (Beta Ltda), not installed."""
    slack.oauth.add_team("T2", "Acme Vendas")
    slack.oauth.add_team("T3", "Beta Ltda")
    sock = free_socket()
    server = await start_multi(multi_settings(slack, pilot, tmp_path, database_url, sock.getsockname()[1]), sock, slack)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def two_installed(multi_askcall: MultiServer) -> MultiServer:
    """`multi_askcall` with T2 and T3 installed through the OAuth flow, and their installers welcomed (a DM each,
    tests/oauth/test_welcome_dm.py): the fake Slack's call log starts after that."""
    for team in ("T2", "T3"):
        async with browser() as http:
            status, _ = await install(http, multi_askcall.url, team)
        assert status == 200
    slack = multi_askcall.slack
    await slack.wait_for(lambda: {call.team for call in slack.calls_to("chat.postMessage")} == {"T2", "T3"})
    slack.calls.clear()
    return multi_askcall


@pytest.fixture
def workspaces(slack: FakeSlack, pilot: FakePilotStatus) -> tuple[Workspace, Workspace]:
    """Acme (T2) and Beta (T3), each with its own channel and Pilot Status account; neither installed yet."""
    return two_workspaces(slack, pilot)


@pytest.fixture
async def deployed(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, database_url: str
) -> AsyncIterator[Deployment]:
    """One deployment in multi-workspace mode: 2 replicas on PostgreSQL, 1 on SQLite, behind a balancer."""
    async with deployment(slack, pilot, tmp_path, database_url) as running:
        yield running
