"""Tenant crossings sent over HTTP to a multi-workspace deployment (2 replicas on PostgreSQL, one process on SQLite),
with two workspaces installed and connected from Slack, each to its own Pilot Status account: the HTTP versions of
tests/isolation's service-level crossings. Each test says what it tries and what must happen; in every case the
crossing is refused and nothing of the other workspace changes (its request row, its channel, its account)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from bot.domain import Request, RequestState
from bot.fakes import FakeSlack
from bot.fakes.pilot_status import permission_event, send_webhook
from bot.fakes.slack import button_payload
from tests.calls.helpers import wait_until
from tests.e2e.helpers import db_rows
from tests.oauth.deployment import LINK_RE, OFFER, Deployment, Workspace, carrying, join

REASON = "Podemos te ligar?"
PROBE = "/v1/calls/permissions"


@dataclass
class Asked:
    ws: Workspace
    request_id: int
    parent: dict[str, object]


async def ask(deployed: Deployment, ws: Workspace) -> Asked:
    """`/askcall` in the workspace, sent to its own account; its status message posted."""
    status, _ = await deployed.command(ws.team, ws.channel, ws.rep, f"{ws.phone} {REASON}")
    assert status == 200
    await wait_until(lambda: [r.to for r in ws.account.permission_requests] == [ws.e164], what="the request")
    await deployed.wait_idle()
    (parent,) = [m for m in deployed.slack.channel_messages(ws.channel) if m.get("thread_ts") is None]
    store = deployed.replicas[0].askcall.store
    (request,) = [r for r in await store.requests_in_state(*RequestState) if r.tenant_id == ws.team]
    return Asked(ws, request.id, parent)


async def grant(deployed: Deployment, asked: Asked) -> None:
    code, text = await asked.ws.account.customer_answers(None, asked.ws.e164, "TEMPORARY")
    assert code == 200, text
    slack = deployed.slack
    await wait_until(lambda: bool(carrying(slack, asked.ws.channel, "askcall_call", str(asked.request_id))))
    await deployed.wait_idle()


async def row(deployed: Deployment, asked: Asked) -> Request:
    found = await deployed.replicas[0].askcall.store.get_request(asked.ws.tenant, asked.request_id)
    assert found is not None
    return found


def channel_state(slack: FakeSlack, ws: Workspace) -> str:
    """Everything in the workspace's channel and every update of it, as one string."""
    updates = [u for u in slack.updates if u["channel"] == ws.channel]
    return json.dumps([slack.channel_messages(ws.channel), updates], sort_keys=True, default=str)


async def both_asked(deployed: Deployment, workspaces: tuple[Workspace, Workspace]) -> tuple[Asked, Asked]:
    for ws in workspaces:
        await join(deployed, ws)
    return await ask(deployed, workspaces[0]), await ask(deployed, workspaces[1])


async def test_a_signed_click_in_b_naming_as_request_changes_nothing(
    deployed: Deployment, workspaces: tuple[Workspace, Workspace], slack: FakeSlack
) -> None:
    """Tries: in workspace B, correctly signed block actions ("Check status", "Call now") whose value names A's
    request id, sent from A's channel and A's status message (copied verbatim). Must: no probe with any key, no call
    link, nothing posted in A's channel, A's request row unchanged."""
    a, _ = await both_asked(deployed, workspaces)
    await grant(deployed, a)
    b_ws = workspaces[1]
    before, seen, probes = await row(deployed, a), channel_state(slack, a.ws), len(deployed.pilot.requests)
    links = len(await db_rows(deployed.replicas[0].askcall.settings, "SELECT * FROM call_links"))
    ephemerals = len(slack.ephemerals)

    for action in ("askcall_check", "askcall_call"):
        click = button_payload(
            action,
            str(a.request_id),
            user=b_ws.rep,
            channel=a.ws.channel,
            message=a.parent,
            response_url=slack.response_url(f"crossing-{action}"),
            team_id=b_ws.team,
        )
        status, _ = await deployed.interact(click)
        assert status == 200
    await deployed.wait_idle()

    assert [r for r in deployed.pilot.requests[probes:] if r.path == PROBE] == []
    assert len(await db_rows(deployed.replicas[0].askcall.settings, "SELECT * FROM call_links")) == links
    assert not any(LINK_RE.search(e.get("text", "")) for e in slack.ephemerals[ephemerals:])
    assert not any(LINK_RE.search(json.dumps(r)) for r in slack.responses)
    assert channel_state(slack, a.ws) == seen
    assert await row(deployed, a) == before

    # The same click from A itself does act (the crossing was refused for being B's, not for its shape).
    own = button_payload(
        "askcall_check", str(a.request_id), user=a.ws.rep, channel=a.ws.channel, message=a.parent, team_id=a.ws.team
    )
    assert (await deployed.interact(own))[0] == 200
    await wait_until(lambda: any(r.path == PROBE for r in deployed.pilot.requests[probes:]), what="A's own check")
    await deployed.wait_idle()
    assert {r.headers["x-api-key"] for r in deployed.pilot.requests[probes:] if r.path == PROBE} == {
        a.ws.account.api_key
    }


async def test_a_webhook_on_as_url_about_bs_customer_matches_nothing(
    deployed: Deployment, workspaces: tuple[Workspace, Workspace], slack: FakeSlack
) -> None:
    """Tries: a Pilot Status webhook on A's per-workspace URL, correctly signed with A's secret, saying B's customer
    (whose request in B is waiting) granted. Must: stored for A and matched to nothing; B's request neither answered
    nor told; nothing posted anywhere; A's own request untouched."""
    a, b = await both_asked(deployed, workspaces)
    before_a, before_b = await row(deployed, a), await row(deployed, b)
    seen_a, seen_b = channel_state(slack, a.ws), channel_state(slack, b.ws)
    (hook,) = a.ws.account.webhooks.values()

    payload = permission_event(b.ws.e164.lstrip("+"), "PERMANENT", business=a.ws.account.business_number)
    status, text = await send_webhook(hook["url"], payload, secret=a.ws.account.webhook_secret)
    assert status == 200, text
    await deployed.wait_idle()

    events = await db_rows(
        deployed.replicas[0].askcall.settings, "SELECT tenant_id, result, request_id FROM webhook_events"
    )
    assert [(e["tenant_id"], e["result"], e["request_id"]) for e in events] == [(a.ws.team, "unmatched", None)]
    after_b = await row(deployed, b)
    assert after_b == before_b and after_b.state is RequestState.WAITING
    assert await row(deployed, a) == before_a
    assert (channel_state(slack, a.ws), channel_state(slack, b.ws)) == (seen_a, seen_b)


async def test_a_call_page_session_of_one_workspace_reaches_no_request_of_the_other(
    deployed: Deployment, workspaces: tuple[Workspace, Workspace], slack: FakeSlack
) -> None:
    """Tries: A's rep's call link redeemed (a session for A's request), then that session's cookie used on B's
    request's call page (config, offer, hang up), and B's session on A's request. Must: 401 SESSION_REQUIRED each
    time; no call started on either account, no calls row, both requests unchanged."""
    a, b = await both_asked(deployed, workspaces)
    for asked in (a, b):
        await grant(deployed, asked)
    cookies = {}
    for asked in (a, b):
        ws = asked.ws
        before = len(slack.ephemerals)
        button = carrying(slack, ws.channel, "askcall_call", str(asked.request_id))[-1]
        click = button_payload(
            "askcall_call", str(asked.request_id), user=ws.rep, channel=ws.channel, message=button, team_id=ws.team
        )
        assert (await deployed.interact(click))[0] == 200
        await wait_until(lambda ws=ws, before=before: any(e.get("user") == ws.rep for e in slack.ephemerals[before:]))
        link = LINK_RE.search(next(e for e in slack.ephemerals[before:] if e.get("user") == ws.rep)["text"])
        assert link is not None
        async with deployed.http.get(link.group(1), allow_redirects=False) as redeemed:
            assert redeemed.status == 200
            cookies[ws.team] = f"askcall_call={redeemed.cookies['askcall_call'].value}"
    before_a, before_b = await row(deployed, a), await row(deployed, b)

    for cookie_of, target in ((a, b), (b, a)):
        headers = {"Cookie": cookies[cookie_of.ws.team], "Origin": deployed.url}
        base = f"{deployed.url}/call/r/{target.request_id}"
        answers = []
        async with deployed.http.get(f"{base}/config", headers=headers) as config:
            answers.append((config.status, (await config.json())["code"]))
        async with deployed.http.post(f"{base}/offer", json={"sdp": OFFER}, headers=headers) as offer:
            answers.append((offer.status, (await offer.json())["code"]))
        async with deployed.http.post(f"{base}/hangup", headers=headers) as hangup:
            answers.append((hangup.status, (await hangup.json())["code"]))
        assert answers == [(401, "SESSION_REQUIRED")] * 3
    await deployed.wait_idle()

    assert [ws.account.requests_to("POST", "/v1/calls") for ws in workspaces] == [[], []]
    assert await db_rows(deployed.replicas[0].askcall.settings, "SELECT * FROM calls") == []
    assert (await row(deployed, a), await row(deployed, b)) == (before_a, before_b)


async def test_the_same_customer_asked_in_both_answers_only_the_number_they_granted(
    deployed: Deployment, workspaces: tuple[Workspace, Workspace], slack: FakeSlack
) -> None:
    """Tries: one customer (the same phone) asked by both workspaces, each through its own number; the customer
    grants only A's number (A's account's webhook, on A's URL). Must: A's request answered and told in A's thread;
    B's request still waiting, its channel untouched, and B's account still says no permission."""
    acme, beta = workspaces
    beta = replace(beta, phone=acme.phone, e164=acme.e164)
    beta.account.customer_writes(beta.e164)
    a, b = await both_asked(deployed, (acme, beta))
    before_b, seen_b = await row(deployed, b), channel_state(slack, b.ws)

    await grant(deployed, a)

    assert (await row(deployed, a)).state is RequestState.ANSWERED
    after_b = await row(deployed, b)
    assert after_b == before_b and after_b.state is RequestState.WAITING
    assert channel_state(slack, b.ws) == seen_b
    assert beta.account.current_permission(beta.e164) == {"status": "no_permission"}
