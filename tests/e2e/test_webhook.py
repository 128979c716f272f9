"""`POST /webhooks/pilot-status`: signatures, payload checks, deduplication and correlation."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import pytest

from bot.config import Settings, WhatsAppNumber
from bot.domain import CLOCK_SKEW
from bot.fakes.pilot_status import FakePilotStatus, iso_timestamp, permission_event, send_webhook, sign_pilot_status
from bot.fakes.slack import FakeSlack
from bot.pilot_status.webhooks import HANDLED_EVENTS
from tests.conftest import REP, WEBHOOK_SECRET, Server, make_settings, stop_server
from tests.e2e.helpers import (
    DIGITS,
    E164,
    PERMISSION_REQUEST,
    answer,
    ask,
    db_rows,
    only_reply,
    only_request,
    post_webhook,
    posts,
    render,
    replies,
    running,
    updates_of,
)


async def stored_events(server: Server) -> list[dict[str, object]]:
    return await db_rows(server.askcall.settings, "SELECT * FROM webhook_events ORDER BY id")


# --- signatures -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    [
        None,  # missing header
        "0" * 64,
        "sha256=" + "0" * 64,
        "WRONG_SECRET",
    ],
)
async def test_bad_or_missing_signature_is_refused(
    server: Server, signature: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    parent = await ask(server)
    payload = permission_event(DIGITS, "TEMPORARY")
    body = json.dumps(payload).encode()
    if signature == "WRONG_SECRET":
        signature = sign_pilot_status(body, "some-other-secret")
    status, text = await post_webhook(server, body, signature=signature, signed=False)
    assert (status, json.loads(text)) == (401, {"error": "invalid signature"}), text
    assert warnings_of(caplog) == ["rejected a Pilot Status webhook with a missing or wrong signature"]
    await server.wait_idle()
    assert await stored_events(server) == []
    assert replies(server.slack, parent) == []
    assert updates_of(server.slack, parent) == []
    assert (await only_request(server)).state == "waiting"


@pytest.mark.parametrize("prefix", ["", "sha256="])
async def test_valid_signature_with_or_without_prefix_is_accepted(server: Server, prefix: str) -> None:
    parent = await ask(server)
    body = json.dumps(permission_event(DIGITS, "PERMANENT")).encode()
    signature = prefix + sign_pilot_status(body, WEBHOOK_SECRET)
    status, _ = await post_webhook(server, body, signature=signature, signed=False)
    assert status == 200
    await server.wait_idle()
    assert "♾️" in only_reply(server.slack, parent)["text"]


async def test_signature_covers_the_raw_body(server: Server) -> None:
    """A body re-serialised differently from what was signed is refused."""
    payload = permission_event(DIGITS, "TEMPORARY")
    signed_body = json.dumps(payload, separators=(",", ":")).encode()
    sent_body = json.dumps(payload, indent=2).encode()
    status, _ = await post_webhook(server, sent_body, signature=sign_pilot_status(signed_body, WEBHOOK_SECRET))
    assert status == 401
    assert await stored_events(server) == []


# --- payloads -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b"\xff\xfe",
        b"",
        b'"just a string"',
        b"[" * 100_000 + b"]" * 100_000,  # nested far deeper than any parser's recursion limit
        b'{"event": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001,
    ],
    ids=["broken", "array", "not-utf8", "empty", "string", "deep-array", "deep-object"],
)
async def test_signed_but_unparseable_body_is_a_400_without_a_traceback(
    server: Server, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    status, text = await post_webhook(server, body)
    assert status == 400, text
    assert "error" in json.loads(text)
    assert await stored_events(server) == []
    assert_no_error_logged(caplog)


def assert_no_error_logged(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert bad == [], [f"{r.name}: {r.getMessage()}" for r in bad]


UNUSABLE = [
    {"event": "call.ended", "from": None, "to": None},  # a call event with no call id and no parties: no call
    {"event": "message.received"},
    {"event": None},
    {"event": ["call.permission_updated"]},
    {"status": "MAYBE"},  # a status value Pilot Status may add one day
    {"status": 7},
    {"timestamp": "yesterday"},
    {"timestamp": 1_700_000_000},
    {"timestamp": "2026-13-45T25:61:00Z"},  # shaped like ISO, but no such date
    {"from": None},
    {"from": "+"},
]


@pytest.mark.parametrize("change", UNUSABLE, ids=[json.dumps(c) for c in UNUSABLE])
async def test_signed_event_askcall_cannot_use_is_acknowledged_stored_and_counted(
    server: Server, change: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    """A 400 would make Pilot Status retry for days: it gets 200 `ignored`, is kept, logged and counted."""
    parent = await ask(server)
    payload = {**permission_event(DIGITS, "TEMPORARY"), **change}
    status, text = await post_webhook(server, payload)
    assert status == 200, text
    assert json.loads(text) == {"ok": True, "ignored": True, "duplicate": False}
    status, text = await post_webhook(server, payload)  # a redelivery is recognised
    assert (status, json.loads(text)["duplicate"]) == (200, True)
    await server.wait_idle()
    (event,) = await stored_events(server)
    assert event["result"] == "ignored" and event["processed_at"] is not None and event["request_id"] is None
    assert json.loads(str(event["body"])) == payload
    assert replies(server.slack, parent) == []
    assert (await only_request(server)).state == "waiting"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("ignored a Pilot Status webhook" in w for w in warnings) == 1
    assert not any(DIGITS in w for w in warnings)  # the customer's number stays out of the log
    assert_no_error_logged(caplog)
    async with server.http.get(server.url + "/metrics") as response:
        assert 'askcall_webhook_events{result="ignored"} 1.0' in await response.text()


async def test_event_without_from_key_is_ignored(server: Server) -> None:
    payload = permission_event(DIGITS, "TEMPORARY")
    del payload["from"]
    status, text = await post_webhook(server, payload)
    assert (status, json.loads(text)["ignored"]) == (200, True)
    assert [e["result"] for e in await stored_events(server)] == ["ignored"]


async def test_ignored_events_are_not_processed_after_a_restart(
    server: Server, settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    parent = await ask(server)
    await post_webhook(server, {**permission_event(DIGITS, "MAYBE")})
    await stop_server(server)
    async with running(settings, slack, pilot) as again:
        await again.wait_idle()
        assert replies(slack, parent) == []
        assert (await only_request(again)).state == "waiting"


# --- timestamps -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("ahead", [CLOCK_SKEW + 60, 365 * 24 * 3600])
async def test_event_stamped_beyond_the_clock_skew_in_the_future_is_refused(server: Server, ahead: float) -> None:
    parent = await ask(server)
    payload = permission_event(DIGITS, "PERMANENT", timestamp=iso_timestamp(time.time() + ahead))
    status, text = await post_webhook(server, payload)
    assert status == 400, text
    assert "future" in json.loads(text)["error"]
    await server.wait_idle()
    assert await stored_events(server) == []
    assert replies(server.slack, parent) == []


async def test_a_future_dated_answer_never_shadows_the_customers_real_later_answer(server: Server) -> None:
    """Stamped a few minutes ahead (within the tolerance), an event counts as given when it arrived."""
    parent = await ask(server)
    await answer(server, DIGITS, "NO_PERMISSION", at=time.time() + CLOCK_SKEW - 30)
    await answer(server, DIGITS, "PERMANENT")  # the customer changes their mind, for real, afterwards
    first, second = replies(server.slack, parent)
    assert "❌" in first["text"]
    assert "O cliente mudou a resposta." in second["text"] and "♾️" in second["text"]
    assert (await only_request(server)).outcome == "PERMANENT"
    assert [e["result"] for e in await stored_events(server)] == ["matched", "changed"]


# --- deduplication --------------------------------------------------------------------------------------


async def test_redelivered_event_makes_one_reply(server: Server) -> None:
    parent = await ask(server)
    payload = permission_event(DIGITS, "TEMPORARY", timestamp=iso_timestamp())
    results = []
    for _ in range(3):
        status, text = await post_webhook(server, payload)
        assert status == 200
        results.append(json.loads(text))
        await server.wait_idle()
    assert results == [{"ok": True, "duplicate": duplicate} for duplicate in (False, True, True)]
    assert "✅" in only_reply(server.slack, parent)["text"]
    assert len(updates_of(server.slack, parent)) == 1
    assert len(await stored_events(server)) == 1


async def test_concurrent_redeliveries_make_one_reply(server: Server) -> None:
    import asyncio

    parent = await ask(server)
    payload = permission_event(DIGITS, "NO_PERMISSION", timestamp=iso_timestamp())
    results = await asyncio.gather(*(post_webhook(server, payload) for _ in range(5)))
    assert all(status == 200 for status, _ in results)
    assert sorted(json.loads(text)["duplicate"] for _, text in results) == [False, True, True, True, True]
    await server.wait_idle()
    assert "❌" in only_reply(server.slack, parent)["text"]
    assert len(updates_of(server.slack, parent)) == 1


async def test_from_with_and_without_plus_is_the_same_delivery(server: Server) -> None:
    parent = await ask(server)
    stamp = iso_timestamp()
    for customer in (DIGITS, "+" + DIGITS):
        status, _ = await post_webhook(server, permission_event(customer, "PERMANENT", timestamp=stamp))
        assert status == 200
        await server.wait_idle()
    assert "♾️" in only_reply(server.slack, parent)["text"]
    assert len(await stored_events(server)) == 1


# --- correlation ----------------------------------------------------------------------------------------


async def test_answer_without_the_ninth_digit_reaches_the_right_thread(server: Server) -> None:
    parent = await ask(server, "+55 31 98888-7777 Podemos ligar?")
    (sent,) = posts(server.pilot)
    assert sent.json["to"] == "+5531988887777"
    await answer(server, "553188887777", "TEMPORARY")
    reply = only_reply(server.slack, parent)
    assert reply["text"].startswith(f"<@{REP}> ✅")
    assert (await only_request(server)).outcome == "TEMPORARY"


async def test_answer_without_the_ninth_digit_and_with_plus(server: Server) -> None:
    parent = await ask(server, "(31) 98888-7777 Podemos ligar?")
    await answer(server, "+553188887777", "PERMANENT")
    assert "♾️" in only_reply(server.slack, parent)["text"]


async def test_ninth_digit_folding_does_not_mix_up_different_customers(server: Server) -> None:
    parent = await ask(server, "+55 31 98888-7777 Podemos ligar?")
    # Same last digits, different area code / different digit: other customers.
    await answer(server, "552188887777", "PERMANENT")
    await answer(server, "553198888777", "PERMANENT")
    assert replies(server.slack, parent) == []


async def test_two_customers_answering_in_reverse_order(server: Server) -> None:
    slack = server.slack
    parent_a = await ask(server, "+55 11 98765-4321 Cliente A", user_id="UA")
    parent_b = await ask(server, "+55 21 99876-5432 Cliente B", user_id="UB")
    assert parent_a["ts"] != parent_b["ts"]
    await answer(server, "5521998765432", "NO_PERMISSION")
    await answer(server, "5511987654321", "PERMANENT")

    reply_a = only_reply(slack, parent_a)
    reply_b = only_reply(slack, parent_b)
    assert reply_a["text"].startswith("<@UA> ♾️")
    assert reply_b["text"].startswith("<@UB> ❌")
    (update_a,) = updates_of(slack, parent_a)
    (update_b,) = updates_of(slack, parent_b)
    assert "♾️" in render(update_a) and "Cliente A" in render(update_a)
    assert "❌" in render(update_b) and "Cliente B" in render(update_b)


async def test_answer_goes_to_the_most_recent_request_for_the_customer(server: Server) -> None:
    first = await ask(server, f"{E164} primeiro")
    await answer(server, DIGITS, "NO_PERMISSION")
    server.pilot.now = lambda: time.time() + 2 * 24 * 3600  # Meta's 1-per-24 h quota has freed up again
    second = await ask(server, f"{E164} segundo")
    assert [p.json["text"] for p in posts(server.pilot)] == ["primeiro", "segundo"]

    await answer(server, DIGITS, "PERMANENT", at=time.time() + 60)
    assert len(replies(server.slack, first)) == 1
    assert "♾️" in only_reply(server.slack, second)["text"]


async def test_answer_for_an_unknown_number_is_stored_and_posted_nowhere(server: Server) -> None:
    parent = await ask(server)
    writes_before = len(server.slack.calls)
    result = await answer(server, "5521998765432", "TEMPORARY")
    assert result["duplicate"] is False
    assert len(server.slack.calls) == writes_before
    assert replies(server.slack, parent) == []
    (event,) = await stored_events(server)
    assert event["result"] == "unmatched"
    assert event["processed_at"] is not None


async def test_answer_before_any_request_is_not_applied_to_a_later_one(server: Server) -> None:
    """An answer given long before a request was made belongs to an older request, not to this one. (A refusal:
    a grant would be found by the pre-check, the fake's world being the webhook's.)"""
    await answer(server, DIGITS, "NO_PERMISSION", at=time.time() - 3600)
    parent = await ask(server)
    await server.wait_idle()
    assert replies(server.slack, parent) == []
    assert (await only_request(server)).state == "waiting"


async def test_customer_changing_their_answer_gets_a_second_reply(server: Server) -> None:
    parent = await ask(server)
    now = time.time()
    await answer(server, DIGITS, "NO_PERMISSION", at=now)
    await answer(server, DIGITS, "TEMPORARY", at=now + 60)

    first, second = replies(server.slack, parent)
    assert "❌" in first["text"]
    assert "O cliente mudou a resposta." in second["text"]
    assert "✅" in second["text"]
    assert f"<@{REP}>" in second["text"]
    updates = updates_of(server.slack, parent)
    assert len(updates) == 2
    assert "✅" in render(updates[-1])
    assert "✅" in render(server.slack.find_message(parent["channel"], parent["ts"]) or {})
    assert (await only_request(server)).outcome == "TEMPORARY"


async def test_an_older_answer_arriving_late_changes_nothing(server: Server) -> None:
    parent = await ask(server)
    now = time.time()
    await answer(server, DIGITS, "PERMANENT", at=now + 60)
    await answer(server, DIGITS, "NO_PERMISSION", at=now)

    reply = only_reply(server.slack, parent)
    assert "♾️" in reply["text"]
    (update,) = updates_of(server.slack, parent)
    assert "♾️" in render(update)
    assert (await only_request(server)).outcome == "PERMANENT"


async def test_the_same_answer_again_later_adds_nothing(server: Server) -> None:
    parent = await ask(server)
    now = time.time()
    await answer(server, DIGITS, "PERMANENT", at=now)
    await answer(server, DIGITS, "PERMANENT", at=now + 60)
    assert len(replies(server.slack, parent)) == 1
    assert len(updates_of(server.slack, parent)) == 1


async def test_answer_arriving_while_the_request_is_still_being_sent(server: Server) -> None:
    """The webhook can outrun Pilot Status's own HTTP answer; the answer must win and stay."""
    slack, pilot = server.slack, server.pilot
    pilot.script("POST", PERMISSION_REQUEST, delay=1.0)
    await server.command(f"{E164} corrida")
    await slack.wait_for(lambda: len(posts(pilot)) == 1)
    assert (await only_request(server)).state == "sending"

    status, _ = await server.answer(DIGITS, "PERMANENT")
    assert status == 200
    await server.wait_idle()
    parent = slack.channel_messages("C1")[0]
    assert "♾️" in only_reply(slack, parent)["text"]
    request = await only_request(server)
    assert (request.state, request.outcome) == ("answered", "PERMANENT")
    assert request.message_id == pilot.permission_requests[0].message_id
    assert "♾️" in render(slack.find_message(parent["channel"], parent["ts"]) or {})


# --- the events AskCall handles ---------------------------------------------------------------------------


async def test_every_event_in_the_one_list_is_acted_on_and_any_other_is_ignored(server: Server) -> None:
    """HANDLED_EVENTS is what `askcall webhook register` subscribes to: each of them must reach a handler."""
    stamp = iso_timestamp(time.time())
    flat = {"callId": "call_unknown", "status": "RINGING", "from": "5511888888888", "to": DIGITS, "timestamp": stamp}
    for event in HANDLED_EVENTS:
        payload = (
            permission_event(DIGITS, "TEMPORARY") if event == "call.permission_updated" else {**flat, "event": event}
        )
        status, text = await post_webhook(server, payload)
        assert status == 200, text
        assert "ignored" not in json.loads(text), f"{event} was not handled: {text}"
    status, text = await post_webhook(server, {**flat, "event": "message.received"})
    assert (status, json.loads(text).get("ignored")) == (200, True)


# --- edges the mutation run found unchecked (tests/MUTATION.md) ------------------------------------------------


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "bot.web.webhooks"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"[1, 2]", "body is not a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "body is nested too deeply"),
    ],
    ids=["broken", "array", "deep"],
)
async def test_an_unparseable_body_is_refused_with_its_reason_sent_back_and_logged(
    server: Server, body: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    status, text = await post_webhook(server, body)
    assert (status, json.loads(text)) == (400, {"error": reason})
    assert warnings_of(caplog) == [f"refused a Pilot Status webhook: {reason}"]


async def test_a_future_stamp_is_refused_with_its_reason_and_logged_with_how_far_ahead(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    ahead = 3 * 3600
    status, text = await post_webhook(
        server, permission_event(DIGITS, "PERMANENT", timestamp=iso_timestamp(time.time() + ahead))
    )
    assert (status, json.loads(text)) == (400, {"error": "timestamp is in the future"})
    (warning,) = warnings_of(caplog)
    logged = re.fullmatch(r"refused a Pilot Status webhook stamped (\d+) s in the future", warning)
    assert logged is not None, warning
    assert ahead - 600 < int(logged[1]) <= ahead  # how far ahead the event is (not a sum of two clocks)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({**permission_event(DIGITS, "TEMPORARY"), "status": "MAYBE"}, "status 'MAYBE' is not one of"),
        ({"event": "call.ringing", "from": None, "to": None}, "callId, externalCallId and the parties are all missing"),
    ],
    ids=["permission", "call"],
)
async def test_an_ignored_event_is_logged_with_why_it_cannot_be_used(
    server: Server, payload: dict[str, object], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    status, text = await post_webhook(server, payload)
    assert (status, json.loads(text)) == (200, {"ok": True, "ignored": True, "duplicate": False})
    (warning,) = [r.getMessage() for r in caplog.records if "ignored a Pilot Status webhook" in r.getMessage()]
    assert f"AskCall cannot use ({reason}" in warning


async def test_a_call_event_is_acknowledged_once_and_its_redelivery_as_a_duplicate(server: Server) -> None:
    payload = {
        "event": "call.ringing",
        "callId": "call_unknown",
        "status": "RINGING",
        "from": "5511888888888",
        "to": DIGITS,
        "timestamp": iso_timestamp(time.time()),
    }
    answers = [await post_webhook(server, payload) for _ in range(2)]
    assert [(status, json.loads(text)) for status, text in answers] == [
        (200, {"ok": True, "duplicate": False}),
        (200, {"ok": True, "duplicate": True}),
    ]


async def test_each_numbers_webhook_url_stores_what_it_hears_as_that_numbers(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path
) -> None:
    rj = WhatsAppNumber("vendas-rj", "ps_rj_key", "whsec_rj", frozenset({"C2"}))
    settings = make_settings(slack, pilot, tmp_path / "askcall.db", extra_numbers=(rj,))
    async with running(settings, slack, pilot) as server:
        payload = permission_event(DIGITS, "PERMANENT")
        rj_url = server.url + "/webhooks/pilot-status/vendas-rj"
        assert (await send_webhook(rj_url, payload, secret="whsec_rj"))[0] == 200
        assert (await post_webhook(server, payload))[0] == 200  # the default number's URL: its own event
        # The default number (the one for channels without a number of their own) also answers at /default.
        default_url = server.url + "/webhooks/pilot-status/default"
        later = permission_event(DIGITS, "TEMPORARY")
        assert (await send_webhook(default_url, later, secret=WEBHOOK_SECRET))[0] == 200
        await server.wait_idle()
        numbers = [event["number_name"] for event in await stored_events(server)]
        assert numbers == ["vendas-rj", "default", "default"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # a read-only SQLite file is the outage
async def test_a_webhook_the_database_cannot_store_is_a_503_to_be_sent_again(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    parent = await ask(server)
    store = server.askcall.store
    await store.db.execute("PRAGMA query_only = ON")  # every write now fails, as on a full or lost disk
    payload = permission_event(DIGITS, "PERMANENT")
    body = json.dumps(payload).encode()
    async with server.http.post(
        server.url + "/webhooks/pilot-status",
        data=body,
        headers={
            "Content-Type": "application/json",
            "x-pilot-status-signature": sign_pilot_status(body, WEBHOOK_SECRET),
        },
    ) as response:
        assert (response.status, await response.json()) == (503, {"error": "temporarily unavailable"})
        assert response.headers["Retry-After"] == "30"
    (warning,) = warnings_of(caplog)
    why = r"\(the database .+ is read-only .+\)"
    assert re.fullmatch(rf"could not take a Pilot Status webhook {why}; answered 503", warning), warning
    await store.db.execute("PRAGMA query_only = OFF")
    assert await stored_events(server) == []
    assert (await post_webhook(server, payload))[0] == 200  # sent again, it lands
    await server.wait_idle()
    assert "♾️" in only_reply(server.slack, parent)["text"]
