"""Crossings at the service level, on both backends: AskCall served over loopback HTTP for its one workspace (T1, the
fake Slack's), with rows of a second workspace (T2) planted in the same database — the same customer, the same user
id. Each test tries to reach T2's data through T1's traffic (or T1's through T2's), and says what must happen."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.admin.export import export
from bot.domain import DeliveryKind, RequestState
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack, button_payload, interaction_body, slash_command_envelope
from bot.phones import customer_key
from bot.store import NewDelivery, NewRequest, Store
from bot.store.types import CallSession
from tests.conftest import CHANNEL, REP, Server, make_settings
from tests.e2e.helpers import E164, PERMISSION_PROBE, PHONE, open_home, posts, running, slack_writes
from tests.tenants import OTHER, TENANT

THEIR_REASON = "Pedido do outro workspace"


async def plant(store: Store, *, state: RequestState = RequestState.WAITING, user: str = REP) -> int:
    """A request of workspace T2 (same channel id, same rep id, same customer as T1's tests use), already sent."""
    request_id, _ = await store.create_request(
        NewRequest(OTHER, CHANNEL, user, E164, THEIR_REASON, "pt-BR", source_key=f"theirs:{state}"),
        NewDelivery(f"theirs:{state}:parent", DeliveryKind.PARENT, {"channel": CHANNEL, "text": "theirs"}),
    )
    await store.update_request(OTHER, request_id, state=state, parent_ts="1700000000.000100", message_id="m-theirs")
    return request_id


async def theirs_unchanged(store: Store, request_id: int, state: RequestState = RequestState.WAITING) -> None:
    request = await store.get_request(OTHER, request_id)
    assert request is not None and request.state is state and request.outcome is None and request.tenant == OTHER


async def test_a_request_signed_for_another_team_is_refused_and_stores_nothing(server: Server) -> None:
    """Tries: a correctly signed /askcall naming team T2, which AskCall (serving T1) isn't installed in.
    Must: Bolt's "not installed" answer; no request stored, nothing sent to Pilot Status or posted in a channel."""
    response = await server.command(f"{PHONE} Podemos ligar?", team_id="T2")

    assert response.status == 200
    await server.slack.wait_for(lambda: len(server.slack.responses) == 1)
    await server.wait_idle()
    assert "install" in server.slack.responses[0]["text"]  # Bolt's answer to a workspace it isn't installed in
    assert await server.askcall.store.requests_in_state(*RequestState) == []
    assert (
        posts(server.pilot) == [] and [c for c in slack_writes(server.slack) if c.method != "chat.postEphemeral"] == []
    )


async def test_a_button_naming_another_workspaces_request_changes_nothing(server: Server) -> None:
    """Tries: a click in T1 on "Check status" whose value names T2's request id, from the message and channel T2's
    status message has. Must: the clicker is told the button doesn't belong there; no probe, no post, T2's request
    unchanged (the store never finds another workspace's request by id)."""
    store = server.askcall.store
    theirs = await plant(store)
    message = {"ts": "1700000000.000100", "text": "theirs"}
    payload = button_payload(
        "askcall_check",
        str(theirs),
        user=REP,
        channel=CHANNEL,
        message=message,
        response_url=server.slack.response_url("crossing"),
    )

    assert (await server.post_slack(interaction_body(payload))).status == 200
    await server.slack.wait_for(lambda: len(server.slack.responses) == 1)
    await server.wait_idle()

    assert "não pertence" in server.slack.responses[0]["text"] or "doesn't belong" in server.slack.responses[0]["text"]
    assert server.pilot.requests_to("GET", PERMISSION_PROBE) == []
    assert slack_writes(server.slack) == []
    await theirs_unchanged(store, theirs)


async def test_a_webhook_about_another_workspaces_customer_matches_nothing(server: Server) -> None:
    """Tries: a Pilot Status answer on T1's number from a customer only T2 has asked (T2's request is waiting).
    Must: stored for T1 and settled unmatched; T2's request neither answered nor told; nothing posted."""
    store = server.askcall.store
    theirs = await plant(store)

    status, _ = await server.answer(E164, "PERMANENT")
    await server.wait_idle()

    assert status == 200
    (event,) = await store.export_rows("webhook_events", None, 10)
    assert (event["tenant_id"], event["result"], event["request_id"]) == (TENANT, "unmatched", None)
    await theirs_unchanged(store, theirs)
    assert slack_writes(server.slack) == []


async def test_the_same_customer_in_both_workspaces_answers_once(server: Server) -> None:
    """Tries: T1 and T2 both wait for the same customer; the customer answers T1's number once.
    Must: T1's request is answered (its thread told); T2's stays waiting, untouched."""
    store = server.askcall.store
    theirs = await plant(store)
    assert (await server.command(f"{PHONE} Podemos ligar?")).status == 200
    await server.wait_idle()
    (mine,) = [r for r in await store.requests_in_state(RequestState.WAITING) if r.tenant == TENANT]

    await server.answer(E164, "PERMANENT")
    await server.slack.wait_for(lambda: server.slack.updates != [])
    await server.wait_idle()

    answered = await store.get_request(TENANT, mine.id)
    assert answered is not None and answered.state is RequestState.ANSWERED
    await theirs_unchanged(store, theirs)


async def test_a_call_page_session_reaches_only_its_own_workspaces_request(server: Server) -> None:
    """Tries: a call page session of T1 naming T2's request id, and T2's request reached through a T1 session.
    Must: the page finds no request (LookupError, answered as no session by the page); T2's request untouched."""
    store = server.askcall.store
    theirs = await plant(store, state=RequestState.ANSWERED)
    forged = CallSession(request_id=theirs, user_id=REP, expires_at=4e9, id=0, tenant_id=TENANT)

    with pytest.raises(LookupError):
        await server.askcall.calls.page_config(forged)
    with pytest.raises(LookupError):
        await server.askcall.calls.start(forged, "v=0")
    assert await store.calls_for_requests(OTHER, [theirs]) == {}
    await theirs_unchanged(store, theirs, RequestState.ANSWERED)


async def test_a_number_only_one_workspace_has_serves_no_other(server: Server) -> None:
    """Tries: T2 asking Pilot Status through the number the environment configures (T1's), and a status check of T1's
    request claimed by T2. Must: no client for T2 (LookupError, never T1's key); no probe, no result handed over."""
    with pytest.raises(LookupError):
        await server.askcall.pilots.get(OTHER, "default")
    assert await server.askcall.pilots.get(TENANT, "default") is not None
    assert (await server.command(f"{PHONE} Podemos ligar?")).status == 200
    await server.wait_idle()
    (mine,) = [r for r in await server.askcall.store.requests_in_state(*RequestState) if r.tenant == TENANT]
    assert await server.askcall.store.claim_status_check(OTHER, mine.id, 4e9, 10.0) == (False, None)


async def test_app_home_shows_only_the_workspaces_own_requests(server: Server) -> None:
    """Tries: the same user id (U-rep) has a request in T2; they open AskCall's Home in T1.
    Must: the Home view shows nothing of T2's request."""
    await plant(server.askcall.store)

    view = await open_home(server, REP)

    assert THEIR_REASON not in json.dumps(view) and customer_key(E164) not in json.dumps(view)


async def test_exports_name_each_records_workspace(server: Server) -> None:
    """Tries: the operator's export over a database holding both workspaces' requests.
    Must: every record names its own workspace (T1's as T1, T2's as T2): nothing is shown as another's."""
    theirs = await plant(server.askcall.store)
    assert (await server.command(f"{PHONE} Podemos ligar?")).status == 200
    await server.wait_idle()
    out = io.StringIO()

    await export(server.askcall.store, out, since=0, until=None, fmt="jsonl")

    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {(r["workspace"], r["request_id"] == theirs) for r in records} == {(TENANT, False), (OTHER, True)}


async def test_metrics_carry_no_workspace(server: Server) -> None:
    """Tries: /metrics over a database holding both workspaces' rows. Must: counts only; no team id, tenant or
    workspace data in any label."""
    await plant(server.askcall.store)
    assert (await server.command(f"{PHONE} Podemos ligar?")).status == 200
    await server.wait_idle()

    async with server.http.get(server.url + "/metrics") as response:
        assert response.status == 200
        text = await response.text()

    labels = "\n".join(line for line in text.splitlines() if not line.startswith("#") and "{" in line)
    assert "askcall_requests" in text
    for leak in (TENANT, OTHER, "tenant", "team", "workspace", "Acme"):
        assert leak not in labels, leak


async def test_another_workspaces_delivery_is_never_sent_with_this_workspaces_token(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """Tries: the outbox (which claims every tenant's due messages) meets a message of T2, a workspace this AskCall
    holds no installation for (uninstalled, or never installed here). Must: it dies as `uninstalled`, nothing reaches
    Slack (T1's token is never used for it), and T2's request is settled undeliverable, not left pending."""
    store = server.askcall.store
    request_id, _ = await store.create_request(
        NewRequest(OTHER, CHANNEL, REP, E164, THEIR_REASON, "pt-BR", source_key="theirs:new"),
        NewDelivery("theirs:new:parent", DeliveryKind.PARENT, {"channel": CHANNEL, "text": "theirs"}),
    )

    server.askcall.notifier.wake()
    await server.wait_idle()

    parent = await store.delivery_for(OTHER, request_id, DeliveryKind.PARENT)
    assert parent is not None and (parent.state, parent.last_error, parent.attempts) == ("dead", "uninstalled", 1)
    assert f"Slack parent for request {request_id} dropped: its workspace is uninstalled" in [
        r.getMessage() for r in caplog.records if r.name == "bot.slack.notifier"
    ]
    assert slack_writes(server.slack) == [] and server.slack.channel_messages(CHANNEL) == []
    assert (await store.get_request(OTHER, request_id)).state is RequestState.UNDELIVERABLE  # type: ignore[union-attr]


async def test_a_socket_mode_command_for_another_team_is_refused_the_same_way(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path
) -> None:
    """Tries: over Socket Mode, a /askcall envelope naming team T2. Must: the same "not installed" answer as over
    HTTP (the envelope acked, the note on its response_url); nothing stored, nothing sent."""
    settings = make_settings(slack, pilot, tmp_path / "askcall.db", slack_app_token=slack.app_token)
    async with running(settings, slack, pilot) as server:
        await slack.wait_for(lambda: len(slack.sockets) == 1)
        envelope = slash_command_envelope(
            f"{PHONE} Podemos ligar?", team_id="T2", response_url=slack.response_url("crossing")
        )

        await slack.socket_send(envelope)
        await slack.wait_for(lambda: slack.socket_ack(envelope["envelope_id"]) is not None)
        await slack.wait_for(lambda: len(slack.responses) == 1)
        await server.wait_idle()

        assert "install" in slack.responses[0]["text"]
        assert await server.askcall.store.requests_in_state(*RequestState) == []
        assert posts(pilot) == []
