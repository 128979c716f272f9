"""Add to Slack end to end over HTTP, on both backends: two workspaces installed through Bolt's OAuth flow against
the fake Slack, each authorized with its own token, one uninstalled (and refused), then reinstalled; a state issued
by one AskCall and consumed by another on one PostgreSQL; the pages' rules."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.domain import RequestState, TenantId
from bot.fakes import FakePilotStatus, FakeSlack
from bot.fakes.slack import slack_signed_headers, slash_command_body
from bot.fakes.slack_oauth import app_event_body
from tests.conftest import SIGNING_SECRET, Server
from tests.oauth.install_helpers import (
    MultiServer,
    allow,
    begin_install,
    browser,
    free_socket,
    install,
    multi_settings,
    start_multi,
)


@pytest.fixture
def askcall(multi_askcall: MultiServer) -> MultiServer:
    return multi_askcall


async def command(server: MultiServer, team: str, text: str = "help") -> tuple[int, str]:
    """A signed `/askcall help` from `team`: the answer's status and text (when authorized, and no Pilot Status
    account is connected yet, the answer that an admin must connect one: "Pilot Status" marks it)."""
    body = slash_command_body(text, team_id=team, response_url=server.slack.new_response_url())
    async with (
        browser() as http,
        http.post(
            server.url + "/slack/events", data=body.encode(), headers=slack_signed_headers(body, SIGNING_SECRET)
        ) as answer,
    ):
        return answer.status, await answer.text()


async def event(server: MultiServer, team: str, payload: dict[str, object]) -> int:
    body = app_event_body(team, payload)
    headers = {**slack_signed_headers(body, SIGNING_SECRET), "Content-Type": "application/json"}
    async with (
        browser() as http,
        http.post(server.url + "/slack/events", data=body.encode(), headers=headers) as answer,
    ):
        return answer.status


async def test_two_workspaces_install_and_each_is_served_with_its_own_token(
    askcall: MultiServer, slack: FakeSlack
) -> None:
    async with browser() as http:
        status, page = await install(http, askcall.url, "T2")
    assert status == 200 and "Acme Vendas" in page and 'id="done"' in page
    async with browser() as http:
        status, page = await install(http, askcall.url, "T3")
    assert status == 200 and "Beta Ltda" in page

    store = askcall.askcall.store
    two, three = await store.slack_installation("T2"), await store.slack_installation("T3")
    assert two is not None and three is not None and two.bot_token != three.bot_token
    assert two.installer_user_id == "UINSTALLER" and "xoxb" not in (two.bot_token or "")
    # Each installed workspace is in the registry its rows belong to, live.
    recorded = {w.tenant: w for w in await store.workspaces()}
    assert {"T2", "T3"} <= set(recorded) and recorded[TenantId("T2")].uninstalled_at is None
    assert recorded[TenantId("T2")].team_id == "T2" and recorded[TenantId("T3")].team_id == "T3"
    installs = askcall.askcall.installations
    assert installs is not None
    found_two, found_three = await installs.for_tenant(TenantId("T2")), await installs.for_tenant(TenantId("T3"))
    assert found_two is not None and found_three is not None
    assert slack.oauth.team_of(found_two.bot_token)[0] == "T2"
    assert slack.oauth.team_of(found_three.bot_token)[0] == "T3"

    # A signed command from each installed team is authorized: with no Pilot Status account connected yet, the
    # answer says an admin must connect one in App Home (ephemeral; nothing stored). From a team where AskCall
    # isn't installed, Bolt's "not installed" answer.
    for team in ("T2", "T3"):
        status, text = await command(askcall, team)
        assert status == 200 and "Pilot Status" in text and "ephemeral" in text, text
    assert await store.requests_in_state(*RequestState) == []
    status, text = await command(askcall, "T9")
    assert status == 200 and "Pilot Status" not in text
    assert "install" in slack.responses[-1]["text"].lower()  # Bolt's "install this app" answer, by response_url


async def test_uninstall_deletes_the_tokens_and_a_reinstall_works(askcall: MultiServer, slack: FakeSlack) -> None:
    async with browser() as http:
        await install(http, askcall.url, "T2")
    assert (await command(askcall, "T2"))[1].count("Pilot Status") > 0

    slack.oauth.uninstall("T2")
    assert await event(askcall, "T2", {"type": "app_uninstalled", "event_ts": "1.1"}) == 200

    row = await askcall.askcall.store.slack_installation("T2")
    assert row is not None and row.bot_token is None and row.uninstalled_at is not None
    assert "Pilot Status" not in (await command(askcall, "T2"))[1]

    async with browser() as http:
        status, _ = await install(http, askcall.url, "T2")
    assert status == 200
    assert "Pilot Status" in (await command(askcall, "T2"))[1]


async def test_tokens_revoked_removes_the_bot(askcall: MultiServer, slack: FakeSlack) -> None:
    async with browser() as http:
        await install(http, askcall.url, "T3")

    revoked = {"type": "tokens_revoked", "tokens": {"bot": ["UBOTT3"]}, "event_ts": "1.1"}
    assert await event(askcall, "T3", revoked) == 200

    assert "Pilot Status" not in (await command(askcall, "T3"))[1]


async def test_a_state_is_good_once(askcall: MultiServer) -> None:
    async with browser() as http:
        redirect = await allow(http, await begin_install(http, askcall.url), "T2")
        async with http.get(redirect) as first:
            assert first.status == 200
        async with http.get(redirect) as again:
            text = await again.text()
    assert again.status in (400, 401) and 'id="failed"' in text


async def test_a_forged_or_missing_state_ends_on_the_failure_page(askcall: MultiServer) -> None:
    async with browser() as http:
        for query in ("?code=x&state=forged", "?code=x", "?error=access_denied&state=s", "?state=%ff%00"):
            async with http.get(askcall.url + "/slack/oauth_redirect" + query) as answer:
                assert 400 <= answer.status < 500
                assert 'id="failed"' in await answer.text()
    assert await askcall.askcall.store.slack_installations() == []


async def test_cancelling_in_slack_installs_nothing(askcall: MultiServer, slack: FakeSlack) -> None:
    async with browser() as http:
        authorize = await begin_install(http, askcall.url)
        query = parse_qs(urlsplit(authorize).query)
        cancel = f"{slack.base_url}/oauth/v2/authorize/cancel?" + urlsplit(authorize).query
        async with http.get(cancel, allow_redirects=False) as back:
            location = back.headers["Location"]
        async with http.get(location, headers={"Accept-Language": "en-US,en;q=0.9"}) as page:
            text = await page.text()
    assert query["redirect_uri"] == [askcall.url + "/slack/oauth_redirect"]
    assert "cancelled" in text and 'lang="en"' in text
    assert await askcall.askcall.store.slack_installations() == []


async def test_the_pages_follow_the_call_pages_rules(askcall: MultiServer) -> None:
    async with browser() as http:
        async with http.get(askcall.url + "/") as landing:
            text = await landing.text()
            headers = landing.headers
        async with http.get(askcall.url + "/", headers={"Accept-Language": "en"}) as english:
            english_text = await english.text()
    assert "Adicionar ao Slack" in text and 'lang="pt-BR"' in text
    assert "Add to Slack" in english_text
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "unsafe-inline" not in csp
    assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store"
    assert "<script" not in text and "style=" not in text and "http" not in text.split("<body>")[1]


@pytest.mark.postgresql
async def test_a_state_issued_by_one_askcall_is_consumed_by_another(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, pg_url: str
) -> None:
    slack.oauth.add_team("T2", "Acme Vendas")
    first_sock, second_sock = free_socket(), free_socket()
    first_settings = multi_settings(slack, pilot, tmp_path, pg_url, first_sock.getsockname()[1])
    key = first_settings.encryption_key
    first = await start_multi(first_settings, first_sock, slack)
    second = await start_multi(
        # Behind one load balancer: one public URL (Slack redirects there), two replicas.
        multi_settings(slack, pilot, tmp_path, pg_url, first_sock.getsockname()[1], key),
        second_sock,
        slack,
    )
    try:
        async with browser() as http:
            redirect = await allow(http, await begin_install(http, first.url), "T2")
            # The load balancer sends the way back to the other replica (same public URL in real life).
            other = second.url + "/slack/oauth_redirect?" + urlsplit(redirect).query
            cookies = {c.key: c.value for c in http.cookie_jar}
            async with browser() as elsewhere, elsewhere.get(other, cookies=cookies) as done:
                assert done.status == 200, await done.text()
        assert await second.askcall.store.slack_installation("T2") is not None
        assert "Pilot Status" in (await command(first, "T2"))[1]
    finally:
        await first.stop()
        await second.stop()


async def test_with_one_workspace_an_uninstall_is_acknowledged_and_told(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    body = app_event_body("T1", {"type": "app_uninstalled", "event_ts": "1.1"})
    headers = {**slack_signed_headers(body, SIGNING_SECRET), "Content-Type": "application/json"}

    answer = await server.post_slack(body, headers)

    assert answer.status == 200
    assert "uninstalled from workspace T1: SLACK_BOT_TOKEN no longer works" in caplog.text
    assert server.askcall.env_tenant is not None  # one workspace, from the environment
    assert "/slack/install" not in {r.canonical for r in server.runner.app.router.resources()}


async def test_the_start_up_line_says_multi_workspace_mode(askcall: MultiServer) -> None:
    line = askcall.askcall.startup_line("127.0.0.1:3000")

    assert f"Slack over HTTP for many workspaces (Add to Slack at {askcall.url}/)" in line
