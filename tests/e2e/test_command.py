"""`/askcall` end to end: the ack, the parent message, Pilot Status, and the customer's answer in the thread."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from bot.fakes.slack import FakeSlack, slack_signed_headers, slash_command_body
from tests.conftest import CHANNEL, REP, SIGNING_SECRET, Server
from tests.e2e.helpers import (
    DAY,
    DIGITS,
    E164,
    EXAMPLE,
    MASKED,
    PERMISSION_PROBE,
    PHONE,
    REASON,
    answer,
    ask,
    db_rows,
    only_parent,
    only_reply,
    only_request,
    posts,
    read_json,
    render,
    slack_writes,
    updates_of,
)
from tests.opcount import python_lines

# --- happy path ---------------------------------------------------------------------------------------------


async def test_command_happy_path_temporary(server: Server) -> None:
    slack, pilot = server.slack, server.pilot
    response = await server.command(f"{PHONE} {REASON}")
    assert response.status == 200
    assert await response.read() == b""

    await server.wait_idle()
    sent = posts(pilot)
    assert len(sent) == 1
    assert sent[0].json == {"to": E164, "text": REASON}
    assert sent[0].headers["x-api-key"] == pilot.api_key

    parent = only_parent(slack)
    shown = render(parent)
    assert f"<@{REP}>" in shown
    assert MASKED in shown
    assert REASON in shown
    assert "⏳" in shown
    for secret in ("98765", "987654321", DIGITS):
        assert secret not in shown
    request = await only_request(server)
    assert request.state == "waiting"
    assert request.parent_ts == parent["ts"]
    assert request.message_id == pilot.permission_requests[0].message_id

    expiry = int(time.time()) + 3 * DAY + 1234
    probes_before = len(pilot.requests_to("GET", PERMISSION_PROBE))
    result = await answer(server, DIGITS, "TEMPORARY", expiration_time=expiry)
    assert result["duplicate"] is False

    reply = only_reply(slack, parent)
    assert f"<@{REP}>" in reply["text"]
    assert "✅" in reply["text"]
    assert f"<!date^{expiry}^" in reply["text"]
    # The expiry was read from Pilot Status, for this customer.
    probes = pilot.requests_to("GET", PERMISSION_PROBE)[probes_before:]
    assert [p.query for p in probes] == [{"to": E164}]

    (update,) = updates_of(slack, parent)
    assert "✅" in render(update)
    assert f"<!date^{expiry}^" in render(update)
    assert "⏳" not in render(update)
    assert MASKED in render(update) and DIGITS not in render(update)
    assert (await only_request(server)).state == "answered"


@pytest.mark.parametrize(
    ("status", "emoji", "fragment"),
    [
        ("PERMANENT", "♾️", "O cliente permitiu ligações sem prazo"),
        ("NO_PERMISSION", "❌", "O cliente recusou ligações"),
    ],
)
async def test_command_other_outcomes(server: Server, status: str, emoji: str, fragment: str) -> None:
    parent = await ask(server)
    await answer(server, DIGITS, status)

    reply = only_reply(server.slack, parent)
    assert reply["text"].startswith(f"<@{REP}> {emoji}")
    assert fragment in reply["text"]
    assert "<!date^" not in reply["text"]
    (update,) = updates_of(server.slack, parent)
    assert emoji in render(update)
    assert "⏳" not in render(update)
    assert (await only_request(server)).outcome == status


async def test_temporary_expiry_falls_back_to_seven_days_when_the_lookup_fails(server: Server) -> None:
    parent = await ask(server)
    server.pilot.script("GET", PERMISSION_PROBE, status=500, times=20)
    answered_at = int(time.time())
    await answer(server, DIGITS, "TEMPORARY", at=answered_at)

    assert server.pilot.requests_to("GET", PERMISSION_PROBE), "the expiry lookup was not even tried"
    reply = only_reply(server.slack, parent)
    assert f"<!date^{answered_at + 7 * DAY}^" in reply["text"]
    (update,) = updates_of(server.slack, parent)
    assert f"<!date^{answered_at + 7 * DAY}^" in render(update)


async def test_empty_reason_uses_the_default_from_the_catalogue(server: Server) -> None:
    parent = await ask(server, PHONE)
    (sent,) = posts(server.pilot)
    assert sent.json == {"to": E164, "text": "Olá! Podemos te ligar pelo WhatsApp?"}
    assert "Olá! Podemos te ligar pelo WhatsApp?" in render(parent)


@pytest.mark.parametrize(
    "text",
    [
        "+55 (11) 98765-4321 motivo",
        "(11)98765-4321 motivo",
        "11.98765.4321 motivo",
        "11987654321, motivo",
        "tel:+5511987654321 motivo",
        "https://wa.me/5511987654321 motivo",
        "https://wa.me/5511987654321?text=Ol%C3%A1 motivo",
        "\u202a+55 11 98765-4321\u202c \u200bmotivo\u200e",
    ],
)
async def test_any_human_spelling_of_the_number_reaches_pilot_status_as_e164(server: Server, text: str) -> None:
    await ask(server, text)
    (sent,) = posts(server.pilot)
    assert sent.json == {"to": E164, "text": "motivo"}


# --- Slack escaping -----------------------------------------------------------------------------------------


async def test_slack_escaped_text_reaches_the_customer_as_typed(server: Server) -> None:
    parent = await ask(server, f"{PHONE} Preço &lt;R$ 100&gt; &amp; frete")
    (sent,) = posts(server.pilot)
    assert sent.json["text"] == "Preço <R$ 100> & frete"
    # In Slack the reason is shown escaped again, so readers see exactly what the rep typed.
    assert "Preço &lt;R$ 100&gt; &amp; frete" in render(parent)


async def test_a_reason_with_mentions_never_pings_anyone(server: Server) -> None:
    parent = await ask(server, f"{PHONE} Atenção &lt;!channel&gt; &lt;!here&gt; &lt;@U999&gt; ligar hoje")
    (sent,) = posts(server.pilot)
    assert sent.json["text"] == "Atenção <!channel> <!here> <@U999> ligar hoje"
    await answer(server, DIGITS, "NO_PERMISSION")
    await answer(server, DIGITS, "PERMANENT", at=time.time() + 60)

    writes = slack_writes(server.slack)
    assert len(writes) >= 5  # parent, two replies, two updates
    for call in writes:
        for dangerous in ("<!channel>", "<!here>", "<@U999>"):
            assert dangerous not in render(call), call
    assert "&lt;!channel&gt;" in render(parent)


# --- the ack never waits for Pilot Status -------------------------------------------------------------------


async def test_the_ack_does_not_wait_for_pilot_status(server: Server) -> None:
    slack, pilot = server.slack, server.pilot
    pilot.script("POST", "/v1/calls/permissions/request", delay=3.0)

    response = await server.command(f"{PHONE} {REASON}")
    assert response.status == 200
    assert await response.read() == b""
    # The command is answered; Pilot Status has not answered yet (it has not even been asked, or is sleeping).
    assert pilot.permission_requests == []

    await slack.wait_for(lambda: len(posts(pilot)) == 1)
    assert posts(pilot)[0].status is None  # Pilot Status is still sleeping on it
    assert (await only_request(server)).state == "sending"
    # Slack keeps being answered while the Pilot Status call hangs.
    help_response = await server.command("help")
    assert help_response.status == 200
    assert "Como usar o AskCall" in (await read_json(help_response))["text"]
    assert pilot.permission_requests == []

    await server.wait_idle(timeout=10)
    assert len(pilot.permission_requests) == 1
    assert posts(pilot)[0].status == 200
    assert (await only_request(server)).state == "waiting"
    parent = only_parent(slack)
    assert "⏳" in render(parent)


# --- input errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("hello", "Não encontrei um número de telefone"),
        ("123 oi", "Li `123` como o número do cliente, e não é um número de telefone válido"),
        ("+55 11 1234 ligar", "Li `+55 11 1234` como o número do cliente"),
        # A typo is refused as read, never mined for another valid number inside it (issue 10).
        ("+55 11 98765-43210 oi", "Li `+55 11 98765-43210` como o número do cliente"),
        ("11 1198765-4321 oi", "Li `11 1198765-4321` como o número do cliente"),
        ("11 98765-432O oi", "Li `11 98765-432O` como o número do cliente"),
        # Digits right after the number are part of it: the rep is told to separate them.
        ("11987654321 2 pedidos", "Li `11987654321 2` como o número do cliente"),
        ("11987654321 2 pedidos", "separe com uma vírgula: `/askcall 11 98765-4321, 2 pedidos`"),
        ("1198765432 1 pedido", "Li `1198765432 1` como o número do cliente"),
        ("Ligar para 11 98765-4321 amanhã", "Não encontrei um número de telefone"),
        ("(11) 3333-4444 ligar", "`(11) 3333-4444` parece ser um telefone fixo"),
        (f"{PHONE} " + "a" * 1025, "O motivo tem 1025 caracteres; o WhatsApp aceita no máximo 1024"),
        (f"{PHONE} " + "&amp;" * 1025, "O motivo tem 1025 caracteres"),
    ],
)
async def test_input_errors_are_explained_and_nothing_is_sent(server: Server, text: str, fragment: str) -> None:
    response = await server.command(text)
    assert response.status == 200
    assert response.content_type == "application/json"
    body = await read_json(response)
    assert fragment in body["text"]
    assert EXAMPLE in body["text"]
    assert body["response_type"] == "ephemeral"

    await server.wait_idle()
    assert posts(server.pilot) == []
    assert server.slack.calls_to("chat.postMessage", only_ok=False) == []
    assert server.slack.calls_to("views.open", only_ok=False) == []
    assert await db_rows(server.askcall.settings, "SELECT id FROM requests") == []


async def test_a_reason_of_exactly_1024_characters_is_accepted(server: Server) -> None:
    # 1020 letters + 4 ampersands that Slack delivers as `&amp;`: 1024 characters as the rep typed them.
    await ask(server, f"{PHONE} " + "a" * 1020 + "&amp;" * 4)
    (sent,) = posts(server.pilot)
    assert sent.json["text"] == "a" * 1020 + "&" * 4
    assert len(sent.json["text"]) == 1024


@pytest.mark.parametrize("word", ["help", "  AJUDA  ", "\u200bajuda\u200e"])
async def test_help_shows_the_usage(server: Server, word: str) -> None:
    response = await server.command(word)
    assert response.status == 200
    body = await read_json(response)
    assert "Como usar o AskCall" in body["text"]
    assert "/askcall +55 11 98765-4321" in body["text"]
    await server.wait_idle()
    assert posts(server.pilot) == []
    assert server.slack.calls_to("chat.postMessage", only_ok=False) == []


@pytest.mark.parametrize("text", ["", "   ", "\u200b \u2060"])
async def test_bare_command_opens_the_modal(server: Server, text: str) -> None:
    slack: FakeSlack = server.slack
    trigger = slack.trigger_id()
    response = await server.command(text, trigger_id=trigger)
    assert response.status == 200
    assert await response.read() == b""

    await slack.wait_for(lambda: len(slack.calls_to("views.open")) == 1)
    (call,) = slack.calls_to("views.open")
    assert call.args["trigger_id"] == trigger
    view = call.args["view"]
    assert view["type"] == "modal"
    assert view["callback_id"] == "askcall_request"
    metadata = json.loads(view["private_metadata"])
    assert metadata["channel_id"] == CHANNEL
    assert metadata["response_url"] == slack.response_url()
    inputs = {block["block_id"] for block in view["blocks"] if block["type"] == "input"}
    assert inputs == {"phone", "reason"}

    await server.wait_idle()
    assert posts(server.pilot) == []
    assert slack.calls_to("chat.postMessage", only_ok=False) == []


@pytest.mark.parametrize("forgery", ["wrong secret", "replayed", "unsigned"])
async def test_a_forged_or_replayed_slash_command_is_refused(server: Server, forgery: str) -> None:
    body = slash_command_body(f"{PHONE} {REASON}", response_url=server.slack.response_url())
    if forgery == "wrong secret":
        headers = slack_signed_headers(body, "not-the-signing-secret")
    elif forgery == "replayed":
        headers = slack_signed_headers(body, SIGNING_SECRET, timestamp=int(time.time()) - 600)
    else:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = await server.post_slack(body, headers)
    assert response.status == 401
    await server.wait_idle()
    assert posts(server.pilot) == []
    assert server.slack.calls_to("chat.postMessage", only_ok=False) == []
    assert await db_rows(server.askcall.settings, "SELECT id FROM requests") == []


async def test_the_full_number_is_never_shown_in_slack_nor_logged(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.INFO)
    parent = await ask(server)
    await answer(server, DIGITS, "TEMPORARY")
    await answer(server, "5521998765432", "PERMANENT")  # matches nothing: logged, masked
    assert len(slack_writes(server.slack)) == 3
    for call in slack_writes(server.slack):
        for spelled in (DIGITS, E164, "98765-4321", "987654321"):
            assert spelled not in render(call)
    # AskCall's own log lines (`askcall serve` quiets the HTTP libraries, which log full URLs at INFO).
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("bot"))
    assert "+55•••••••4321" in logged
    assert "+55•••••••5432" in logged
    for spelled in (DIGITS, E164, "98765-4321", "5521998765432", "99876-5432"):
        assert spelled not in logged
    assert only_parent(server.slack) == parent


# --- what the customer reads ----------------------------------------------------------------------------------


async def test_a_reason_starting_with_digits_after_a_comma_reaches_the_customer(server: Server) -> None:
    await ask(server, f"{PHONE}, 2 pedidos atrasados")
    (sent,) = posts(server.pilot)
    assert sent.json == {"to": E164, "text": "2 pedidos atrasados"}


@pytest.mark.parametrize("reason", ["\u200b", "\u200e\u200f \u2066\u2069", "\ufeff\u2060\u00ad"])
async def test_a_reason_of_only_invisible_characters_gets_the_default_question(server: Server, reason: str) -> None:
    parent = await ask(server, f"{PHONE} {reason}")
    (sent,) = posts(server.pilot)
    assert sent.json == {"to": E164, "text": "Olá! Podemos te ligar pelo WhatsApp?"}
    assert "Olá! Podemos te ligar pelo WhatsApp?" in render(parent)


async def test_invisible_characters_never_reach_the_customer(server: Server) -> None:
    await ask(server, f"{PHONE} Po\u200bdemos\u00ad ligar\u2060 amanhã? 👩\u200d💻\u200f")
    (sent,) = posts(server.pilot)
    assert sent.json["text"] == "Podemos ligar amanhã? 👩\u200d💻"


# --- hostile sizes ------------------------------------------------------------------------------------------

# Just under the 1 MB body limit once form-encoded (a space is one `+`).
HUGE_RUN = "9 " * 450_000
HUGE_REASON = f"{PHONE} " + "a" * 950_000


async def _command_work(server: Server, text: str) -> tuple[int, str]:
    """Python lines AskCall, Bolt and libphonenumber executed to answer `/askcall text`, and the answer."""
    with python_lines("bot", "phonenumbers", "slack_bolt", "slack_sdk") as count:
        response = await server.command(text)
        body = await read_json(response)
    return count.lines, body["text"]


async def test_a_huge_command_costs_what_a_short_one_does(server: Server) -> None:
    # Before issue 10, 450,000 phone-looking tokens took the server minutes (a loop over them, each
    # step joining and reparsing the text) and nobody else was answered meanwhile.
    for first_use in ("9 " * 30, f"{PHONE} " + "a" * 2000):  # translations, libphonenumber metadata
        await _command_work(server, first_use)
    short_run, _ = await _command_work(server, "9 " * 30)
    huge_run, answer_text = await _command_work(server, HUGE_RUN)
    assert "Li `9 9 9 9 9" in answer_text and "…`" in answer_text
    short_reason, _ = await _command_work(server, f"{PHONE} " + "a" * 2000)
    huge_reason, answer_text = await _command_work(server, HUGE_REASON)
    assert "O motivo tem 950000 caracteres" in answer_text

    # The same Python work whatever the size, give or take what background loops did meanwhile.
    assert huge_run <= short_run * 3 // 2 + 200, (huge_run, short_run)
    assert huge_reason <= short_reason * 3 // 2 + 200, (huge_reason, short_reason)
    await server.wait_idle()
    assert posts(server.pilot) == []
    assert await db_rows(server.askcall.settings, "SELECT id FROM requests") == []


async def test_requests_sent_beside_huge_commands_are_all_answered(server: Server) -> None:
    huge, valid, help_, huge_reason = await asyncio.gather(
        server.command(HUGE_RUN),
        server.command(f"{PHONE} {REASON}"),
        server.command("help"),
        server.command(HUGE_REASON),
    )

    assert huge.status == valid.status == help_.status == huge_reason.status == 200
    assert "Li `9 9 9" in (await read_json(huge))["text"]
    assert await valid.read() == b""
    assert "Como usar o AskCall" in (await read_json(help_))["text"]
    assert "O motivo tem 950000 caracteres" in (await read_json(huge_reason))["text"]
    await server.wait_idle()
    (sent,) = posts(server.pilot)
    assert sent.json == {"to": E164, "text": REASON}
    assert "⏳" in render(only_parent(server.slack))
