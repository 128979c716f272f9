"""The fake Slack's workspaces and OAuth install flow are as strict as Slack's (bot/fakes/slack_oauth.py): codes
single-use and expiring, the redirect URI matched, the client authenticated, every token scoped to its team."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.fakes import FakeSlack
from bot.fakes.slack import manifest_scopes
from bot.fakes.slack_oauth import CODE_LIFETIME

REDIRECT = "https://askcall.example.com/slack/oauth_redirect"


async def slack_error(call: Any) -> str:
    with pytest.raises(SlackApiError) as err:
        await call
    return str(err.value.response["error"])


async def authorize(fake: FakeSlack, team: str, *, redirect: str | None = REDIRECT, state: str = "s1") -> str:
    """Walk the authorize page for `team` as a browser would; the code Slack redirects back with."""
    query = {"client_id": fake.oauth.client_id, "scope": manifest_scopes(), "state": state}
    if redirect is not None:
        query["redirect_uri"] = redirect
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{fake.base_url}/oauth/v2/authorize", params=query) as page:
            assert page.status == 200
            assert f'id="allow-{team}"' in await page.text()
        allow = {**query, "team": team}
        async with http.get(f"{fake.base_url}/oauth/v2/authorize/allow", params=allow, allow_redirects=False) as answer:
            assert answer.status == 302
            location = urlsplit(answer.headers["Location"])
    back = parse_qs(location.query)
    assert back["state"] == [state]
    return back["code"][0]


def app_client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(base_url=fake.api_url, timeout=5)


async def test_a_code_becomes_a_token_of_its_own_team(fake: FakeSlack) -> None:
    fake.oauth.add_team("T2", "Acme")
    code = await authorize(fake, "T2")

    answer = await app_client(fake).oauth_v2_access(
        client_id=fake.oauth.client_id, client_secret=fake.oauth.client_secret, code=code, redirect_uri=REDIRECT
    )

    assert answer["team"] == {"id": "T2", "name": "Acme"}
    assert answer["authed_user"] == {"id": "UINSTALLER"}
    assert answer["token_type"] == "bot" and answer["scope"] == manifest_scopes()
    me = await AsyncWebClient(token=answer["access_token"], base_url=fake.api_url).auth_test()
    assert (me["team_id"], me["user_id"]) == ("T2", answer["bot_user_id"])


async def test_a_code_is_used_once(fake: FakeSlack) -> None:
    code = await authorize(fake, "T1")
    client = app_client(fake)
    creds = {"client_id": fake.oauth.client_id, "client_secret": fake.oauth.client_secret, "redirect_uri": REDIRECT}

    await client.oauth_v2_access(code=code, **creds)

    assert await slack_error(client.oauth_v2_access(code=code, **creds)) == "invalid_code"
    assert await slack_error(client.oauth_v2_access(code="never-issued", **creds)) == "invalid_code"


async def test_a_code_expires_after_ten_minutes(fake: FakeSlack) -> None:
    code = await authorize(fake, "T1")
    fake.pass_time(CODE_LIFETIME + 1)

    error = await slack_error(
        app_client(fake).oauth_v2_access(
            client_id=fake.oauth.client_id, client_secret=fake.oauth.client_secret, code=code, redirect_uri=REDIRECT
        )
    )

    assert error == "invalid_code"


async def test_the_redirect_uri_must_be_the_authorize_one(fake: FakeSlack) -> None:
    code = await authorize(fake, "T1")

    error = await slack_error(
        app_client(fake).oauth_v2_access(
            client_id=fake.oauth.client_id,
            client_secret=fake.oauth.client_secret,
            code=code,
            redirect_uri="https://evil.example.com/slack/oauth_redirect",
        )
    )

    assert error == "bad_redirect_uri"


async def test_a_wrong_client_secret_or_id_is_refused(fake: FakeSlack) -> None:
    code = await authorize(fake, "T1")
    client = app_client(fake)

    wrong_secret = client.oauth_v2_access(
        client_id=fake.oauth.client_id, client_secret="guess", code=code, redirect_uri=REDIRECT
    )
    assert await slack_error(wrong_secret) == "invalid_client"
    wrong_id = client.oauth_v2_access(
        client_id="9.9", client_secret=fake.oauth.client_secret, code=code, redirect_uri=REDIRECT
    )
    assert await slack_error(wrong_id) == "invalid_client_id"


async def test_the_authorize_page_refuses_a_redirect_the_app_does_not_list(fake: FakeSlack) -> None:
    fake.oauth.redirect_urls = [REDIRECT]
    query = {"client_id": fake.oauth.client_id, "scope": "commands", "redirect_uri": "https://evil.example.com/x"}

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{fake.base_url}/oauth/v2/authorize", params=query) as page:
            assert page.status == 400
            assert "bad_redirect_uri" in await page.text()
        async with http.get(
            f"{fake.base_url}/oauth/v2/authorize", params={**query, "redirect_uri": REDIRECT, "scope": "admin"}
        ) as page:
            assert page.status == 400
            assert "invalid_scope" in await page.text()
        async with http.get(
            f"{fake.base_url}/oauth/v2/authorize", params={**query, "redirect_uri": REDIRECT, "client_id": "9.9"}
        ) as page:
            assert page.status == 400


async def test_cancelling_redirects_with_access_denied(fake: FakeSlack) -> None:
    query = {"client_id": fake.oauth.client_id, "scope": "commands", "redirect_uri": REDIRECT, "state": "s9"}

    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{fake.base_url}/oauth/v2/authorize/cancel", params=query, allow_redirects=False) as answer,
    ):
        back = parse_qs(urlsplit(answer.headers["Location"]).query)

    assert back == {"error": ["access_denied"], "state": ["s9"]}


async def test_a_token_speaks_only_for_its_own_team(fake: FakeSlack) -> None:
    fake.oauth.add_team("T2")
    code = await authorize(fake, "T2")
    token = (
        await app_client(fake).oauth_v2_access(
            client_id=fake.oauth.client_id, client_secret=fake.oauth.client_secret, code=code, redirect_uri=REDIRECT
        )
    )["access_token"]
    first = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
    second = AsyncWebClient(token=token, base_url=fake.api_url)
    await first.chat_postMessage(channel="C1", text="from T1")

    assert await slack_error(second.chat_postMessage(channel="C1", text="from T2")) == "channel_not_found"
    assert await slack_error(second.conversations_replies(channel="C1", ts="1.1")) == "channel_not_found"
    assert (await second.chat_postMessage(channel="C2", text="its own"))["ok"]
    assert await slack_error(first.chat_postMessage(channel="C2", text="not mine")) == "channel_not_found"


async def test_a_revoked_token_is_refused(fake: FakeSlack) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)

    assert (await client.auth_revoke())["revoked"]

    assert await slack_error(client.auth_test()) == "token_revoked"


async def test_an_uninstalled_team_loses_every_token(fake: FakeSlack) -> None:
    fake.oauth.uninstall("T1")

    assert await slack_error(AsyncWebClient(token="xoxb-test", base_url=fake.api_url).auth_test()) == "token_revoked"


async def test_token_rotation_refreshes_once_and_tokens_expire(fake: FakeSlack) -> None:
    fake.oauth.token_rotation = True
    code = await authorize(fake, "T1")
    client = app_client(fake)
    creds = {"client_id": fake.oauth.client_id, "client_secret": fake.oauth.client_secret}
    first = await client.oauth_v2_access(code=code, redirect_uri=REDIRECT, **creds)
    assert first["access_token"].startswith("xoxe.xoxb-") and first["expires_in"] > 0

    refreshed = await client.oauth_v2_access(grant_type="refresh_token", refresh_token=first["refresh_token"], **creds)

    assert refreshed["access_token"] != first["access_token"]
    again = client.oauth_v2_access(grant_type="refresh_token", refresh_token=first["refresh_token"], **creds)
    assert await slack_error(again) == "invalid_refresh_token"
    fake.pass_time(first["expires_in"] + 1)
    expired = AsyncWebClient(token=first["access_token"], base_url=fake.api_url).auth_test()
    assert await slack_error(expired) == "token_expired"
