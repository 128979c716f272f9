"""Single-workspace mode's installation (`EnvInstallations`), against the fake Slack over loopback and a real store
on both backends: `auth.test` names the workspace, which is recorded and adopts the legacy rows; when Slack can't be
reached the one workspace recorded before serves; with none, AskCall refuses to start; and no other team or tenant
ever gets the installation (or its token)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain import TenantId
from bot.fakes.slack import FakeSlack
from bot.slack.env_installations import EnvInstallations, WorkspaceUnknown
from bot.slack.installations import Installed
from bot.store import Store, Workspace
from tests.e2e.helpers import free_port
from tests.store.helpers import new_request
from tests.tenants import OTHER, TENANT

LEGACY = TenantId("")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def client(http: aiohttp.ClientSession, base_url: str) -> AsyncWebClient:
    return AsyncWebClient(base_url=base_url, session=http, retry_handlers=[])


def nowhere() -> str:
    return f"http://127.0.0.1:{free_port()}/api/"


async def test_auth_test_names_records_and_adopts(store: Store, slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    legacy = await new_request(store, tenant=LEGACY)

    installations = await EnvInstallations.start(client(http, slack.api_url), slack.token, store)

    assert installations.tenant == TENANT and installations.url == "https://fake.slack.com/"
    (workspace,) = await store.workspaces()
    assert (workspace.tenant, workspace.team_id, workspace.name) == (TENANT, "T1", "Fake")
    assert (await store.get_request(TENANT, legacy)) is not None and await store.get_request(LEGACY, legacy) is None
    installed = await installations.find(enterprise_id=None, team_id="T1", is_enterprise_install=False)
    assert installed is not None and installed.bot_token == slack.token and installed.bot_user_id
    assert await installations.find(enterprise_id=None, team_id="T2", is_enterprise_install=False) is None
    assert await installations.find(enterprise_id="E1", team_id=None, is_enterprise_install=True) is None
    assert await installations.for_tenant(OTHER) is None and await installations.for_tenant(LEGACY) is None
    assert "xoxb" not in repr(installed) and slack.token not in repr(installed)


async def test_slack_unreachable_serves_the_workspace_recorded_before(
    store: Store, slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    await store.record_workspace(Workspace(TENANT, "T1", None, url="https://fake.slack.com/"))

    installations = await EnvInstallations.start(client(http, nowhere()), slack.token, store)

    assert installations.tenant == TENANT and installations.url == "https://fake.slack.com/"
    assert (await installations.for_tenant(TENANT)).bot_token == slack.token  # type: ignore[union-attr]


async def test_slack_unreachable_and_nothing_recorded_refuses_to_start(
    store: Store, slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(WorkspaceUnknown, match="can't tell which workspace SLACK_BOT_TOKEN serves"):
        await EnvInstallations.start(client(http, nowhere()), slack.token, store)
    assert await store.workspaces() == []


async def test_a_refused_token_with_nothing_recorded_refuses_to_start(
    store: Store, slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(WorkspaceUnknown, match="refused"):
        await EnvInstallations.start(client(http, slack.api_url), "xoxb-not-the-fakes", store)


async def test_an_org_wide_install_serves_its_organisation_by_enterprise_id() -> None:
    org = Installed(TenantId("E1"), None, "E1", True, "xoxb-org", "UBOT", "BBOT")
    installations = EnvInstallations(org)

    assert await installations.find(enterprise_id="E1", team_id="T9", is_enterprise_install=True) is org
    assert await installations.find(enterprise_id="E2", team_id="T9", is_enterprise_install=True) is None
    assert await installations.find(enterprise_id=None, team_id="E1", is_enterprise_install=False) is None
    assert await installations.for_tenant(TenantId("E1")) is org
