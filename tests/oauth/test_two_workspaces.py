"""Issue 16's done-when, end to end over loopback HTTP: one deployment in multi-workspace mode (2 replicas on one
PostgreSQL database behind a round-robin balancer; one process on SQLite), two workspaces installed from the landing
page through the OAuth flow, each connected from App Home to its own Pilot Status account (the fake's accounts: one
per API key), then, in both at once: `/askcall` → the customer answers (through their number's account, to the
per-workspace webhook URL AskCall registered, signed with that account's secret) → thread reply and status update
in the workspace's own channel → "Call now" → the call page's session → POST /v1/calls on the workspace's own
account → hang up, told in the thread. They share nothing: each workspace's Slack messages only with its own token
in its own channels, each account's requests only with its own key, every row under its own team, and `/askcall
status` of one workspace's customer says nothing in the other."""

from __future__ import annotations

import asyncio
import json

from bot.domain import Outcome, RequestState
from bot.fakes import FakePilotStatus, FakeSlack
from bot.fakes.pilot_status import CallBehaviour
from bot.fakes.slack import button_payload
from tests.calls.helpers import wait_until
from tests.e2e.helpers import db_rows
from tests.oauth.deployment import (
    LINK_RE,
    OFFER,
    Deployment,
    Workspace,
    carrying,
    join,
)

REASON = "Podemos te ligar para fechar o pedido?"


async def request_answer_call(deployed: Deployment, ws: Workspace) -> int:
    """The whole loop in one workspace; returns the request id."""
    slack = deployed.slack
    status, _ = await deployed.command(ws.team, ws.channel, ws.rep, f"{ws.phone} {REASON}")
    assert status == 200
    await wait_until(lambda: [r.to for r in ws.account.permission_requests] == [ws.e164], what="the permission request")
    await wait_until(lambda: bool(slack.channel_messages(ws.channel)), what="the status message")

    # The customer answers their WhatsApp: the account's webhooks (AskCall's per-workspace URL) are told.
    code, text = await ws.account.customer_answers(None, ws.e164, "PERMANENT")
    assert code == 200, text
    (parent,) = [m for m in slack.channel_messages(ws.channel) if m.get("thread_ts") is None]
    await wait_until(lambda: bool(carrying(slack, ws.channel, "askcall_call", _value_of(parent))), what="Call now")
    # A button on the grant reply works once AskCall has recorded that reply as its own (a moment after Slack
    # stored it): the rep clicks when the deployment is idle, as a person would, long after.
    await deployed.wait_idle()

    # "Call now" → the link (to the clicker only) → the call page's session → the call, on the account's number.
    request_id = int(_value_of(parent))
    before = len(slack.ephemerals)
    button = carrying(slack, ws.channel, "askcall_call", str(request_id))[-1]
    click = button_payload(
        "askcall_call", str(request_id), user=ws.rep, channel=ws.channel, message=button, team_id=ws.team
    )
    status, _ = await deployed.interact(click)
    assert status == 200
    await wait_until(lambda: any(e.get("user") == ws.rep for e in slack.ephemerals[before:]), what="the call link")
    (ephemeral,) = [e for e in slack.ephemerals[before:] if e.get("user") == ws.rep]
    found = LINK_RE.search(ephemeral["text"])
    assert found is not None and found.group(1).startswith(deployed.url + "/call/")
    async with deployed.http.get(found.group(1), allow_redirects=False) as redeemed:
        assert redeemed.status == 200, await redeemed.text()
        cookie = f"askcall_call={redeemed.cookies['askcall_call'].value}"
    base, headers = f"{deployed.url}/call/r/{request_id}", {"Cookie": cookie, "Origin": deployed.url}
    async with deployed.http.post(f"{base}/offer", json={"sdp": OFFER}, headers=headers) as offered:
        assert offered.status == 200, await offered.text()
        call_id = (await offered.json())["callId"]
    assert call_id in ws.account.calls and ws.account.calls[call_id].to == ws.e164
    await wait_until(lambda: ws.account.calls[call_id].status == "RINGING", what="the customer's phone to ring")
    async with deployed.http.post(f"{base}/hangup", headers=headers) as hung_up:
        assert hung_up.status == 200, await hung_up.text()
    await wait_until(lambda: ws.account.calls[call_id].ended_at is not None, what="the call to end")
    return request_id


def _value_of(parent: dict[str, object]) -> str:
    """The request id the status message's buttons carry."""
    values = {
        e.get("value")
        for b in parent.get("blocks") or []  # type: ignore[attr-defined]
        for e in b.get("elements") or []
        if e.get("action_id", "").startswith("askcall_")
    }
    assert len(values) == 1, parent
    return str(values.pop())


async def test_two_workspaces_each_complete_request_answer_call_and_share_nothing(
    deployed: Deployment, workspaces: tuple[Workspace, Workspace], slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    acme, beta = workspaces
    for ws in workspaces:
        ws.account.call_behaviour = CallBehaviour(ring_after=0.05, answer_after=None)  # rings until hung up
        await join(deployed, ws)
    assert acme.account.webhooks.keys().isdisjoint(beta.account.webhooks.keys())
    assert pilot.webhooks == {}  # the default account was never connected

    request_ids = await asyncio.gather(*(request_answer_call(deployed, ws) for ws in workspaces))
    await deployed.wait_idle()

    if len(deployed.replicas) > 1:  # the load balancer did spread the work over both replicas
        assert set(deployed.balancer.spread) == set(deployed.balancer.backends)
    store = deployed.replicas[0].askcall.store
    for ws, request_id, other in zip(workspaces, request_ids, (beta, acme), strict=True):
        request = await store.get_request(ws.tenant, request_id)
        assert request is not None and request.state is RequestState.ANSWERED
        assert request.outcome is Outcome.PERMANENT and request.phone_e164 == ws.e164 and request.tenant_id == ws.team
        assert await store.get_request(other.tenant, request_id) is None
        parent = next(m for m in slack.channel_messages(ws.channel) if m.get("thread_ts") is None)
        replies = slack.thread_replies(ws.channel, parent["ts"])
        texts = [r.get("text", "") for r in replies]  # the grant, then the call (hung up while ringing)
        assert len(texts) == 2 and texts[0].startswith(f"<@{ws.rep}> ") and "permitiu" in texts[0], texts
        assert texts[1] == request.last_call == f"📵 <@{ws.rep}> ligou — não atendeu"
        assert [u for u in slack.updates if u["channel"] == ws.channel and u["ts"] == parent["ts"]]

        # Slack: what this workspace's token wrote went only to its own channels (and its rep, and the installer's
        # welcome, addressed by user id: once per workspace).
        written = [c for c in slack.calls if c.method.startswith("chat.") and c.team == ws.team]
        assert written and {c.args.get("channel") for c in written} <= {
            ws.channel,
            f"D{ws.rep}",
            "DUINSTALLER",
            "UINSTALLER",
            ws.rep,
        }
        assert len([c for c in written if c.args.get("channel") == "UINSTALLER" and c.outcome == "ok"]) == 1
        assert not [c for c in slack.calls if c.args.get("channel") == ws.channel and c.team != ws.team]
        # Pilot Status: only this account's key ever asked about this customer, started its call.
        asked = {r.headers.get("x-api-key") for r in pilot.requests if ws.e164 in json.dumps([r.query, r.json])}
        assert asked == {ws.account.api_key}
        assert [c.to for c in ws.account.calls.values()] == [ws.e164]
        assert {r.headers["x-api-key"] for r in ws.account.requests} == {ws.account.api_key}
        # Every webhook this account sent went to this workspace's own URL.
        (hook,) = ws.account.webhooks.values()
        assert ws.account.deliveries and {d.url for d in ws.account.deliveries} == {hook["url"]}

    # Every row carries its own team.
    settings = deployed.replicas[0].askcall.settings
    by_request = {r["id"]: r["tenant_id"] for r in await db_rows(settings, "SELECT id, tenant_id FROM requests")}
    assert by_request == {request_ids[0]: acme.team, request_ids[1]: beta.team}
    calls = await db_rows(settings, "SELECT tenant_id, pilot_call_id FROM calls")
    by_team = {ws.team: ws for ws in workspaces}
    assert sorted(c["tenant_id"] for c in calls) == [acme.team, beta.team]
    assert all(c["pilot_call_id"] in by_team[c["tenant_id"]].account.calls for c in calls)
    for table in ("call_links", "call_sessions"):
        assert sorted(r["tenant_id"] for r in await db_rows(settings, f"SELECT tenant_id FROM {table}")) == [
            acme.team,
            beta.team,
        ]
    # The webhooks each account sent (the grant, the call's events) are stored under its workspace only.
    events = await db_rows(settings, "SELECT tenant_id, from_phone, to_phone FROM webhook_events")
    assert events and {e["tenant_id"] for e in events} == {acme.team, beta.team}
    for event in events:
        ws = by_team[event["tenant_id"]]
        assert {str(event["from_phone"]).lstrip("+"), str(event["to_phone"]).lstrip("+")} == {
            ws.account.business_number,
            ws.e164.lstrip("+"),
        }

    # `/askcall status` of Beta's customer, asked in Acme: Acme knows nothing of them.
    before = len(slack.responses)
    status, text = await deployed.command(acme.team, acme.channel, acme.rep, f"status {beta.phone}")
    assert status == 200
    await wait_until(lambda: len(slack.responses) > before, what="the status answer")
    await deployed.wait_idle()
    (answer,) = slack.responses[before:]
    # What Acme's own account says of that phone (no permission, no request used), none of Beta's request.
    assert "sem permissão para ligar" in answer["text"] and "1 de 1 em 24 h, 2 de 2 em 7 dias" in answer["text"]
    assert REASON not in text + answer["text"] and beta.rep not in text + answer["text"]
    probed = [r for r in pilot.requests_to("GET", "/v1/calls/permissions") if r.query.get("to") == beta.e164]
    assert probed[-1].headers["x-api-key"] == acme.account.api_key
    request = await store.get_request(beta.tenant, request_ids[1])
    assert request is not None and request.state is RequestState.ANSWERED  # Beta's request untouched
