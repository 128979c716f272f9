"""The "📞 Call now" link and the call page's session, without a browser: who gets the link, what the database
keeps of it, single use, expiry, the cookie's flags, the Origin check, and a whole call (aiortc as the browser)
whose webhooks are stored once, correlated by callId and told in the thread."""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.config import Settings
from bot.fakes.pilot_status import CallBehaviour, FakePilotStatus, call_event
from bot.fakes.slack import FakeSlack, button_payload, interaction_body
from bot.web import CALL_PAGE_CSP, asset
from tests.calls.askcall import call_click, calling_askcall, click_call_now, granted_request, link_in
from tests.calls.helpers import AiortcCaller, wait_until
from tests.conftest import CHANNEL, REP, Server
from tests.e2e.helpers import E164, db_execute, db_rows, post_webhook, replies, updates_of
from tests.tenants import TENANT

OTHER_REP = "U2"


@pytest.fixture
async def app(settings: Settings, slack: FakeSlack, pilot: FakePilotStatus) -> AsyncIterator[Server]:
    async with calling_askcall(settings, slack, pilot) as server:
        yield server


async def redeem(server: Server, link: str, **kwargs: Any) -> aiohttp.ClientResponse:
    response = await server.http.get(link, allow_redirects=False, **kwargs)
    await response.read()
    return response


def cookie_header(response: aiohttp.ClientResponse) -> str:
    morsel = response.cookies["askcall_call"]
    return f"askcall_call={morsel.value}"


async def test_the_clicker_alone_gets_a_single_use_link_stored_hashed(app: Server) -> None:
    request_id, parent = await granted_request(app)
    assert "askcall_call" in json.dumps(parent["blocks"])  # the status message offers "Call now"
    grant = replies(app.slack, parent)[-1]
    assert "askcall_call" in json.dumps(grant["blocks"])  # and so does the grant reply

    ephemeral = await click_call_now(app, request_id, user=OTHER_REP)
    assert (ephemeral["user"], ephemeral["channel"]) == (OTHER_REP, CHANNEL)
    link = link_in(ephemeral)
    assert link.startswith(f"{app.url}/call/")
    token = link.rsplit("/", 1)[-1]
    assert len(token) == 43  # 32 random bytes, base64url: not guessable
    # Never in a message others can see, never in the database in clear.
    assert all(token not in json.dumps(m) for m in app.slack.messages)
    rows = await db_rows(app.askcall.settings, "SELECT * FROM call_links")
    assert len(rows) == 1 and rows[0]["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert (rows[0]["request_id"], rows[0]["user_id"]) == (request_id, OTHER_REP)
    assert 599 <= rows[0]["expires_at"] - rows[0]["created_at"] <= 601
    assert token not in json.dumps(rows, default=str)

    first = await redeem(app, link)
    handoff = await first.text()
    assert first.status == 200 and f'content="0;url=/call/r/{request_id}/"' in handoff  # moves on to the page
    assert token not in handoff
    assert first.headers["Referrer-Policy"] == "no-referrer"
    set_cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    assert f"Path=/call/r/{request_id}/" in set_cookie and "Secure" not in set_cookie  # http: no Secure
    sessions = await db_rows(app.askcall.settings, "SELECT * FROM call_sessions")
    cookie = first.cookies["askcall_call"].value
    assert len(cookie) == 43  # 32 random bytes too
    assert sessions[0]["session_hash"] == hashlib.sha256(cookie.encode()).hexdigest()
    assert sessions[0]["user_id"] == OTHER_REP

    page = await app.http.get(f"{app.url}/call/r/{request_id}/", headers={"Cookie": cookie_header(first)})
    assert page.status == 200 and "call.js" in await page.text()
    assert page.headers["Content-Security-Policy"] == CALL_PAGE_CSP
    assert page.headers["Referrer-Policy"] == "no-referrer"

    reused = await redeem(app, link)
    assert reused.status == 403 and "askcall_call" not in reused.cookies
    assert "Clique de novo em “📞 Ligar agora”" in await reused.text()
    assert reused.headers["Referrer-Policy"] == "no-referrer"


async def test_call_now_works_from_its_own_messages_only(app: Server) -> None:
    request_id, parent = await granted_request(app)
    grant = replies(app.slack, parent)[-1]
    for message in (parent, grant):  # the status message and the grant reply both carry the button
        assert link_in(await click_call_now(app, request_id, message=message)).startswith(f"{app.url}/call/")
    assert len(await db_rows(app.askcall.settings, "SELECT * FROM call_links")) == 2
    # A click naming this request from any other message (another thread's, a made-up one) gets no link.
    elsewhere = {**grant, "ts": "1700000000.000001"}
    before = len(app.slack.ephemerals)
    for message in (elsewhere, {"ts": "1.0", "text": ""}):
        response = await app.post_slack(call_click(request_id, message=message))
        assert response.status == 200
    await app.wait_idle()
    assert len(app.slack.ephemerals) == before
    assert len(await db_rows(app.askcall.settings, "SELECT * FROM call_links")) == 2


async def test_a_clicker_not_in_the_channel_gets_the_link_through_the_clicks_response_url(app: Server) -> None:
    """Anyone may read a public channel and click its buttons; Slack posts an ephemeral only to its members
    (user_not_in_channel). The link then goes through the click's own response_url, still only to the clicker."""
    request_id, parent = await granted_request(app)
    app.slack.channel(CHANNEL).users = {REP}
    click = button_payload(
        "askcall_call",
        str(request_id),
        user=OTHER_REP,
        channel=CHANNEL,
        message=parent,
        response_url=app.slack.response_url("click"),
    )
    assert (await app.post_slack(interaction_body(click))).status == 200
    await app.slack.wait_for(lambda: len(app.slack.responses) == 1)
    (response,) = app.slack.responses
    assert response["_name"] == "click" and response["response_type"] == "ephemeral"
    assert not response.get("replace_original")  # the status message stays as it is
    assert app.slack.ephemerals == []
    assert [c.outcome for c in app.slack.calls_to("chat.postEphemeral", only_ok=False)] == ["user_not_in_channel"]
    assert (await redeem(app, link_in(response))).status == 200


async def test_a_temporary_grant_gives_links_until_it_runs_out(app: Server) -> None:
    request_id, _ = await granted_request(app, status="TEMPORARY", expiration_time=int(time.time()) + 3 * 86400)
    assert link_in(await click_call_now(app, request_id)).startswith(f"{app.url}/call/")
    await db_execute(app.askcall.settings, "UPDATE requests SET expires_at = ?", (time.time() - 1,))
    ephemeral = await click_call_now(app, request_id)
    assert "/call/" not in ephemeral["text"]
    assert len(await db_rows(app.askcall.settings, "SELECT * FROM call_links")) == 1


async def test_an_expired_or_made_up_link_is_refused(app: Server) -> None:
    request_id, _ = await granted_request(app)
    link = link_in(await click_call_now(app, request_id))
    await db_execute(app.askcall.settings, "UPDATE call_links SET expires_at = ?", (time.time() - 1,))
    assert (await redeem(app, link)).status == 403
    assert (await redeem(app, link.rsplit("/", 1)[0] + "/" + "x" * 43)).status == 403
    assert (await redeem(app, link.rsplit("/", 1)[0] + "/%00garbage")).status in (403, 404)
    assert await db_rows(app.askcall.settings, "SELECT * FROM call_sessions") == []


async def test_the_refusal_uses_the_call_pages_stylesheet_and_the_icon_is_served(app: Server) -> None:
    made_up = await app.http.get(f"{app.url}/call/{'x' * 43}")
    page = await made_up.text()
    assert made_up.status == 403 and made_up.headers["Content-Security-Policy"] == CALL_PAGE_CSP
    assert '<link rel="stylesheet" href="static/call.css">' in page and '<main class="card">' in page
    stylesheet = await app.http.get(f"{app.url}/call/static/call.css")
    assert stylesheet.status == 200 and stylesheet.content_type == "text/css"
    assert await stylesheet.read() == asset("call.css")

    icon = await app.http.get(f"{app.url}/favicon.ico")
    body = await icon.read()
    assert icon.status == 200 and icon.content_type == "image/x-icon"
    reserved, kind, count = struct.unpack("<HHH", body[:6])
    assert (reserved, kind, count) == (0, 1, 1)  # an ICO with one image…
    width, height, *_, size, offset = struct.unpack("<BBBBHHII", body[6:22])
    assert (width, height) == (32, 32) and body[offset : offset + 8] == b"\x89PNG\r\n\x1a\n"  # …a 32×32 PNG
    assert offset + size == len(body)


async def test_a_session_opens_only_its_own_request_and_only_from_askcalls_origin(app: Server) -> None:
    app.slack.user_names[REP] = "Maria <b>Souza</b>"  # the name Slack shows for the rep who asked
    request_id, _ = await granted_request(app)
    first = await redeem(app, link_in(await click_call_now(app, request_id)))
    cookie = {"Cookie": cookie_header(first)}
    base = f"{app.url}/call/r/{request_id}"

    config = await app.http.get(f"{base}/config", headers=cookie)
    body = await config.json()
    assert config.status == 200 and body["customer"] == "+55 11 9••••-4321" and body["askedBy"] == "Maria <b>Souza</b>"
    assert E164 not in json.dumps(body)
    assert (await app.http.get(f"{base}/config")).status == 401  # no cookie
    other = request_id + 1
    for path in ("/", "/config"):  # another request's page, with this cookie
        assert (await app.http.get(f"{app.url}/call/r/{other}{path}", headers=cookie)).status in (401, 403)

    same = {**cookie, "Origin": app.url}
    for headers in (cookie, {**cookie, "Origin": "https://evil.example"}, {**cookie, "Origin": "null"}):
        offer = await app.http.post(f"{base}/offer", json={"sdp": "v=0"}, headers=headers)
        assert (offer.status, (await offer.json())["code"]) == (403, "ORIGIN_REFUSED")
        assert (await app.http.post(f"{base}/hangup", headers=headers)).status == 403
    assert (await app.http.get(f"{base}/events", headers={**cookie, "Sec-Fetch-Site": "cross-site"})).status == 403
    assert (await app.http.get(f"{base}/events", headers={**cookie, "Origin": "https://evil.example"})).status == 403
    assert (await app.http.post(f"{base}/offer", json={"sdp": "v=0"}, headers={"Origin": app.url})).status == 401
    garbage = await app.http.post(f"{base}/offer", data=b"not json", headers=same)
    assert garbage.status == 400 and (await garbage.json())["code"] == "VALIDATION_ERROR"
    assert app.pilot.requests_to("POST", "/v1/calls") == []


async def test_the_cookie_is_secure_behind_https(settings: Settings, slack: FakeSlack, pilot: FakePilotStatus) -> None:
    async with calling_askcall(settings, slack, pilot, public_url="https://askcall.example") as server:
        request_id, _ = await granted_request(server)
        link = link_in(await click_call_now(server, request_id))
        assert link.startswith("https://askcall.example/call/")
        first = await redeem(server, server.url + link.removeprefix("https://askcall.example"))
        assert "Secure" in first.headers["Set-Cookie"]


async def test_without_a_public_url_the_button_says_what_to_set(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    async with calling_askcall(settings, slack, pilot, public_url=None) as server:
        request_id, _ = await granted_request(server)
        ephemeral = await click_call_now(server, request_id)
        assert "ASKCALL_PUBLIC_URL" in ephemeral["text"] and "/call/" not in ephemeral["text"]
        assert await db_rows(server.askcall.settings, "SELECT * FROM call_links") == []


def check_click(request_id: int, parent: dict[str, Any]) -> str:
    """The "Check status" click on the status message."""
    return call_click(request_id, message=parent).replace("askcall_call", "askcall_check")


def same_origin_get(headers: dict[str, str]) -> dict[str, str]:
    """What a browser sends with the page's EventSource: the cookie, no Origin, Sec-Fetch-Site."""
    return {"Cookie": headers["Cookie"], "Sec-Fetch-Site": "same-origin"}


async def sse_states(response: aiohttp.ClientResponse, until: str) -> AsyncIterator[dict[str, Any]]:
    async for line in response.content:
        if line.startswith(b"data: "):
            update = json.loads(line[6:])
            assert isinstance(update.pop("now"), float)  # the server's clock, for the page's timer
            yield update
            if update["state"] in (until, "ended", "failed"):
                return


async def test_a_whole_call_is_told_once_in_the_thread(app: Server) -> None:
    app.pilot.call_behaviour = CallBehaviour(answer_after=0.2)
    request_id, parent = await granted_request(app)
    first = await redeem(app, link_in(await click_call_now(app, request_id, user=OTHER_REP)))
    headers = {"Cookie": cookie_header(first), "Origin": app.url}
    base = f"{app.url}/call/r/{request_id}"
    caller = AiortcCaller()
    try:
        offer = await app.http.post(f"{base}/offer", json={"sdp": await caller.offer()}, headers=headers)
        assert offer.status == 200, await offer.text()
        call_id = (await offer.json())["callId"]
        assert app.pilot.requests_to("POST", "/v1/calls")[0].json["to"] == E164
        events = await app.http.get(f"{base}/events", headers=same_origin_get(headers))
        seen = [u async for u in sse_states(events, "connected")]
        assert [u["state"] for u in seen] == ["ringing", "connected"]
        await caller.accept(seen[-1]["sdpAnswer"])
        phone = app.pilot.calls[call_id].peer
        assert phone is not None
        await wait_until(lambda: phone.frames_received > 5, what="the customer to hear the caller")
        await asyncio.sleep(1.1)
        assert (await app.http.post(f"{base}/hangup", headers=headers)).status == 200
        again = await app.http.get(f"{base}/events", headers=same_origin_get(headers))
        ended = [u async for u in sse_states(again, "ended")][-1]
        assert ended == {"state": "ended", "reason": "completed", "seconds": ended["seconds"]}
        assert ended["seconds"] == app.pilot.calls[call_id].duration  # what the thread says (below)
    finally:
        await caller.close()
    await app.wait_idle()

    # The thread: one message for the call, posted then updated in place; the status line names the last call.
    call_messages = [m for m in replies(app.slack, parent) if "📞" in m.get("text", "") and "<@U2>" in m["text"]]
    assert len(call_messages) == 1
    assert call_messages[0]["text"].startswith("📞 <@U2> ligou — ") and call_messages[0]["text"].endswith(" s")
    assert "em andamento" not in call_messages[0]["text"]
    assert any(
        "Última ligação" in json.dumps(u.get("blocks"), ensure_ascii=False) for u in updates_of(app.slack, parent)
    )
    # Kept on the request: a later rebuild of the status message ("Check status") still shows the last call.
    kept = await app.askcall.store.get_request(TENANT, request_id)
    assert kept is not None and kept.last_call == call_messages[0]["text"]
    before = len(updates_of(app.slack, parent))
    assert (await app.post_slack(check_click(request_id, parent))).status == 200
    await app.slack.wait_for(lambda: len(updates_of(app.slack, parent)) > before)
    await app.wait_idle()
    checked = json.dumps(updates_of(app.slack, parent)[-1].get("blocks"), ensure_ascii=False)
    assert "Verificado em" in checked and "Última ligação" in checked
    rows = await db_rows(app.askcall.settings, "SELECT * FROM calls")
    assert len(rows) == 1 and rows[0]["user_id"] == OTHER_REP and rows[0]["pilot_call_id"] == call_id
    assert rows[0]["state"] == "ended" and rows[0]["end_reason"] == "completed" and rows[0]["duration"] >= 1

    metrics = await (await app.http.get(f"{app.url}/metrics")).text()
    assert 'askcall_calls{end_reason="completed",state="ended"} 1.0' in metrics
    assert "askcall_calls_connected_total 1.0" in metrics
    assert f"askcall_call_duration_seconds_total {float(rows[0]['duration'])}" in metrics

    # The call's webhooks were stored once each; a redelivery changes nothing.
    stored = await db_rows(app.askcall.settings, "SELECT event, result FROM webhook_events WHERE event LIKE 'call.%'")
    assert sorted(e["event"] for e in stored if e["event"] != "call.permission_updated") == [
        "call.connected",
        "call.ended",
        "call.ringing",
    ]
    ended = next(e for e in app.pilot.calls[call_id].events if e["event"] == "call.ended")
    code, text = await post_webhook(app, ended)
    assert code == 200 and json.loads(text)["duplicate"] is True
    late = call_event("call.ringing", call_id, "RINGING", customer=E164)
    assert (await post_webhook(app, late))[0] == 200
    await app.wait_idle()
    assert (await db_rows(app.askcall.settings, "SELECT state FROM calls"))[0]["state"] == "ended"
    assert len([m for m in replies(app.slack, parent) if "<@U2>" in m.get("text", "")]) == 1


async def test_a_missed_call_says_so_in_the_thread(app: Server) -> None:
    app.pilot.call_behaviour = CallBehaviour(answer_after=None, ring_timeout=0.3)
    request_id, parent = await granted_request(app)
    first = await redeem(app, link_in(await click_call_now(app, request_id)))
    headers = {"Cookie": cookie_header(first), "Origin": app.url}
    caller = AiortcCaller()
    try:
        offer = await app.http.post(
            f"{app.url}/call/r/{request_id}/offer", json={"sdp": await caller.offer()}, headers=headers
        )
        assert offer.status == 200
        events = await app.http.get(f"{app.url}/call/r/{request_id}/events", headers=same_origin_get(headers))
        assert [u async for u in sse_states(events, "ended")][-1] == {
            "state": "ended",
            "reason": "missed",
            "seconds": None,
        }
    finally:
        await caller.close()
    await app.wait_idle()
    assert any(m.get("text") == f"📵 <@{REP}> ligou — não atendeu" for m in replies(app.slack, parent))


async def test_an_expired_permission_is_refused_by_pilot_status_and_nothing_rings(app: Server) -> None:
    request_id, parent = await granted_request(app)
    first = await redeem(app, link_in(await click_call_now(app, request_id)))
    app.pilot.permissions.clear()
    caller = AiortcCaller()
    try:
        offer = await app.http.post(
            f"{app.url}/call/r/{request_id}/offer",
            json={"sdp": await caller.offer()},
            headers={"Cookie": cookie_header(first), "Origin": app.url},
        )
    finally:
        await caller.close()
    assert offer.status == 400 and (await offer.json())["code"] == "META_CALL_PERMISSION_REQUIRED"
    assert app.pilot.calls == {}
    rows = await db_rows(app.askcall.settings, "SELECT state, end_reason FROM calls")
    assert rows == [{"state": "failed", "end_reason": "META_CALL_PERMISSION_REQUIRED"}]
    metrics = await (await app.http.get(f"{app.url}/metrics")).text()
    assert 'askcall_calls{end_reason="META_CALL_PERMISSION_REQUIRED",state="failed"} 1.0' in metrics
    await app.wait_idle()
    told = [m["text"] for m in replies(app.slack, parent) if "<@U1> tentou ligar" in m.get("text", "")]
    assert told == ["⚠️ <@U1> tentou ligar, mas a permissão do cliente expirou ou foi retirada: peça de novo."]
    # Meta has the last word: the grant is over, so the status message offers "Ask again", not "Call now".
    request = await app.askcall.store.get_request(TENANT, request_id)
    assert request is not None and request.state == "expired"
    status = json.dumps(updates_of(app.slack, parent)[-1].get("blocks"))
    assert "askcall_again" in status and "askcall_call" not in status
    again = await click_call_now(app, request_id, message=parent)  # an old "Call now" is refused politely
    assert "/call/" not in again["text"]
