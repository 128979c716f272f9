"""Leaving end to end over HTTP, on both backends: a workspace installed through the real OAuth flow uninstalls
AskCall mid-work (a Slack message waiting to be retried after a 429, a request waiting for its answer, a call link
issued). Nothing more reaches Slack or Pilot Status for it and its link starts no call, while another workspace is
untouched; a reinstall within the grace period resumes it with its history; a purge after it leaves no row of it in
any table and changes no other workspace's row."""

from __future__ import annotations

import secrets

import pytest

from bot.domain import DeliveryState, RequestState, TenantId
from bot.fakes import FakePilotStatus, FakeSlack
from bot.services.calls import WORKSPACE_STOPPED, digest
from bot.services.retention import purge_workspace
from bot.store import DATA_TABLES, NewDelivery, NewRequest, Store
from tests.oauth.install_helpers import MultiServer, browser, install
from tests.oauth.test_install_flow import command, event

TWO, THREE = TenantId("T2"), TenantId("T3")


@pytest.fixture
def askcall(two_installed: MultiServer) -> MultiServer:
    return two_installed


async def mid_work(store: Store, tenant: TenantId) -> tuple[int, str]:
    """A request waiting for its answer, its parent message not sent yet, and a call link issued for it."""
    request_id, _ = await store.create_request(
        NewRequest(tenant, "C1", "U1", "+5531988887777", "Podemos ligar?", "pt-BR", source_key=f"src-{tenant}"),
        NewDelivery(f"parent-{tenant}", "parent", {"channel": "C1", "text": f"request of {tenant}"}),
    )
    await store.update_request(tenant, request_id, state=RequestState.WAITING)
    token = secrets.token_urlsafe(16)
    await store.create_call_link(tenant, digest(token), request_id, "U1", 1.0, 4_000_000_000.0)
    return request_id, token


async def rows_of(store: Store) -> dict[str, list[dict[str, object]]]:
    return {table: await store.export_rows(table, None, 10_000) for table, _ in DATA_TABLES}


async def test_uninstalled_mid_work_nothing_more_is_done_then_reinstall_resumes_and_purge_removes_it(
    askcall: MultiServer, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    store = askcall.askcall.store
    slack.fail_next("chat.postMessage", status=429, retry_after=3600)  # T2's message waits an hour to be retried
    request_id, token = await mid_work(store, TWO)
    askcall.askcall.notifier.wake()
    await slack.wait_for(lambda: len(slack.calls_to("chat.postMessage", only_ok=False)) == 1)
    pilot_calls = len(pilot.requests)

    slack.oauth.uninstall("T2")
    assert await event(askcall, "T2", {"type": "app_uninstalled", "event_ts": "1.1"}) == 200
    assert await event(askcall, "T2", {"type": "app_uninstalled", "event_ts": "1.1"}) == 200  # Slack retries

    parent = await store.delivery_for(TWO, request_id, "parent")
    assert parent is not None and (parent.state, parent.last_error) == (DeliveryState.DEAD, "uninstalled")
    async with browser() as http:
        opened = await http.get(f"{askcall.url}/call/{token}", allow_redirects=False)
        cookie = opened.cookies["askcall_call"].value
        offer = await http.post(
            f"{askcall.url}/call/r/{request_id}/offer",
            json={"sdp": "v=0\r\n"},
            headers={"Cookie": f"askcall_call={cookie}", "Origin": askcall.url},
        )
        assert offer.status == 403 and (await offer.json())["code"] == WORKSPACE_STOPPED
    assert len(pilot.requests) == pilot_calls  # no call start, no probe on T2's behalf
    assert len(slack.calls_to("chat.postMessage", only_ok=False)) == 1  # nothing more reached Slack for T2
    assert "Pilot Status" in (await command(askcall, "T3"))[1]  # T3 served (the connect prompt)

    async with browser() as http:
        status, _ = await install(http, askcall.url, "T2")  # back within the grace period
    assert status == 200
    resumed = await store.workspace(TWO)
    assert resumed is not None and not resumed.stopped
    request = await store.get_request(TWO, request_id)
    assert request is not None and request.state == RequestState.WAITING  # its history is intact
    assert "Pilot Status" in (await command(askcall, "T2"))[1]

    theirs = {t: [r for r in rows if r.get("tenant_id") != TWO] for t, rows in (await rows_of(store)).items()}
    await store.stop_workspace(TWO, 1.0)
    assert await purge_workspace(store, TWO, batch_size=3) > 0
    after = await rows_of(store)
    for table, rows in after.items():
        assert not [row for row in rows if row.get("tenant_id") == TWO], table
        assert rows == theirs[table], table  # no other workspace's row changed
    assert await store.workspace(THREE) is not None
