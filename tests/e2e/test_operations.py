"""Issue 4 at runtime: access control, several WhatsApp numbers, phone display, readiness and metrics."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import ConfigError, RetryPolicy, Settings, WhatsAppNumber
from bot.fakes.pilot_status import FakePilotStatus, PSRequest, permission_event, send_webhook
from bot.fakes.slack import FakeSlack, interaction_body, shortcut_payload
from bot.store.sqlite.schema import MIGRATIONS
from tests.conftest import CHANNEL, REP, SIGNING_SECRET, WEBHOOK_SECRET, Server, make_settings
from tests.e2e.helpers import (
    DIGITS,
    MASKED,
    PERMISSION_REQUEST,
    PHONE,
    REASON,
    answer,
    ask,
    button,
    button_value,
    db_rows,
    only_parent,
    only_reply,
    posts,
    render,
    replies,
    requests,
    running,
    updates_of,
)

OTHER_REP = "U2"
ADMIN = "<@UADMIN>"
NO_ACCESS = "Você ainda não tem acesso ao AskCall, então nada foi enviado."
ASK_ADMIN = "Peça acesso a quem administra o AskCall na sua empresa."
RJ = "vendas-rj"
RJ_CHANNEL = "C2"
RJ_KEY = "ps_rj_key"
RJ_SECRET = "whsec_rj"
OTHER_PHONE = "+55 21 99876-5432"


# --- helpers -------------------------------------------------------------------------------------------
async def json_body(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(await response.read())
    return body


async def assert_nothing_happened(server: Server) -> None:
    """Nothing stored, nothing posted in a channel, nothing sent to Pilot Status."""
    await server.wait_idle()
    assert await requests(server) == []
    assert server.slack.messages == [], server.slack.summary()
    assert server.pilot.requests == []


def metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text as {(sample name, sorted labels): value}."""
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    """Sum of a sample over all its label values (0 when absent)."""
    return sum(value for (sample, _), value in samples.items() if sample == name)


async def scrape(server: Server) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    async with server.http.get(server.url + "/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    return text, metrics(text)


@pytest.fixture
async def restricted(slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path) -> AsyncIterator[Server]:
    """AskCall open to REP only."""
    settings = make_settings(slack, pilot, tmp_path / "askcall.db", allowed_users=frozenset({REP}))
    async with running(settings, slack, pilot) as server:
        yield server


# --- access control: the command, per allow-list -------------------------------------------------------
@pytest.mark.parametrize(("contact", "whom"), [("", ASK_ADMIN), (ADMIN, f"Peça acesso a {ADMIN}.")])
async def test_rep_not_in_allowed_users_is_told_why_and_whom_to_ask(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, contact: str, whom: str
) -> None:
    settings = make_settings(
        slack, pilot, tmp_path / "askcall.db", allowed_users=frozenset({REP}), access_contact=contact
    )
    async with running(settings, slack, pilot) as server:
        response = await server.command(f"{PHONE} {REASON}", user_id=OTHER_REP)
        assert response.status == 200
        body = await json_body(response)
        assert body["response_type"] == "ephemeral"
        assert NO_ACCESS in body["text"] and whom in body["text"]
        if not contact:
            assert ADMIN not in body["text"]
        await assert_nothing_happened(server)

        parent = await ask(server)  # the listed rep still works
        assert parent["channel"] == CHANNEL
        assert len(posts(pilot)) == 1


async def test_command_in_a_channel_not_allowed_is_refused(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path
) -> None:
    settings = make_settings(slack, pilot, tmp_path / "askcall.db", allowed_channels=frozenset({CHANNEL}))
    async with running(settings, slack, pilot) as server:
        body = await json_body(await server.command(f"{PHONE} {REASON}", channel_id="C9"))
        assert body["response_type"] == "ephemeral"
        assert "<#C9>" in body["text"] and "nada foi enviado" in body["text"] and ASK_ADMIN in body["text"]
        await assert_nothing_happened(server)

        await ask(server, channel_id=CHANNEL)
        assert len(posts(pilot)) == 1


async def test_usergroup_members_may_use_it_and_membership_is_cached(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path
) -> None:
    slack.usergroups = {"S1": [REP]}
    settings = make_settings(slack, pilot, tmp_path / "askcall.db", allowed_usergroups=frozenset({"S1"}))
    async with running(settings, slack, pilot) as server:
        await ask(server)  # REP is in S1
        assert len(posts(pilot)) == 1
        group_reads = slack.calls_to("usergroups.users.list")
        assert [call.args.get("usergroup") for call in group_reads] == ["S1"]

        refused = await json_body(await server.command(f"{OTHER_PHONE} oi", user_id=OTHER_REP))
        assert NO_ACCESS in refused["text"]
        await server.wait_idle()
        assert len(posts(pilot)) == 1

        # Membership changes in Slack; within the cache's lifetime AskCall keeps the answer it read.
        slack.usergroups = {"S1": [OTHER_REP]}
        refused = await json_body(await server.command(f"{OTHER_PHONE} oi", user_id=OTHER_REP))
        assert NO_ACCESS in refused["text"]
        await ask(server, f"{OTHER_PHONE} {REASON}")
        assert len(posts(pilot)) == 2
        assert len(slack.calls_to("usergroups.users.list", only_ok=False)) == 1


# --- access control: the modal, shortcuts and buttons --------------------------------------------------
async def test_modal_submission_by_a_refused_rep_shows_the_reason_on_the_phone_field(restricted: Server) -> None:
    response = await restricted.submit_modal(PHONE, REASON, user_id=OTHER_REP)
    assert response.status == 200
    body = await json_body(response)
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"phone"}
    assert NO_ACCESS in body["errors"]["phone"] and ASK_ADMIN in body["errors"]["phone"]
    await assert_nothing_happened(restricted)


async def test_modal_submission_for_a_channel_not_allowed_is_refused(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path
) -> None:
    settings = make_settings(slack, pilot, tmp_path / "askcall.db", allowed_channels=frozenset({CHANNEL}))
    async with running(settings, slack, pilot) as server:
        metadata = {"channel_id": "C9", "response_url": slack.response_url()}
        body = await json_body(await server.submit_modal(PHONE, REASON, metadata=metadata))
        assert body["response_action"] == "errors" and "<#C9>" in body["errors"]["phone"]
        await assert_nothing_happened(server)


@pytest.mark.parametrize("refused_by", ["allow-list", "no-number"])
async def test_global_shortcut_form_shows_a_channel_refusal_under_the_channel_picker(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, refused_by: str
) -> None:
    """The rep picked a channel AskCall may not be used in: the error belongs next to that picker."""
    settings = make_settings(slack, pilot, tmp_path / "askcall.db", allowed_channels=frozenset({CHANNEL}))
    if refused_by == "no-number":  # the channel is allowed, but no WhatsApp number serves it
        settings = make_settings(
            slack,
            pilot,
            tmp_path / "askcall.db",
            pilot_status_api_key="",
            extra_numbers=(WhatsAppNumber(RJ, RJ_KEY, RJ_SECRET, frozenset({RJ_CHANNEL})),),
        )
    values = {"channel": {"channel_value": {"type": "conversations_select", "selected_conversation": "C9"}}}
    async with running(settings, slack, pilot) as server:
        body = await json_body(await server.submit_modal(PHONE, REASON, metadata={}, extra_values=values))
        assert body["response_action"] == "errors"
        assert set(body["errors"]) == {"channel"}
        assert "<#C9>" in body["errors"]["channel"]
        await assert_nothing_happened(server)


async def test_global_shortcut_form_of_a_refused_rep_shows_the_refusal_under_the_phone(restricted: Server) -> None:
    values = {"channel": {"channel_value": {"type": "conversations_select", "selected_conversation": CHANNEL}}}
    response = await restricted.submit_modal(PHONE, REASON, metadata={}, extra_values=values, user_id=OTHER_REP)
    body = await json_body(response)
    assert set(body["errors"]) == {"phone"} and NO_ACCESS in body["errors"]["phone"]
    await assert_nothing_happened(restricted)


async def test_message_shortcut_by_a_refused_rep_answers_ephemerally(restricted: Server) -> None:
    slack = restricted.slack
    payload = shortcut_payload(
        "askcall_message",
        OTHER_REP,
        trigger_id="1.2.3",
        message={"ts": "1700000000.000100", "text": f"Cliente: {PHONE}"},
        channel_id=CHANNEL,
        response_url=slack.response_url("shortcut"),
    )
    assert (await restricted.post_slack(interaction_body(payload))).status == 200
    await slack.wait_for(lambda: len(slack.responses) == 1)
    [response] = slack.responses
    assert response["_name"] == "shortcut" and response["response_type"] == "ephemeral"
    assert NO_ACCESS in response["text"]
    await restricted.wait_idle()
    assert slack.views == []  # no request form was opened
    await assert_nothing_happened(restricted)


async def test_global_shortcut_by_a_refused_rep_opens_a_notice_instead_of_the_form(restricted: Server) -> None:
    slack = restricted.slack
    payload = shortcut_payload("askcall_global", OTHER_REP, trigger_id="1.2.4")
    assert (await restricted.post_slack(interaction_body(payload))).status == 200
    await slack.wait_for(lambda: len(slack.views) == 1)
    [view] = slack.views
    shown = json.dumps(view["blocks"], ensure_ascii=False)
    assert NO_ACCESS in shown and ASK_ADMIN in shown
    assert not any(block.get("type") == "input" for block in view["blocks"])  # not the request form
    assert slack.calls_to("views.open")[0].args["trigger_id"] == "1.2.4"
    await assert_nothing_happened(restricted)


async def test_buttons_pressed_by_a_refused_rep_send_nothing(restricted: Server) -> None:
    slack, pilot = restricted.slack, restricted.pilot
    pilot.script("POST", PERMISSION_REQUEST, status=400, body={"error": "x", "code": "META_OUTSIDE_24H_WINDOW"})
    parent = await ask(restricted)
    parent = slack.find_message(parent["channel"], parent["ts"]) or parent  # as updated, with "Ask again"
    request_id = button_value(parent, "askcall_again")
    assert button_value(parent, "askcall_check") == request_id
    seen_by_pilot, updates = len(pilot.requests), len(slack.updates)

    for action_id in ("askcall_again", "askcall_check"):
        click = button(
            action_id, request_id, user=OTHER_REP, message=parent, response_url=slack.response_url(action_id)
        )
        assert (await restricted.post_slack(click)).status == 200
    await slack.wait_for(lambda: len(slack.responses) == 2)
    await restricted.wait_idle()
    assert sorted(r["_name"] for r in slack.responses) == ["askcall_again", "askcall_check"]
    for response in slack.responses:
        assert response["response_type"] == "ephemeral" and NO_ACCESS in response["text"]
    assert len(pilot.requests) == seen_by_pilot  # neither a new request nor a status probe
    assert len(slack.updates) == updates
    assert len(replies(slack, parent)) == 1  # only the failure reply from before

    # The same click by the rep who may use AskCall does go through.
    again = button("askcall_again", request_id, user=REP, message=parent, response_url=slack.response_url("ok"))
    assert (await restricted.post_slack(again)).status == 200
    await slack.wait_for(lambda: len(posts(pilot)) == 2)


# --- several WhatsApp numbers --------------------------------------------------------------------------
@pytest.fixture
async def two_numbers(slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path) -> AsyncIterator[Server]:
    """The default number (key pilot.api_key) serves every channel but C2, which vendas-rj serves."""
    pilot.accepted_keys.add(RJ_KEY)
    settings = make_settings(
        slack,
        pilot,
        tmp_path / "askcall.db",
        extra_numbers=(WhatsAppNumber(RJ, RJ_KEY, RJ_SECRET, frozenset({RJ_CHANNEL})),),
    )
    async with running(settings, slack, pilot) as server:
        yield server


async def test_the_same_unusable_event_on_two_numbers_is_kept_once_per_number(two_numbers: Server) -> None:
    payload = json.dumps(permission_event(DIGITS, "SOMETHING_NEW")).encode()
    for path, secret in (("/webhooks/pilot-status", WEBHOOK_SECRET), (f"/webhooks/pilot-status/{RJ}", RJ_SECRET)):
        code, text = await send_webhook(two_numbers.url + path, payload, secret=secret)
        assert (code, json.loads(text)) == (200, {"ok": True, "ignored": True, "duplicate": False}), path
    rows = await db_rows(two_numbers.askcall.settings, "SELECT number_name, result FROM webhook_events ORDER BY id")
    assert rows == [{"number_name": "default", "result": "ignored"}, {"number_name": RJ, "result": "ignored"}]


def keys_used(found: list[PSRequest]) -> set[str | None]:
    return {r.headers.get("x-api-key") for r in found}


async def test_each_number_sends_with_its_own_key_and_answers_reach_their_own_thread(two_numbers: Server) -> None:
    server, slack, pilot = two_numbers, two_numbers.slack, two_numbers.pilot
    sao_paulo = await ask(server, channel_id=CHANNEL)
    by_default = list(pilot.requests)
    # Meta's quota is per business number and customer; this one fake plays both numbers, so it
    # must forget São Paulo's request or its pre-check would tell Rio the quota is spent.
    pilot.permission_requests.clear()
    rio = await ask(server, channel_id=RJ_CHANNEL)  # the same customer, from the other team
    by_rj = pilot.requests[len(by_default) :]
    assert any(r.path == PERMISSION_REQUEST for r in by_default) and any(r.path == PERMISSION_REQUEST for r in by_rj)
    assert keys_used(by_default) == {pilot.api_key}
    assert keys_used(by_rj) == {RJ_KEY}
    assert [p.json["to"] for p in posts(pilot)] == ["+" + DIGITS, "+" + DIGITS]

    # The customer allows São Paulo's number (default webhook, default secret)...
    code, text = await send_webhook(
        server.url + "/webhooks/pilot-status", permission_event(DIGITS, "TEMPORARY"), secret=WEBHOOK_SECRET
    )
    assert code == 200, text
    await server.wait_idle()
    assert "✅" in only_reply(slack, sao_paulo)["text"]
    assert replies(slack, rio) == []

    # ...and declines Rio's (its own webhook path, signed with its own secret).
    code, text = await send_webhook(
        server.url + f"/webhooks/pilot-status/{RJ}", permission_event(DIGITS, "NO_PERMISSION"), secret=RJ_SECRET
    )
    assert code == 200, text
    await server.wait_idle()
    assert "❌" in only_reply(slack, rio)["text"]
    assert "✅" in only_reply(slack, sao_paulo)["text"]
    outcomes = await db_rows(
        server.askcall.settings, "SELECT channel_id, number_name, outcome FROM requests ORDER BY id"
    )
    assert outcomes == [
        {"channel_id": CHANNEL, "number_name": "default", "outcome": "TEMPORARY"},
        {"channel_id": RJ_CHANNEL, "number_name": RJ, "outcome": "NO_PERMISSION"},
    ]


async def test_a_numbers_webhook_refuses_another_numbers_secret(two_numbers: Server) -> None:
    server = two_numbers
    rio = await ask(server, channel_id=RJ_CHANNEL)
    code, _ = await send_webhook(
        server.url + f"/webhooks/pilot-status/{RJ}", permission_event(DIGITS, "PERMANENT"), secret=WEBHOOK_SECRET
    )
    assert code == 401
    await server.wait_idle()
    assert await db_rows(server.askcall.settings, "SELECT id FROM webhook_events") == []
    assert replies(server.slack, rio) == []


async def test_status_in_a_teams_channel_asks_with_that_teams_key(two_numbers: Server) -> None:
    server, slack, pilot = two_numbers, two_numbers.slack, two_numbers.pilot
    assert (await server.command(f"status {PHONE}", channel_id=RJ_CHANNEL)).status == 200
    await slack.wait_for(lambda: len(slack.responses) == 1)
    assert pilot.requests and keys_used(pilot.requests) == {RJ_KEY}


def write_numbers(tmp_path: Path, text: str) -> str:
    path = tmp_path / "numbers.toml"
    path.write_text(text)
    return str(path)


RJ_FILE = f"""
[[numbers]]
name = "{RJ}"
api_key_env = "RJ_KEY"
webhook_secret_env = "RJ_SECRET"
channels = ["{RJ_CHANNEL}", "C3"]
"""


def numbers_env(config: str, **more: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-x",
        "SLACK_SIGNING_SECRET": "s",
        "ASKCALL_CONFIG": config,
        "RJ_KEY": RJ_KEY,
        "RJ_SECRET": RJ_SECRET,
        **more,
    }


async def test_a_channel_no_number_serves_is_refused(slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path) -> None:
    pilot.accepted_keys.add(RJ_KEY)
    env = numbers_env(
        write_numbers(tmp_path, RJ_FILE),
        SLACK_BOT_TOKEN=slack.token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        PILOT_STATUS_BASE_URL=pilot.base_url,
        ASKCALL_DB_PATH=str(tmp_path / "askcall.db"),
    )
    settings = Settings.from_env(env)  # no PILOT_STATUS_API_KEY: there is no default number
    assert settings.number_for_channel(CHANNEL) is None
    async with running(settings, slack, pilot) as server:
        body = await json_body(await server.command(f"{PHONE} {REASON}", channel_id=CHANNEL))
        assert body["response_type"] == "ephemeral"
        assert "<#C1> não está ligado a nenhum número de WhatsApp" in body["text"] and ASK_ADMIN in body["text"]
        await assert_nothing_happened(server)
        code, _ = await send_webhook(
            server.url + "/webhooks/pilot-status", permission_event(DIGITS, "PERMANENT"), secret=RJ_SECRET
        )
        assert code == 404  # no default number, no default webhook

        await ask(server, channel_id=RJ_CHANNEL)
        assert keys_used(pilot.requests) == {RJ_KEY}


def test_numbers_file_is_read_with_keys_from_the_environment(tmp_path: Path) -> None:
    second = '\n[[numbers]]\nname = "vendas_mg"\napi_key_env = "MG_KEY"\nwebhook_secret_env = "MG_SECRET"\n'
    config = write_numbers(tmp_path, RJ_FILE + second + 'channels = ["C4"]\n')
    settings = Settings.from_env(numbers_env(config, MG_KEY="ps_mg", MG_SECRET="whsec_mg"))
    assert settings.extra_numbers == (
        WhatsAppNumber(RJ, RJ_KEY, RJ_SECRET, frozenset({RJ_CHANNEL, "C3"})),
        WhatsAppNumber("vendas_mg", "ps_mg", "whsec_mg", frozenset({"C4"})),
    )
    assert [n.name for n in settings.numbers] == [RJ, "vendas_mg"]  # no PILOT_STATUS_API_KEY, no default
    assert settings.number_for_channel("C3") == settings.extra_numbers[0]
    assert settings.extra_numbers[1].webhook_path == "/webhooks/pilot-status/vendas_mg"


def test_numbers_file_with_a_key_in_it_is_rejected(tmp_path: Path) -> None:
    config = write_numbers(tmp_path, RJ_FILE + 'api_key = "ps_live_in_the_file"\n')
    with pytest.raises(ConfigError, match="never go in the file") as error:
        Settings.from_env(numbers_env(config))
    assert "ps_live_in_the_file" not in str(error.value)


def test_numbers_file_naming_an_unset_variable_names_it(tmp_path: Path) -> None:
    env = numbers_env(write_numbers(tmp_path, RJ_FILE))
    del env["RJ_KEY"]
    with pytest.raises(ConfigError, match="RJ_KEY"):
        Settings.from_env(env)
    env = numbers_env(write_numbers(tmp_path, RJ_FILE), RJ_SECRET="")
    with pytest.raises(ConfigError, match="RJ_SECRET"):
        Settings.from_env(env)


def test_numbers_file_with_a_duplicate_name_is_rejected(tmp_path: Path) -> None:
    config = write_numbers(tmp_path, RJ_FILE + RJ_FILE.replace(RJ_CHANNEL, "C9"))
    with pytest.raises(ConfigError, match=f"numbers #2.*{RJ}.*unique"):
        Settings.from_env(numbers_env(config))


# --- phone display -------------------------------------------------------------------------------------
async def test_channel_messages_mask_the_number_by_default(server: Server) -> None:
    parent = await ask(server)
    await answer(server, DIGITS, "TEMPORARY")
    seen = [render(parent), render(only_reply(server.slack, parent))]
    seen += [render(update) for update in updates_of(server.slack, parent)]
    assert MASKED in seen[0]
    for text in seen:
        assert "98765-4321" not in text and "987654321" not in text


async def test_full_display_shows_the_whole_number_in_the_channel(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path
) -> None:
    settings = make_settings(slack, pilot, tmp_path / "askcall.db", phone_display="full")
    async with running(settings, slack, pilot) as server:
        await ask(server)
        parent = only_parent(slack)
        assert PHONE in render(parent)
        assert MASKED not in render(parent)


@pytest.mark.parametrize("display", ["masked", "full"])
async def test_status_answer_to_the_rep_always_shows_the_full_number(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, display: str
) -> None:
    settings = make_settings(slack, pilot, tmp_path / "askcall.db", phone_display=display)
    async with running(settings, slack, pilot) as server:
        assert (await server.command(f"status {PHONE}")).status == 200
        await slack.wait_for(lambda: len(slack.responses) == 1)
        [response] = slack.responses
        assert response["response_type"] == "ephemeral" and PHONE in response["text"]
        assert slack.messages == []


# --- readiness and metrics -----------------------------------------------------------------------------
async def test_ready_with_schema_version_and_not_ready_without_database(server: Server) -> None:
    async with server.http.get(server.url + "/readyz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ready", "schema": len(MIGRATIONS)}

    await server.askcall.store.close()  # the database goes away
    try:
        assert (await readiness_becomes(server, 503))["status"] == "unavailable"  # within its 1 s cache
        async with server.http.get(server.url + "/healthz") as response:
            assert response.status == 200  # alive, just not ready
    finally:
        await server.askcall.store.open()

    await readiness_becomes(server, 200)


async def readiness_becomes(server: Server, status: int, within: float = 3.0) -> dict[str, object]:
    """Poll /readyz (its answer is cached for a second) until it answers `status`; its JSON body."""
    deadline = time.monotonic() + within
    while True:
        async with server.http.get(server.url + "/readyz") as response:
            body: dict[str, object] = await response.json()
            if response.status == status:
                return body
        assert time.monotonic() < deadline, f"/readyz stayed {response.status}: {body}"
        await asyncio.sleep(0.05)


async def test_metrics_count_requests_answers_and_handler_latency(server: Server) -> None:
    await ask(server)
    await answer(server, DIGITS, "TEMPORARY")
    await answer(server, "5521999990000", "PERMANENT")  # nobody asked this customer
    text, samples = await scrape(server)
    assert 'askcall_requests{outcome="TEMPORARY",state="answered"} 1.0' in text  # labels come sorted
    assert total(samples, "askcall_requests") == 1
    assert samples[("askcall_webhook_events", (("result", "matched"),))] == 1
    assert samples[("askcall_webhook_events", (("result", "unmatched"),))] == 1
    assert samples[("askcall_http_request_duration_seconds_count", (("route", "/slack/events"),))] >= 1
    assert samples[("askcall_http_request_duration_seconds_count", (("route", "/webhooks/pilot-status"),))] == 2
    assert samples[("askcall_pending_deliveries", ())] == 0
    assert samples[("askcall_oldest_pending_delivery_age_seconds", ())] == 0
    assert total(samples, "askcall_slack_delivery_attempts_total") >= 3  # parent, update, reply at least
    assert total(samples, "askcall_slack_delivery_failures_total") == 0


async def test_metrics_show_pending_deliveries_and_failures_while_slack_is_down(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path
) -> None:
    # Slow, steady retries: Slack stays down long enough to be seen from /metrics.
    retry = RetryPolicy(attempts=50, base_delay=0.3, max_delay=0.3, max_retry_after=5)
    settings = make_settings(slack, pilot, tmp_path / "askcall.db", slack_retry=retry)
    async with running(settings, slack, pilot) as server:
        slack.fail_next("chat.postMessage", status=503, times=1000)
        assert (await server.command(f"{PHONE} {REASON}")).status == 200
        await slack.wait_for(lambda: any(c.outcome == "503" for c in slack.calls))
        _, down = await scrape(server)
        assert down[("askcall_pending_deliveries", ())] >= 1
        assert down[("askcall_oldest_pending_delivery_age_seconds", ())] > 0
        assert total(down, "askcall_slack_delivery_failures_total") >= 1

        slack.clear_scripts()  # Slack is back
        await server.wait_idle(timeout=10)
        assert len(only_parent(slack)["ts"]) > 0
        _, up = await scrape(server)
        assert up[("askcall_pending_deliveries", ())] == 0
        assert up[("askcall_oldest_pending_delivery_age_seconds", ())] == 0
        assert total(up, "askcall_slack_delivery_failures_total") >= 1
        assert total(up, "askcall_slack_delivery_attempts_total") > total(up, "askcall_slack_delivery_failures_total")
