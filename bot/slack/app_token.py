"""Slack's app-level token (SLACK_APP_TOKEN, for Socket Mode): does Slack accept it, and a WebSocket URL.

Invariant: a refusal (the token is wrong, revoked, or lacks connections:write) raises AppTokenRefused, whose
message names the variable and the fix and never the token; anything else (Slack unreachable, rate-limited,
down) raises what the SDK raised, because trying again later may work. Used at start-up (`askcall serve`
exits on a refusal), by the Socket Mode connection for each attempt, and by `askcall check`.
"""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

# What Slack answers apps.connections.open when the token itself is the problem.
REFUSALS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "not_allowed_token_type",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "missing_scope",
        "no_permission",
    }
)
APP_TOKEN_FIX = (
    "create an App-Level Token with the connections:write scope (your Slack app → Basic Information → "
    "App-Level Tokens) and put it (xapp-…) in SLACK_APP_TOKEN, or unset SLACK_APP_TOKEN to receive Slack's "
    "requests over HTTP"
)


class AppTokenRefused(Exception):
    """Slack refused SLACK_APP_TOKEN: trying again with the same token can't work."""

    def __init__(self, code: str) -> None:
        super().__init__(f"Slack refused SLACK_APP_TOKEN ({code})")
        self.code = code
        self.fix = APP_TOKEN_FIX


async def open_connection_url(client: AsyncWebClient, app_token: str) -> str:
    """A Socket Mode WebSocket URL from apps.connections.open, asked with `app_token`."""
    try:
        response = await client.apps_connections_open(app_token=app_token)
    except SlackApiError as error:
        data = error.response.data
        code = str(data.get("error") if isinstance(data, dict) else "") or f"HTTP {error.response.status_code}"
        if code in REFUSALS:
            raise AppTokenRefused(code) from error
        raise
    return str(response["url"])
