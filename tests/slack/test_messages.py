"""Block Kit builders and Slack text escaping (bot/slack/messages.py)."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from bot.domain import Request
from bot.fakes import blockkit
from bot.i18n import LANGUAGES, Translator
from bot.slack.home import MAX_ITEMS_PER_GROUP, home_view
from bot.slack.messages import (
    MODAL_CALLBACK_ID,
    PHONE_ACTION,
    PHONE_BLOCK,
    REASON_ACTION,
    REASON_BLOCK,
    REASON_MAX_LENGTH,
    answer_text,
    escape_mrkdwn,
    parent_message,
    parent_update,
    request_modal,
    slack_date,
    status_line,
    thread_reply,
    unescape_slack,
)

EXPIRES = datetime(2026, 7, 10, 15, 0, tzinfo=UTC).timestamp()


def make_request(**overrides: Any) -> Request:
    request = Request(
        id=1,
        source_key="cmd:T1",
        team_id="T1",
        channel_id="C1",
        user_id="U1",
        phone_e164="+5511987654321",
        phone_key="551187654321",
        reason="Podemos te ligar?",
        lang="pt-BR",
        response_url=None,
        state="waiting",
        outcome=None,
        error_code=None,
        parent_ts="1700000000.000100",
        message_id="wamid.X",
        answer_event_ts=None,
        created_at=1_700_000_000.0,
        sent_at=None,
        answered_at=None,
        expires_at=None,
        updated_at=1_700_000_000.0,
    )
    return replace(request, **overrides)


def slack_escape(text: str) -> str:
    """What Slack does to slash-command text before sending it to the app."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def block_texts(blocks: list[dict[str, Any]]) -> list[str]:
    texts: list[str] = []
    for block in blocks:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts.extend(element["text"] for element in block.get("elements", []) if "text" in element)
    return texts


# --- escaping ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<!here> urgente", "&lt;!here&gt; urgente"),
        ("<@U123>", "&lt;@U123&gt;"),
        ("<http://evil|x>", "&lt;http://evil|x&gt;"),
        ("A & B", "A &amp; B"),
        ("&lt;", "&amp;lt;"),
        ("sem nada especial *negrito*", "sem nada especial *negrito*"),
    ],
)
def test_escape_mrkdwn_exact_output(raw: str, escaped: str) -> None:
    assert escape_mrkdwn(raw) == escaped


def test_escaped_text_has_no_slack_control_sequences() -> None:
    escaped = escape_mrkdwn("<!channel> <@U123> <#C1> <http://evil|x> <!subteam^S1>")

    assert "<" not in escaped
    assert ">" not in escaped


@pytest.mark.parametrize(
    ("slack_text", "typed"),
    [
        ("&lt;!channel&gt;", "<!channel>"),
        ("A &amp; B", "A & B"),
        ("&amp;lt;", "&lt;"),
        ("&amp;amp;", "&amp;"),
        ("&amp;gt;&lt;", "&gt;<"),
        ("1 &lt; 2 &gt; 0", "1 < 2 > 0"),
    ],
)
def test_unescape_slack_examples(slack_text: str, typed: str) -> None:
    assert unescape_slack(slack_text) == typed


def test_rep_typing_entity_text_gets_it_back_literally() -> None:
    # A rep literally typing `&lt;` reaches the app as `&amp;lt;` and must come back as `&lt;`.
    assert unescape_slack(slack_escape("&lt;")) == "&lt;"


@pytest.mark.parametrize(
    "typed",
    ["", "plain", "<!channel>", "&", "&lt;", "&amp;lt;", "&gt;&lt;&amp;", "a<b>c&d", "&&<<>>;;", "<&lt;>"],
)
def test_unescape_slack_inverts_slack_escaping(typed: str) -> None:
    assert unescape_slack(slack_escape(typed)) == typed


def test_unescape_slack_inverts_slack_escaping_on_random_text() -> None:
    rng = random.Random(1234)
    alphabet = ["&", "<", ">", "a", "m", "p", "l", "t", "g", ";", " ", "&amp;", "&lt;", "&gt;"]
    for _ in range(2000):
        typed = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert unescape_slack(slack_escape(typed)) == typed


# --- parent message ----------------------------------------------------------------------------
MALICIOUS = "<!channel> pague em <http://evil|banco> & avise <@U123>\n<!here>"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_parent_message_escapes_a_malicious_reason(lang: str) -> None:
    message = parent_message(make_request(reason=MALICIOUS, lang=lang))

    texts = [*block_texts(message["blocks"]), message["text"]]
    for text in texts:
        assert "<!channel>" not in text
        assert "<!here>" not in text
        assert "<http://evil" not in text
        assert "<@U123>" not in text
    assert any("&lt;!channel&gt;" in text for text in texts)


def test_parent_message_content() -> None:
    message = parent_message(make_request(lang="en"))

    assert message["channel"] == "C1"
    headline, reason, status, check_button = block_texts(message["blocks"])
    assert headline == "<@U1> asked for permission to call *+55 11 9••••-4321*"
    assert reason == "> Reason: Podemos te ligar?"
    assert status == "⏳ Waiting for the customer"
    assert check_button == {"type": "plain_text", "text": "Check status"}
    assert message["text"] == "Call permission request for +55 11 9••••-4321: ⏳ Waiting for the customer"
    assert "thread_ts" not in message


@pytest.mark.parametrize(
    ("overrides", "again"),
    [
        ({}, False),
        ({"state": "answered", "outcome": "TEMPORARY", "expires_at": EXPIRES}, False),
        ({"state": "answered", "outcome": "NO_PERMISSION"}, True),
        ({"state": "failed"}, True),
        ({"state": "expired", "outcome": "TEMPORARY", "expires_at": EXPIRES}, True),
    ],
)
def test_ask_again_button_only_once_the_request_is_over_without_a_grant(overrides: dict[str, Any], again: bool) -> None:
    blocks = parent_message(make_request(**overrides))["blocks"]
    action_ids = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert action_ids == (["askcall_check", "askcall_again"] if again else ["askcall_check"])


def test_status_message_started_from_a_message_is_a_reply_in_its_thread() -> None:
    request = make_request(thread_ts="1600000000.000001")
    assert parent_message(request)["thread_ts"] == "1600000000.000001"
    assert "thread_ts" not in parent_update(request)
    assert thread_reply(request, "oi")["thread_ts"] == "1600000000.000001"


def test_expired_grant_shows_hourglass() -> None:
    request = make_request(state="expired", outcome="TEMPORARY", expires_at=EXPIRES, lang="en")
    assert block_texts(parent_message(request)["blocks"])[2] == "⌛ Permission expired"


def test_parent_message_never_shows_the_full_phone() -> None:
    message = parent_message(make_request())

    assert "98765" not in json.dumps(message, ensure_ascii=False)
    assert "5511987654321" not in json.dumps(message, ensure_ascii=False)


def test_parent_message_quotes_every_line_of_a_multiline_reason() -> None:
    message = parent_message(make_request(reason="linha 1\nlinha 2", lang="pt-BR"))

    assert block_texts(message["blocks"])[1] == "> Motivo: linha 1\n> linha 2"


def test_parent_update_targets_the_parent_ts() -> None:
    request = make_request(outcome="PERMANENT", state="answered")
    update = parent_update(request)

    assert update["ts"] == "1700000000.000100"
    assert update["blocks"] == parent_message(request)["blocks"]


def test_thread_reply_goes_to_the_parent_thread() -> None:
    assert thread_reply(make_request(), "oi") == {"channel": "C1", "thread_ts": "1700000000.000100", "text": "oi"}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"reason": ""},
        {"reason": MALICIOUS},
        {"reason": "x" * REASON_MAX_LENGTH},
        {"reason": "&" * REASON_MAX_LENGTH},
        {"reason": "<\n" * (REASON_MAX_LENGTH // 2)},
        {"reason": "a<" * (REASON_MAX_LENGTH // 2)},
        {"state": "answered", "outcome": "TEMPORARY", "expires_at": EXPIRES},
        {"state": "failed", "error_code": "META_CALL_PERMISSION_REQUEST_LIMIT"},
    ],
)
def test_parent_blocks_are_valid_block_kit(lang: str, overrides: dict[str, Any]) -> None:
    message = parent_message(make_request(lang=lang, **overrides))

    parsed = Block.parse_all(message["blocks"])
    assert len(parsed) == len(message["blocks"]) == 4
    # The fake Slack's checks: slack_sdk's validators, recursively, plus the limits it leaves out.
    assert blockkit.message_blocks_error(message["blocks"]) is None
    assert blockkit.message_text_error(message["text"]) is None


@pytest.mark.parametrize("reason", ["&" * REASON_MAX_LENGTH, "a<<" * 341, "x>>" * 341, "<\n" * 512])
def test_long_escaped_reason_is_shortened_without_breaking_an_entity(reason: str) -> None:
    message = parent_message(make_request(reason=reason))

    text = block_texts(message["blocks"])[1]
    assert len(text) <= 3000
    assert text.endswith("…")
    # Every `&` left in the text still starts a complete entity.
    body = text.removesuffix("…")
    for position, char in enumerate(body):
        if char == "&":
            assert body[position:].startswith(("&amp;", "&lt;", "&gt;")), body[position:]


def test_reason_that_fits_is_not_shortened() -> None:
    reason = "&" * 500

    text = block_texts(parent_message(make_request(reason=reason))["blocks"])[1]
    assert text == "> Motivo: " + "&amp;" * 500


# --- modal -------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("phone", ["", "+55 11 98765-4321"])
def test_request_modal_is_a_valid_view(lang: str, phone: str) -> None:
    metadata = {"channel_id": "C1", "response_url": "https://hooks.slack.com/commands/T1/1/abc"}
    modal = request_modal(Translator(lang), private_metadata=metadata, phone=phone)

    assert blockkit.view_error(modal) is None


def test_request_modal_structure() -> None:
    metadata = {"channel_id": "C1", "response_url": "https://x"}
    modal = request_modal(Translator("en"), private_metadata=metadata, phone="11 98765-4321")

    assert modal["callback_id"] == MODAL_CALLBACK_ID
    assert json.loads(modal["private_metadata"]) == metadata
    assert modal["title"]["text"] == "Ask to call"
    by_id = {block.get("block_id"): block for block in modal["blocks"]}
    assert by_id[PHONE_BLOCK]["element"]["action_id"] == PHONE_ACTION
    assert by_id[PHONE_BLOCK]["element"]["initial_value"] == "11 98765-4321"
    assert by_id[REASON_BLOCK]["element"]["action_id"] == REASON_ACTION
    assert by_id[REASON_BLOCK]["element"]["max_length"] == REASON_MAX_LENGTH
    assert by_id[REASON_BLOCK]["optional"] is True


def test_request_modal_without_phone_has_no_initial_value() -> None:
    modal = request_modal(Translator("pt-BR"), private_metadata={})

    phone_block = next(b for b in modal["blocks"] if b.get("block_id") == PHONE_BLOCK)
    assert "initial_value" not in phone_block["element"]
    assert modal["title"]["text"] == "Pedir para ligar"


# --- dates and status lines --------------------------------------------------------------------
def test_slack_date_format() -> None:
    ts = datetime(2026, 7, 3, 15, 4, 59, tzinfo=UTC).timestamp()

    assert slack_date(ts) == f"<!date^{int(ts)}^{{date_short_pretty}} {{time}}|2026-07-03 15:04 UTC>"


def test_slack_date_truncates_fractional_seconds() -> None:
    assert slack_date(1_800_000_000.9) == "<!date^1800000000^{date_short_pretty} {time}|2027-01-15 08:00 UTC>"


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(
    ("overrides", "marker"),
    [
        ({"state": "new"}, "⏳"),
        ({"state": "ready"}, "⏳"),
        ({"state": "sending"}, "⏳"),
        ({"state": "waiting"}, "⏳"),
        ({"state": "unconfirmed"}, "⏳"),
        ({"state": "answered", "outcome": "TEMPORARY", "expires_at": EXPIRES}, "✅"),
        ({"state": "answered", "outcome": "PERMANENT"}, "♾️"),
        ({"state": "answered", "outcome": "NO_PERMISSION"}, "❌"),
        ({"state": "failed"}, "❌"),
        ({"state": "undeliverable"}, "❌"),
    ],
)
def test_status_line_marker(lang: str, overrides: dict[str, Any], marker: str) -> None:
    line = status_line(make_request(lang=lang, **overrides), Translator(lang))

    assert line.startswith(marker)
    others = {"⏳", "✅", "♾️", "❌"} - {marker}
    assert not any(other in line for other in others)


def test_status_line_temporary_shows_the_expiry_date() -> None:
    request = make_request(state="answered", outcome="TEMPORARY", expires_at=EXPIRES)

    assert status_line(request, Translator("en")) == f"✅ You may call until {slack_date(EXPIRES)}"


def test_status_line_unconfirmed_says_so() -> None:
    line = status_line(make_request(state="unconfirmed"), Translator("en"))

    assert line == "⏳ Waiting for the customer (delivery not confirmed)"


def test_status_line_outcome_wins_over_state() -> None:
    # An answer that arrived for an unconfirmed request shows the answer, not "waiting".
    request = make_request(state="unconfirmed", outcome="NO_PERMISSION")

    assert status_line(request, Translator("en")) == "❌ The customer declined"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"outcome": "TEMPORARY", "expires_at": EXPIRES},
            f"<@U1> ✅ The customer allowed calls for 7 days. You may call until {slack_date(EXPIRES)}.",
        ),
        ({"outcome": "PERMANENT"}, "<@U1> ♾️ The customer allowed calls with no time limit. You may call any time."),
        (
            {"outcome": "NO_PERMISSION"},
            "<@U1> ❌ The customer declined calls. Don't call; keep the conversation in messages.",
        ),
    ],
)
def test_answer_text(overrides: dict[str, Any], expected: str) -> None:
    assert answer_text(make_request(state="answered", **overrides), Translator("en")) == expected


@pytest.mark.parametrize("lang", LANGUAGES)
def test_fullest_home_tab_is_a_valid_view(lang: str) -> None:
    """Every group over its cap, every reason at the longest and most escaped: still within Slack's limits."""
    now = 1_700_000_000.0
    kinds = [{"outcome": "PERMANENT"}, {}, {"outcome": "NO_PERMISSION"}]
    requests = [
        make_request(id=n, reason="<&>" * REASON_MAX_LENGTH, **kinds[n % 3]) for n in range(3 * MAX_ITEMS_PER_GROUP + 9)
    ]
    view = home_view(requests, tr=Translator(lang), now=now, dm_answers=True, link=lambda r: f"<https://x/{r.id}|x>")
    assert blockkit.view_error(view) is None
    assert len(view["blocks"]) <= blockkit.MAX_VIEW_BLOCKS
