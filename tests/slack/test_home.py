"""The App Home builder with calls: each request shows its last call; teammates' requests the rep called on get
a group of their own; whatever the data, the view stays within Slack's limits."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bot.domain import Call, CallState, EndReason, Request
from bot.fakes import blockkit
from bot.i18n import LANGUAGES, Translator
from bot.slack.home import MAX_CALLED_ITEMS, MAX_ITEMS_PER_GROUP, home_view, shown_requests
from bot.slack.messages import REASON_MAX_LENGTH, slack_date
from bot.slack.settings import MAX_SETTINGS_BLOCKS
from tests.slack.test_messages import make_request as base_request

NOW = 1_700_000_000.0
REP = "U1"


def make_request(**overrides: Any) -> Request:
    """A request of REP's, granted permanently an hour ago."""
    defaults = {"state": "answered", "outcome": "PERMANENT", "created_at": NOW - 3600, "message_id": None}
    return base_request(**{**defaults, **overrides})


def make_call(n: int, request_id: int = 1, user_id: str = "U2", **overrides: Any) -> Call:
    call = Call(
        id=n,
        request_id=request_id,
        user_id=user_id,
        pilot_call_id=f"call_{n}",
        state=CallState.ENDED,
        started_at=NOW - 600 + n,
        connected_at=NOW - 590 + n,
        ended_at=NOW - 338 + n,
        duration=252,
        end_reason=EndReason.COMPLETED,
        delivery_key=f"call{n}",
        updated_at=NOW,
    )
    return replace(call, **overrides)


def view(requests: list[Request], lang: str = "en", **kwargs: Any) -> dict[str, Any]:
    built = home_view(
        requests, tr=Translator(lang), now=NOW, dm_answers=False, link=lambda r: f"https://x/{r.id}", **kwargs
    )
    assert blockkit.view_error(built) is None
    return built


def texts(built: dict[str, Any]) -> list[str]:
    return [block["text"]["text"] for block in built["blocks"] if block["type"] == "section"]


def item_of(built: dict[str, Any], phone: str) -> str:
    (item,) = [text for text in texts(built) if f"*{phone}*" in text]
    return item


def test_a_request_shows_its_last_call_who_made_it_and_how_many_there_were() -> None:
    called, quiet = make_request(id=1), make_request(id=2, phone_e164="+5511912345678")
    calls = {1: [make_call(1, end_reason=EndReason.MISSED, duration=None), make_call(2, user_id="U3")]}

    built = view([called, quiet], calls=calls)

    item = item_of(built, "+55 11 98765-4321")
    assert item.endswith(f"\n📞 <@U3> called — 4 min 12 s · {slack_date(NOW - 598)} · 2 calls in all")
    assert "no answer" not in item  # only the last call
    assert "📞" not in item_of(built, "+55 11 91234-5678")


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"state": CallState.CONNECTED, "ended_at": None, "end_reason": None, "duration": None}, "em andamento"),
        ({"end_reason": EndReason.MISSED, "connected_at": None, "duration": None}, "não atendeu"),
        ({"end_reason": EndReason.REJECTED, "connected_at": None, "duration": None}, "recusou"),
        ({"state": CallState.FAILED, "end_reason": "HTTP 503", "duration": None}, "não se completou"),
        ({"state": CallState.FAILED, "end_reason": "META_CALL_PERMISSION_REQUIRED", "duration": None}, "peça de novo"),
    ],
)
def test_the_call_line_says_how_the_call_went_in_the_reps_language(overrides: dict[str, Any], line: str) -> None:
    built = view([make_request()], "pt-BR", calls={1: [make_call(1, **overrides)]})

    item = item_of(built, "+55 11 98765-4321")
    assert "<@U2>" in item and line in item.rsplit("\n", 1)[-1]


def test_teammates_requests_the_rep_called_on_get_their_own_group() -> None:
    own = make_request(id=1)
    theirs = make_request(
        id=7, user_id="U9", phone_e164="+5521998765432", reason="*Oferta* <!here> & <@U5>", phone_display="masked"
    )
    calls = {7: [make_call(3, request_id=7, user_id=REP), make_call(4, request_id=7, user_id="U8")]}

    built = view([own], calls=calls, called=[theirs], user_id=REP)

    all_texts = texts(built)
    assert all_texts.index("*Your calls on teammates' requests*") == len(all_texts) - 2  # after the rep's own
    item = all_texts[-1]
    assert item.startswith("♾️ *+55 21 9••••-5432* · asked by <@U9> · ")  # masked like the channel shows it
    assert "5432" in item and "99876" not in item
    assert "&lt;!here&gt; &amp; &lt;@U5&gt;" in item and "<!here>" not in item
    assert f"\n📞 <@{REP}> called — 4 min 12 s · {slack_date(NOW - 597)}\n" in item  # the rep's call, not U8's
    assert item.endswith("<https://x/7|open thread>")


def test_a_rep_with_no_requests_of_their_own_still_sees_the_calls_they_made() -> None:
    theirs = make_request(id=7, user_id="U9")

    built = view([], "pt-BR", calls={7: [make_call(3, request_id=7, user_id=REP)]}, called=[theirs], user_id=REP)

    assert texts(built)[0].startswith("Você não fez pedidos")
    assert texts(built)[1] == "*Suas ligações em pedidos de colegas*"
    assert f"<@{REP}> ligou — 4 min 12 s" in texts(built)[2]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_fullest_home_tab_with_calls_is_a_valid_view(lang: str) -> None:
    """Every group over its cap, the longest escaped reasons, calls on every item: still within Slack's limits."""
    kinds = [{"outcome": "PERMANENT"}, {"state": "waiting", "outcome": None}, {"outcome": "NO_PERMISSION"}]
    reason = "<&>" * REASON_MAX_LENGTH
    own = [make_request(id=n, reason=reason, **kinds[n % 3]) for n in range(3 * MAX_ITEMS_PER_GROUP + 9)]
    theirs = [make_request(id=1000 + n, user_id="U9", reason=reason) for n in range(MAX_CALLED_ITEMS + 5)]
    calls = {
        r.id: [make_call(r.id * 10 + k, request_id=r.id, user_id=REP, end_reason="X" * 100) for k in range(30)]
        for r in own + theirs
    }

    built = view(own, lang, calls=calls, called=theirs, user_id=REP)

    # Room is kept for an admin's Settings section.
    assert len(built["blocks"]) + MAX_SETTINGS_BLOCKS == blockkit.MAX_VIEW_BLOCKS
    items = [t for t in texts(built) if "<https://x/" in t]
    assert len(items) == 3 * MAX_ITEMS_PER_GROUP + MAX_CALLED_ITEMS
    assert all(Translator(lang).t("home.calls", last="", count=30) in t for t in items)
    # The service reads the calls of exactly the requests shown.
    shown = shown_requests(own, theirs, NOW)
    assert {f"<https://x/{r.id}|" for r in shown} == {t[t.index("<https://x/") :].split("|")[0] + "|" for t in items}
