"""The request modal: a valid submission does what the command does; errors stay next to the fields."""

from __future__ import annotations

import pytest

from tests.conftest import REP, Server
from tests.e2e.helpers import (
    DIGITS,
    E164,
    MASKED,
    PHONE,
    REASON,
    answer,
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


async def assert_nothing_happened(server: Server) -> None:
    assert posts(server.pilot) == []
    assert server.slack.calls_to("chat.postMessage", only_ok=False) == []
    assert server.slack.responses == []
    assert await db_rows(server.askcall.settings, "SELECT id FROM requests") == []


async def test_modal_happy_path_in_the_channel_from_private_metadata(server: Server) -> None:
    slack = server.slack
    metadata = {"channel_id": "C2", "response_url": slack.response_url()}
    response = await server.submit_modal("(11) 98765-4321", REASON, metadata=metadata)
    assert response.status == 200
    assert await response.read() == b""

    await server.wait_idle()
    (sent,) = posts(server.pilot)
    assert sent.json == {"to": E164, "text": REASON}
    assert slack.channel_messages("C1") == []
    parent = only_parent(slack, "C2")
    shown = render(parent)
    assert f"<@{REP}>" in shown and MASKED in shown and REASON in shown and "⏳" in shown
    assert DIGITS not in shown and "98765" not in shown
    request = await only_request(server)
    assert (request.channel_id, request.user_id, request.state) == ("C2", REP, "waiting")

    await answer(server, DIGITS, "PERMANENT")
    reply = only_reply(slack, parent)
    assert reply["channel"] == "C2"
    assert reply["text"].startswith(f"<@{REP}> ♾️")
    (update,) = updates_of(slack, parent)
    assert "♾️" in render(update)


async def test_modal_reason_is_sent_verbatim_and_shown_escaped(server: Server) -> None:
    # Modal values are not escaped by Slack: what arrives is what the rep typed.
    reason = "Preço <R$ 100> & frete <!channel> &lt;literal&gt;"
    await server.submit_modal(PHONE, reason)
    await server.wait_idle()
    (sent,) = posts(server.pilot)
    assert sent.json["text"] == reason
    await answer(server, DIGITS, "NO_PERMISSION")
    for call in slack_writes(server.slack):
        assert "<!channel>" not in render(call)
        assert "<R$" not in render(call)
    parent = only_parent(server.slack)
    assert "Preço &lt;R$ 100&gt; &amp; frete &lt;!channel&gt; &amp;lt;literal&amp;gt;" in render(parent)


async def test_modal_without_reason_uses_the_default(server: Server) -> None:
    await server.submit_modal(PHONE, "")
    await server.wait_idle()
    (sent,) = posts(server.pilot)
    assert sent.json == {"to": E164, "text": "Olá! Podemos te ligar pelo WhatsApp?"}


@pytest.mark.parametrize(
    ("phone", "fragment"),
    [
        ("12345", "`12345` não é um número de telefone válido"),
        ("(11) 3333-4444", "`(11) 3333-4444` parece ser um telefone fixo"),
        ("ligue já", "Não encontrei um número de telefone"),
        # The field holds one number and nothing else; nothing is picked out of it (issue 10).
        ("11 98765-4321 ramal 2", "`11 98765-4321 ramal 2` não é um número de telefone válido"),
        ("+55 11 98765-43210", "`+55 11 98765-43210` não é um número de telefone válido"),
        ("Maria 11 98765-4321", "Não encontrei um número de telefone"),
        ("9 " * 200_000, "`9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9…` não é um número"),
    ],
)
async def test_modal_phone_errors_appear_next_to_the_field(server: Server, phone: str, fragment: str) -> None:
    response = await server.submit_modal(phone, REASON)
    assert response.status == 200
    body = await read_json(response)
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"phone"}
    assert fragment in body["errors"]["phone"]
    await server.wait_idle()
    await assert_nothing_happened(server)


@pytest.mark.parametrize(
    "phone", ["tel:+5511987654321", "https://wa.me/5511987654321", "\u202a+55 11 98765-4321\u202c", " 11987654321 "]
)
async def test_modal_reads_links_and_numbers_copied_with_invisible_marks(server: Server, phone: str) -> None:
    response = await server.submit_modal(phone, "\u200bOi\u200e")
    assert await response.read() == b""
    await server.wait_idle()
    (sent,) = posts(server.pilot)
    assert sent.json == {"to": E164, "text": "Oi"}


async def test_modal_reason_of_only_invisible_characters_gets_the_default(server: Server) -> None:
    await server.submit_modal(PHONE, "\u200b\u2060\ufeff")
    await server.wait_idle()
    (sent,) = posts(server.pilot)
    assert sent.json == {"to": E164, "text": "Olá! Podemos te ligar pelo WhatsApp?"}


async def test_modal_reason_too_long_errors_on_the_reason_field(server: Server) -> None:
    response = await server.submit_modal(PHONE, "x" * 1025)
    body = await read_json(response)
    assert body == {
        "response_action": "errors",
        "errors": {"reason": "O motivo tem 1025 caracteres; o WhatsApp aceita no máximo 1024. Encurte o texto."},
    }
    await server.wait_idle()
    await assert_nothing_happened(server)


async def test_modal_reports_both_fields_at_once(server: Server) -> None:
    response = await server.submit_modal("999", "x" * 2000)
    body = await read_json(response)
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"phone", "reason"}
    await server.wait_idle()
    await assert_nothing_happened(server)


async def test_modal_accepts_a_reason_of_1024_characters(server: Server) -> None:
    response = await server.submit_modal(PHONE, "y" * 1024)
    assert await response.read() == b""
    await server.wait_idle()
    (sent,) = posts(server.pilot)
    assert sent.json["text"] == "y" * 1024


async def test_duplicate_submission_of_the_same_view_makes_one_request(server: Server) -> None:
    for _ in range(3):
        response = await server.submit_modal(PHONE, REASON, view_id="VDUPLICATE1")
        assert response.status == 200
        assert await response.read() == b""
    await server.wait_idle()
    assert len(posts(server.pilot)) == 1
    assert len(server.slack.calls_to("chat.postMessage")) == 1
    assert len(await db_rows(server.askcall.settings, "SELECT id FROM requests")) == 1


async def test_two_different_views_make_two_requests(server: Server) -> None:
    await server.submit_modal(PHONE, REASON, view_id="VONE")
    await server.submit_modal("+55 21 99876-5432", REASON, view_id="VTWO")
    await server.wait_idle()
    assert sorted(p.json["to"] for p in posts(server.pilot)) == [E164, "+5521998765432"]
