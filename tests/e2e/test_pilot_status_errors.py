"""Every way Pilot Status can refuse or fail: a human explanation in the thread, ❌ on the parent, bounded retries."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack
from tests.conftest import REP, Server
from tests.e2e.helpers import (
    DIGITS,
    E164,
    PERMISSION_PROBE,
    PERMISSION_REQUEST,
    answer,
    ask,
    free_port,
    only_reply,
    only_request,
    posts,
    render,
    replies,
    running,
    updates_of,
)

NOT_SENT = "❌ Não enviado"


async def assert_failed(server: Server, parent: dict[str, Any], fragment: str) -> str:
    """One thread reply explaining `fragment`, one ❌ update of the parent; returns the reply text."""
    reply = only_reply(server.slack, parent)
    assert reply["text"].startswith(f"<@{REP}> ❌ Não enviado:"), reply["text"]
    assert fragment in reply["text"]
    (update,) = updates_of(server.slack, parent)
    assert NOT_SENT in render(update)
    assert "⏳" not in render(update)
    return str(reply["text"])


@pytest.mark.parametrize(
    ("status", "body", "fragment", "error_code"),
    [
        (
            400,
            {"error": "Meta limits apply", "code": "META_CALL_PERMISSION_REQUEST_LIMIT"},
            "1 a cada 24 h e 2 a cada 7 dias",
            "META_CALL_PERMISSION_REQUEST_LIMIT",
        ),
        (
            400,
            {"error": "24h conversation window closed. Use an approved template", "code": "META_OUTSIDE_24H_WINDOW"},
            "só pode ser enviado dentro dessa janela",
            "META_OUTSIDE_24H_WINDOW",
        ),
        (
            400,
            {"error": "`to` looks odd <b>", "code": "VALIDATION_ERROR"},
            "a Pilot Status recusou o pedido (`VALIDATION_ERROR`: `to` looks odd &lt;b&gt;)",
            "VALIDATION_ERROR",
        ),
        (404, {"error": "Number not found", "code": "NUMBER_NOT_FOUND"}, "`NUMBER_NOT_FOUND`", "NUMBER_NOT_FOUND"),
        (
            403,
            {"error": "Forbidden", "code": "TENANT_SCOPE_NOT_ALLOWED"},
            "ligações exigem a chave do número de WhatsApp",
            "TENANT_SCOPE_NOT_ALLOWED",
        ),
    ],
)
async def test_refusals_are_explained_and_never_retried(
    server: Server, status: int, body: dict[str, Any], fragment: str, error_code: str
) -> None:
    server.pilot.script("POST", PERMISSION_REQUEST, status=status, body=body, times=5)
    parent = await ask(server)
    assert len(posts(server.pilot)) == 1
    await assert_failed(server, parent, fragment)
    request = await only_request(server)
    assert (request.state, request.error_code) == ("failed", error_code)


async def test_request_limit_from_the_fake_meta_rules(server: Server) -> None:
    """Meta's 1-per-24 h limit, enforced by the fake for real, reached while the quota probe is down."""
    pilot = server.pilot
    pilot.enforce_limits = True
    first = await ask(server)
    await answer(server, DIGITS, "NO_PERMISSION")  # closes the first request, so a second may be made
    pilot.script("GET", PERMISSION_PROBE, status=503, times=50)  # the pre-check can't help: AskCall sends
    second = await ask(server)
    assert [p.status for p in posts(pilot)] == [200, 400]
    assert len(pilot.permission_requests) == 1
    text = await assert_failed(server, second, "o WhatsApp limita os pedidos de permissão a 1 a cada 24 h")
    assert "Tente de novo depois" in text
    assert len(replies(server.slack, first)) == 1
    # The customer changes their answer to the request that did reach them: the first one, not the refused one.
    await answer(server, DIGITS, "PERMANENT", at=time.time() + 60)
    assert "♾️" in replies(server.slack, first)[-1]["text"]
    assert len(replies(server.slack, second)) == 1


async def test_tenant_key_is_explained(server: Server) -> None:
    server.pilot.tenant_key = True
    parent = await ask(server)
    assert len(posts(server.pilot)) == 1
    await assert_failed(server, parent, "a chave de API configurada é da conta")


async def test_unsupported_number_is_explained(server: Server) -> None:
    server.pilot.provider_supported = False
    parent = await ask(server)
    assert len(posts(server.pilot)) == 1
    await assert_failed(server, parent, "é preciso um número da API oficial da Meta")


async def test_bad_api_key_is_explained(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path
) -> None:
    async with running(replace(settings, pilot_status_api_key="ps_wrong"), slack, pilot) as server:
        parent = await ask(server)
        (sent,) = posts(pilot)
        assert sent.status == 401
        assert sent.headers["x-api-key"] == "ps_wrong"
        text = await assert_failed(server, parent, "a Pilot Status recusou a chave de API do AskCall")
        assert "PILOT_STATUS_API_KEY" in text
        assert "ps_wrong" not in text


@pytest.mark.parametrize(("status", "headers"), [(429, {"Retry-After": "1"})])
async def test_one_transient_failure_then_success(server: Server, status: int, headers: dict[str, str] | None) -> None:
    """A 429 says Pilot Status did not take the request: it is sent again after Retry-After (a 5xx is not, below)."""
    server.pilot.script(
        "POST", PERMISSION_REQUEST, status=status, headers=headers, body={"error": "busy", "code": "BUSY"}
    )
    parent = await ask(server)
    sent = posts(server.pilot)
    assert [p.status for p in sent] == [status, 200]
    assert all(p.json == sent[0].json for p in sent)
    if status == 429:
        # Retry-After: 1 was honoured (a lower bound, so it cannot flake on a slow machine).
        assert sent[1].at - sent[0].at >= 0.95
    request = await only_request(server)
    assert request.state == "waiting"
    assert request.message_id == server.pilot.permission_requests[0].message_id
    assert replies(server.slack, parent) == []
    assert updates_of(server.slack, parent) == []


@pytest.mark.parametrize(
    ("went_out", "status", "body"),
    [
        (True, 503, {"error": "Meta did not answer in time", "code": "UPSTREAM_TIMEOUT"}),
        (True, 504, None),
        (False, 502, None),
        (False, 503, {"error": "down", "code": "UPSTREAM_ERROR"}),
    ],
    ids=["sent-then-upstream-timeout", "sent-then-gateway-504", "gateway-502", "upstream-error"],
)
async def test_a_5xx_to_the_permission_request_is_never_resent_and_the_thread_tells_the_truth(
    server: Server, went_out: bool, status: int, body: dict[str, Any] | None
) -> None:
    """Nothing says a 5xx comes before Meta sent the message. It is never sent again (a resend would meet
    Meta's 1-per-24 h limit and be told as "limit reached" while the customer got the first one); the permission
    probe settles it: the customer's request counted since the send → most likely sent, waiting for the answer;
    otherwise it stays unconfirmed. Either way the thread says so, and the customer's answer lands in it."""
    if went_out:
        server.pilot.act_then_fail_next("POST", PERMISSION_REQUEST, status=status, body=body, times=5)
    else:
        server.pilot.script("POST", PERMISSION_REQUEST, status=status, body=body, times=5)

    parent = await ask(server)

    assert [p.status for p in posts(server.pilot)] == [status]  # once, never again
    assert len(server.pilot.permission_requests) == (1 if went_out else 0)
    reply = only_reply(server.slack, parent)
    request = await only_request(server)
    if went_out:
        assert "muito provavelmente chegou ao cliente" in reply["text"] and "Não vou reenviar" in reply["text"]
        assert request.state == "waiting" and request.sent_at is not None
    else:
        assert reply["text"].startswith(f"<@{REP}> ⚠️") and "não vou reenviar" in reply["text"]
        assert request.state == "unconfirmed"
    assert all(NOT_SENT not in render(update) for update in updates_of(server.slack, parent))
    assert "Traceback" not in reply["text"]

    await answer(server, DIGITS, "PERMANENT")  # the customer answers the request that reached them
    assert "♾️" in replies(server.slack, parent)[-1]["text"]
    assert (await only_request(server)).state == "answered"
    assert len(posts(server.pilot)) == 1


async def test_connection_refused_is_retried_then_explained(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    unused = f"http://127.0.0.1:{free_port()}"
    async with running(replace(settings, pilot_status_base_url=unused), slack, pilot) as server:
        parent = await ask(server)
        assert posts(pilot) == []
        text = await assert_failed(server, parent, "está fora do ar ou sobrecarregada")
        assert f"depois de {settings.pilot_status_retry.attempts} tentativas" in text
        request = await only_request(server)
        assert (request.state, request.error_code) == ("failed", "NETWORK")


async def test_dropped_connection_is_reported_unconfirmed_and_never_resent(server: Server) -> None:
    server.pilot.drop_connection_next("POST", PERMISSION_REQUEST)
    parent = await ask(server)
    assert len(posts(server.pilot)) == 1

    reply = only_reply(server.slack, parent)
    assert reply["text"].startswith(f"<@{REP}> ⚠️")
    assert "não vou reenviar" in reply["text"]
    (update,) = updates_of(server.slack, parent)
    assert "envio não confirmado" in render(update)
    assert NOT_SENT not in render(update)
    assert (await only_request(server)).state == "unconfirmed"

    # If the request did reach the customer, their answer still lands in the thread.
    await answer(server, DIGITS, "TEMPORARY")
    assert len(replies(server.slack, parent)) == 2
    assert "✅" in replies(server.slack, parent)[-1]["text"]
    assert len(posts(server.pilot)) == 1


async def test_pilot_status_too_slow_is_unconfirmed_not_resent(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    pilot.script("POST", PERMISSION_REQUEST, delay=1.5)
    async with running(replace(settings, pilot_status_timeout=0.3), slack, pilot) as server:
        parent = await ask(server)
        assert len(posts(pilot)) == 1
        reply = only_reply(slack, parent)
        assert "⚠️" in reply["text"]
        assert (await only_request(server)).state == "unconfirmed"
        # Pilot Status did accept it in the end: resending would have spent the customer's quota twice.
        await slack.wait_for(lambda: len(pilot.permission_requests) == 1)
        assert pilot.permission_requests[0].to == E164
        assert len(posts(pilot)) == 1


async def test_accepted_with_an_unreadable_body_is_still_accepted(server: Server) -> None:
    """A 2xx means the request went out to the customer: never report it as not sent (nor resend it)."""
    server.pilot.script("POST", PERMISSION_REQUEST, status=200, body="OK")
    parent = await ask(server)
    assert len(posts(server.pilot)) == 1
    assert replies(server.slack, parent) == []
    assert all(NOT_SENT not in render(u) for u in updates_of(server.slack, parent))
    assert (await only_request(server)).state == "waiting"

    await answer(server, DIGITS, "PERMANENT")
    assert "♾️" in only_reply(server.slack, parent)["text"]


async def test_rate_limited_for_longer_than_allowed_gives_up_at_once_and_says_so(server: Server) -> None:
    server.pilot.script(
        "POST", PERMISSION_REQUEST, status=429, headers={"Retry-After": "600"}, body={"code": "RATE_LIMITED"}
    )
    parent = await ask(server)
    assert len(posts(server.pilot)) == 1
    text = await assert_failed(server, parent, "está limitando os envios")
    attempts = server.askcall.settings.pilot_status_retry.attempts
    assert f"depois de {attempts} tentativas" not in text, "only one attempt was made"
    assert "600 s" in text
