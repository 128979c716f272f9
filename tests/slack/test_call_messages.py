"""Block Kit for calls: "📞 Call now" only while the grant holds, and how a call is told in the thread."""

from __future__ import annotations

import json

import pytest

from bot.domain import CallState, EndReason
from bot.fakes import blockkit
from bot.i18n import Translator
from bot.slack.messages import CALL_ACTION, call_line, duration_text, grant_reply, parent_message
from tests.slack.test_messages import EXPIRES, make_request

PT, EN = Translator("pt-BR"), Translator("en")


def actions(message: dict[str, object]) -> list[str]:
    return [e["action_id"] for b in message.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]  # type: ignore[index, union-attr]


@pytest.mark.parametrize(
    ("overrides", "now", "callable_"),
    [
        ({"state": "answered", "outcome": "PERMANENT"}, EXPIRES, True),
        ({"state": "answered", "outcome": "TEMPORARY", "expires_at": EXPIRES}, EXPIRES - 1, True),
        ({"state": "answered", "outcome": "TEMPORARY", "expires_at": EXPIRES}, EXPIRES, False),
        ({"state": "expired", "outcome": "TEMPORARY", "expires_at": EXPIRES}, EXPIRES - 1, False),
        ({"state": "answered", "outcome": "NO_PERMISSION"}, EXPIRES, False),
        ({"state": "waiting"}, EXPIRES, False),
        # Retention erased the customer's number: nobody can call it any more, whatever the grant said.
        ({"state": "answered", "outcome": "PERMANENT", "purged_at": EXPIRES - 1, "phone_e164": ""}, EXPIRES, False),
    ],
)
def test_call_now_shows_only_while_the_grant_holds(overrides: dict[str, object], now: float, callable_: bool) -> None:
    request = make_request(**overrides)
    parent = parent_message(request, now=now)
    assert (CALL_ACTION in actions(parent)) is callable_
    assert blockkit.message_blocks_error(parent["blocks"]) is None
    reply = grant_reply(request, "✅ ok", now)
    assert (CALL_ACTION in actions(reply)) is callable_
    if callable_:
        assert "📞 Ligar agora" in json.dumps(parent, ensure_ascii=False)
        assert blockkit.message_blocks_error(reply["blocks"]) is None


def test_the_last_call_shows_in_the_status_line() -> None:
    request = make_request(state="answered", outcome="PERMANENT")
    parent = parent_message(
        request, last_call=call_line(PT, "U2", CallState.ENDED, EndReason.COMPLETED, 252), now=EXPIRES
    )
    context = json.dumps([b for b in parent["blocks"] if b["type"] == "context"], ensure_ascii=False)
    assert "Última ligação: 📞 <@U2> ligou — 4 min 12 s" in context


def test_how_a_call_is_told() -> None:
    assert call_line(PT, "U2", CallState.STARTED, None, None) == "📞 <@U2> ligou — em andamento"
    assert call_line(PT, "U2", CallState.CONNECTED, None, None) == "📞 <@U2> ligou — em andamento"
    assert call_line(PT, "U2", CallState.ENDED, EndReason.COMPLETED, 252) == "📞 <@U2> ligou — 4 min 12 s"
    assert call_line(EN, "U2", CallState.ENDED, EndReason.COMPLETED, 42) == "📞 <@U2> called — 42 s"
    assert call_line(PT, "U2", CallState.ENDED, "missed", None) == "📵 <@U2> ligou — não atendeu"
    assert call_line(PT, "U2", CallState.ENDED, "rejected", None) == "📵 <@U2> ligou — recusou"
    # Ended without a duration: the customer never answered (the rep hung up while it rang).
    assert call_line(EN, "U2", CallState.ENDED, EndReason.COMPLETED, None) == "📵 <@U2> called — no answer"
    assert "tentou ligar" in call_line(PT, "U2", CallState.FAILED, "TIMEOUT", None)
    assert "expirou" in call_line(PT, "U2", CallState.FAILED, "META_CALL_PERMISSION_REQUIRED", None)
    assert duration_text(60, EN) == "1 min 0 s" and duration_text(0, EN) == "0 s"
