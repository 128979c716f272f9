"""Leaving with one workspace (SLACK_BOT_TOKEN), end to end over HTTP on both backends: Slack's `app_uninstalled`
(or `tokens_revoked` naming the bot token) stops the work as multi-workspace mode does. The workspace is stamped
uninstalled, its open Slack messages die "uninstalled" and later ones too, without a Slack call; /readyz stays up
but says degraded, and why, on every replica; the data is kept. A revocation of user tokens only changes nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.domain import DeliveryState, RequestState
from bot.fakes import FakePilotStatus, FakeSlack
from bot.fakes.slack import slack_signed_headers
from bot.fakes.slack_oauth import app_event_body
from bot.store import NewDelivery, NewRequest, Store
from tests.conftest import SIGNING_SECRET, Server, make_settings, start_server, stop_server
from tests.tenants import TENANT


async def slack_event(server: Server, event: dict[str, object]) -> int:
    body = app_event_body("T1", event)
    headers = {**slack_signed_headers(body, SIGNING_SECRET), "Content-Type": "application/json"}
    return (await server.post_slack(body, headers)).status


async def waiting_request(store: Store, key: str) -> int:
    request_id, _ = await store.create_request(
        NewRequest(TENANT, "C1", "U1", "+5531988887777", "Podemos ligar?", "pt-BR", source_key=key),
        NewDelivery(f"parent-{key}", "parent", {"channel": "C1", "text": "request"}),
    )
    await store.update_request(TENANT, request_id, state=RequestState.WAITING)
    return request_id


async def readiness(server: Server) -> tuple[int, dict[str, object]]:
    async with server.http.get(server.url + "/readyz") as answer:
        return answer.status, await answer.json()


@pytest.mark.parametrize(
    "event",
    [
        {"type": "app_uninstalled", "event_ts": "1.1"},
        {"type": "tokens_revoked", "tokens": {"bot": ["UBOT"]}, "event_ts": "1.1"},
    ],
    ids=["uninstalled", "revoked"],
)
async def test_slack_saying_the_app_left_stops_the_work(
    server: Server, slack: FakeSlack, event: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    store = server.askcall.store
    slack.fail_next("chat.postMessage", status=429, retry_after=3600)  # the parent waits an hour for its retry
    request_id = await waiting_request(store, "mid-work")
    server.askcall.notifier.wake()
    await slack.wait_for(lambda: len(slack.calls_to("chat.postMessage", only_ok=False)) == 1)
    assert (await readiness(server))[1]["status"] == "ready"

    assert await slack_event(server, event) == 200
    assert await slack_event(server, event) == 200  # Slack retries: still one stop

    workspace = await store.workspace(TENANT)
    assert workspace is not None and workspace.uninstalled_at is not None
    parent = await store.delivery_for(TENANT, request_id, "parent")
    assert parent is not None and (parent.state, parent.last_error) == (DeliveryState.DEAD, "uninstalled")
    late = await waiting_request(store, "late")  # a message queued afterwards dies too, never sent
    server.askcall.notifier.wake()
    await server.wait_idle()
    dead = await store.delivery_for(TENANT, late, "parent")
    assert dead is not None and (dead.state, dead.last_error) == (DeliveryState.DEAD, "uninstalled")
    assert len(slack.calls_to("chat.postMessage", only_ok=False)) == 1  # nothing more reached Slack
    status, body = await readiness(server)
    assert status == 200 and body["status"] == "degraded"  # Pilot Status webhooks are still stored
    assert "SLACK_BOT_TOKEN no longer works" in str(body["slack"]) and "T1" in str(body["slack"])
    assert "SLACK_BOT_TOKEN no longer works" in caplog.text
    request = await store.get_request(TENANT, request_id)
    assert request is not None and request.state == RequestState.WAITING  # the data is kept


async def test_a_revocation_of_user_tokens_only_changes_nothing(server: Server, slack: FakeSlack) -> None:
    event = {"type": "tokens_revoked", "tokens": {"oauth": ["U1"]}, "event_ts": "1.1"}
    assert await slack_event(server, event) == 200
    workspace = await server.askcall.store.workspace(TENANT)
    assert workspace is not None and not workspace.stopped
    assert (await readiness(server))[1]["status"] == "ready"


@pytest.mark.postgresql
async def test_another_replica_hears_of_it_and_stops_too(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, pg_url: str
) -> None:
    settings = make_settings(slack, pilot, tmp_path / "unused.db", database_url=pg_url)
    heard, other = await start_server(settings, slack, pilot), await start_server(settings, slack, pilot)
    try:
        assert await slack_event(heard, {"type": "app_uninstalled", "event_ts": "1.1"}) == 200
        for _ in range(100):  # PostgreSQL notifies the other replica; give up after a while rather than hang
            if (await readiness(other))[1]["status"] == "degraded":
                break
            await asyncio.sleep(0.05)
        status, body = await readiness(other)
        assert status == 200 and body["status"] == "degraded" and "SLACK_BOT_TOKEN" in str(body["slack"])
        late = await waiting_request(other.askcall.store, "late-elsewhere")  # queued on the other replica
        other.askcall.notifier.wake()
        await other.wait_idle()
        dead = await other.askcall.store.delivery_for(TENANT, late, "parent")
        assert dead is not None and (dead.state, dead.last_error) == (DeliveryState.DEAD, "uninstalled")
        assert slack.calls_to("chat.postMessage", only_ok=False) == []
    finally:
        await stop_server(heard)
        await stop_server(other)
