"""The Pilot Status pool over loopback HTTP, on both backends: every workspace's client sends through one connection
pool (a TCP connection serves one workspace's request, then another's, each with its own key); the deployment-wide
cap holds at the fake, however many workspaces ask at once; a workspace flooding a hanging account holds at most half
the slots, so another workspace's request goes through while the flood waits; a reconnected key keeps working on the
same connections; only the pool closes them. Orders and counts are asserted, never a duration."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from bot.config import Settings
from bot.domain import TenantId
from bot.fakes import FakePilotStatus
from bot.pilot_status.pool import PilotStatusPool
from bot.secrets import Secrets
from bot.store import Store
from bot.tenant_config import StoredConfigs
from tests.calls.helpers import wait_until
from tests.oauth.test_tenant_configs import number

PROBE = "/v1/calls/permissions"
CAP = 4
CUSTOMER = "+5531988887777"


def key_of(team: str) -> str:
    return f"ps_key_{team}"


@pytest.fixture
async def configs(store: Store, secrets: Secrets, settings: Settings) -> StoredConfigs:
    return StoredConfigs(settings, store, secrets, cache_seconds=3600)


@pytest.fixture
async def pool(configs: StoredConfigs, settings: Settings) -> AsyncIterator[PilotStatusPool]:
    opened = PilotStatusPool(replace(settings, pilot_status_max_in_flight=CAP), configs)
    try:
        yield opened
    finally:
        await opened.aclose()


async def connect(store: Store, secrets: Secrets, pilot: FakePilotStatus, *teams: str) -> list[TenantId]:
    """Each team's workspace connected to a Pilot Status account of its own."""
    for n, team in enumerate(teams):
        await store.save_workspace_number(number(secrets, team, key_of(team)))
        pilot.add_account(key_of(team), f"55119000000{n:02d}", f"whsec_{team}")
    return [TenantId(team) for team in teams]


async def test_every_workspace_sends_over_the_same_connection_with_its_own_key(
    pool: PilotStatusPool, store: Store, secrets: Secrets, pilot: FakePilotStatus
) -> None:
    tenants = await connect(store, secrets, pilot, "T1", "T2", "T3", "T4", "T5")

    for tenant in tenants:
        permission = await (await pool.get(tenant, "default")).get_permission(CUSTOMER)
        assert permission.status == "no_permission"

    probes = pilot.requests_to("GET", PROBE)
    assert [r.headers["x-api-key"] for r in probes] == [key_of(t) for t in tenants]
    assert len({r.connection for r in probes}) == 1  # one keep-alive connection served all five workspaces


async def test_the_cap_holds_however_many_workspaces_ask_at_once(
    pool: PilotStatusPool, store: Store, secrets: Secrets, pilot: FakePilotStatus
) -> None:
    tenants = await connect(store, secrets, pilot, *(f"T{n}" for n in range(8)))
    pilot.script("GET", PROBE, delay=0.2, times=24)  # slow enough for every caller to be waiting at once
    clients = [await pool.get(tenant, "default") for tenant in tenants]

    answers = await asyncio.gather(*(client.get_permission(CUSTOMER) for client in clients for _ in range(3)))

    assert [a.status for a in answers] == ["no_permission"] * 24
    assert pilot.most_in_flight == CAP  # reached, never passed
    assert len({r.connection for r in pilot.requests_to("GET", PROBE)}) <= CAP


async def test_a_workspace_flooding_a_hanging_account_does_not_hold_another_back(
    pool: PilotStatusPool, store: Store, secrets: Secrets, pilot: FakePilotStatus
) -> None:
    flooding, other = await connect(store, secrets, pilot, "T1", "T2")
    pilot.script("GET", PROBE, delay=2.0, times=10, key=key_of("T1"))  # T1's account hangs (within the timeout)
    slow = await pool.get(flooding, "default")
    flood = [asyncio.create_task(slow.get_permission(CUSTOMER)) for _ in range(10)]
    try:
        await wait_until(lambda: pilot.in_flight == CAP // 2, what="T1's share in flight")

        permission = await (await pool.get(other, "default")).get_permission(CUSTOMER)

        # T2 was answered while T1's flood waits: half the slots are T1's, the rest never were.
        assert permission.status == "no_permission"
        assert not any(task.done() for task in flood)
        assert len(pilot.requests_to("GET", PROBE)) == CAP // 2 + 1
        assert pilot.most_in_flight == CAP // 2 + 1
    finally:
        for task in flood:  # T1 gives up: its slots, held or awaited, are freed
            task.cancel()
        await asyncio.gather(*flood, return_exceptions=True)
    pilot.clear_scripts()
    answers = await asyncio.gather(*(slow.get_permission(CUSTOMER) for _ in range(CAP)))
    assert [a.status for a in answers] == ["no_permission"] * CAP


async def test_a_reconnected_key_keeps_working_and_only_the_pool_closes_the_connections(
    pool: PilotStatusPool, configs: StoredConfigs, store: Store, secrets: Secrets, pilot: FakePilotStatus
) -> None:
    (tenant,) = await connect(store, secrets, pilot, "T1")
    first = await pool.get(tenant, "default")
    await first.get_permission(CUSTOMER)
    pilot.add_account("ps_key_again", "5511900000099", "whsec_again")
    await store.save_workspace_number(number(secrets, "T1", "ps_key_again"))  # reconnected with a new key
    configs.invalidate(tenant)

    again = await pool.get(tenant, "default")
    await again.get_permission(CUSTOMER)
    await first.aclose()  # the retired client: it leaves the shared connections open
    await again.get_permission(CUSTOMER)

    probes = pilot.requests_to("GET", PROBE)
    assert [r.headers["x-api-key"] for r in probes] == [key_of("T1"), "ps_key_again", "ps_key_again"]
    assert [r.status for r in probes] == [200, 200, 200] and len({r.connection for r in probes}) == 1
    assert again is not first and again._http is first._http and not again._http.closed

    await pool.aclose()
    assert again._http.closed
    await pool.aclose()  # closing twice is harmless
