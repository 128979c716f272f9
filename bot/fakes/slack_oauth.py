"""The fake Slack's workspaces and its OAuth v2 install flow: several teams, each with its own bot tokens.

Used by :class:`bot.fakes.slack.FakeSlack` (``fake.oauth``). As strict as Slack where AskCall depends on it:

* ``GET /oauth/v2/authorize`` checks the ``client_id``, the scopes (only those manifest.yml grants) and the
  ``redirect_uri`` (one of the app's redirect URLs, when it names one), then shows a page with one **Allow** link per
  team (and **Cancel**): allowing issues a code bound to that team, installer and ``redirect_uri`` and redirects to
  ``<redirect_uri>?code=…&state=…``; cancelling redirects with ``error=access_denied``;
* ``oauth.v2.access`` authenticates the app (form fields or HTTP Basic): an unknown client id answers
  ``invalid_client_id``, a wrong secret ``invalid_client``; a code is single-use and lives
  :data:`CODE_LIFETIME` seconds (``invalid_code``); a ``redirect_uri`` must equal the one the authorize step got
  (``bad_redirect_uri``); with token rotation on, it answers ``refresh_token`` and ``expires_in`` and takes
  ``grant_type=refresh_token`` (each refresh token once: ``invalid_refresh_token``);
* every bot token belongs to one team: :meth:`SlackOAuth.team_of` says which, or why it is refused
  (``invalid_auth``, ``token_revoked``, ``token_expired``); ``auth.revoke`` revokes the token it is called with.
"""

from __future__ import annotations

import base64
import html
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import urlencode, urlsplit

from aiohttp import web

__all__ = ["CODE_LIFETIME", "FakeTeam", "SlackOAuth", "app_event_body"]

# Slack: "authorization codes … expire after ten minutes" and are exchanged once.
CODE_LIFETIME = 10 * 60.0
# A rotating bot token lives 12 hours.
TOKEN_LIFETIME = 12 * 3600


@dataclass
class FakeTeam:
    team_id: str
    name: str
    bot_user_id: str = "UBOT"
    bot_id: str = "BBOT"
    enterprise_id: str | None = None


@dataclass
class _Grant:
    team_id: str
    expires_at: float | None = None
    revoked: bool = False


@dataclass
class _Code:
    team_id: str
    installer: str
    redirect_uri: str | None
    scopes: str
    issued_at: float
    used: bool = False


@dataclass
class SlackOAuth:
    """The app's credentials, the teams, the codes and the tokens the fake issued."""

    clock: Callable[[], float]
    granted_scopes: Callable[[], str]
    client_id: str = "1111.2222"
    client_secret: str = "fake-client-secret"
    app_id: str = "AFAKE"
    # The app's Redirect URLs (OAuth & Permissions); empty: any URL a test names.
    redirect_urls: list[str] = field(default_factory=list)
    installer_user_id: str = "UINSTALLER"
    token_rotation: bool = False
    teams: dict[str, FakeTeam] = field(default_factory=dict)
    grants: dict[str, _Grant] = field(default_factory=dict)
    _codes: dict[str, _Code] = field(default_factory=dict)
    _refresh_tokens: dict[str, str] = field(default_factory=dict)  # refresh token -> team id

    def add_team(self, team_id: str, name: str | None = None, *, bot_user_id: str | None = None) -> FakeTeam:
        team = FakeTeam(team_id, name or f"Team {team_id}", bot_user_id=bot_user_id or f"UBOT{team_id}")
        self.teams[team_id] = team
        return team

    def grant(self, team_id: str, token: str) -> None:
        """A token that works for `team_id` from the start (the single-workspace bot token)."""
        self.grants[token] = _Grant(team_id)

    def team_of(self, token: str | None) -> tuple[str | None, str]:
        """(the token's team, "ok"), or (None, why Slack refuses it)."""
        grant = self.grants.get(token or "")
        if grant is None:
            return None, "invalid_auth"
        if grant.revoked:
            return None, "token_revoked"
        if grant.expires_at is not None and grant.expires_at <= self.clock():
            return None, "token_expired"
        return grant.team_id, "ok"

    def tokens_of(self, team_id: str) -> list[str]:
        """The live bot tokens of a team."""
        return [token for token, grant in self.grants.items() if grant.team_id == team_id and not grant.revoked]

    def revoke(self, token: str) -> None:
        if token in self.grants:
            self.grants[token].revoked = True

    def uninstall(self, team_id: str) -> None:
        """The workspace's admin removed the app: every token of the team stops working."""
        for token in self.tokens_of(team_id):
            self.revoke(token)
        for refresh, team in list(self._refresh_tokens.items()):
            if team == team_id:
                del self._refresh_tokens[refresh]

    def expire(self, token: str, at: float) -> None:
        """Make a token expire at `at` (fake clock): token rotation tests."""
        self.grants[token].expires_at = at

    # ------------------------------------------------------------------ the authorize page
    async def authorize_page(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("client_id") != self.client_id:
            return _page(400, "invalid_client_id", "<p>Invalid client_id parameter</p>")
        redirect = query.get("redirect_uri")
        if problem := self._redirect_problem(redirect):
            return _page(400, "bad_redirect_uri", f"<p>{html.escape(problem)}</p>")
        wanted = [s for s in (query.get("scope") or "").split(",") if s]
        unknown = sorted(set(wanted) - {s.strip() for s in self.granted_scopes().split(",")})
        if not wanted or unknown:
            asked = html.escape(",".join(unknown))
            return _page(400, "invalid_scope", f"<p>Invalid permissions requested: {asked}</p>")
        common = {k: v for k, v in query.items() if k in ("client_id", "scope", "state", "redirect_uri")}
        teams = [t for t in self.teams.values() if not query.get("team") or query.get("team") == t.team_id]
        links = "".join(
            f'<li><a id="allow-{html.escape(t.team_id)}" href="/oauth/v2/authorize/allow?'
            f'{html.escape(urlencode({**common, "team": t.team_id}))}">Allow in {html.escape(t.name)}</a></li>'
            for t in teams
        )
        cancel = f'<a id="cancel" href="/oauth/v2/authorize/cancel?{html.escape(urlencode(common))}">Cancel</a>'
        return _page(200, "AskCall is requesting permission", f"<ul>{links}</ul>{cancel}")

    async def allow(self, request: web.Request) -> web.Response:
        query = request.query
        team = self.teams.get(query.get("team", ""))
        redirect = query.get("redirect_uri") or (self.redirect_urls[0] if self.redirect_urls else None)
        if query.get("client_id") != self.client_id or team is None or redirect is None:
            return _page(400, "invalid_request", "<p>Invalid request</p>")
        if problem := self._redirect_problem(query.get("redirect_uri")):
            return _page(400, "bad_redirect_uri", f"<p>{html.escape(problem)}</p>")
        code = f"{team.team_id}.{secrets.token_hex(12)}"
        self._codes[code] = _Code(
            team.team_id,
            query.get("user") or self.installer_user_id,
            query.get("redirect_uri"),
            query.get("scope", ""),
            self.clock(),
        )
        _redirect(redirect, {"code": code, "state": query.get("state", "")})

    async def cancel(self, request: web.Request) -> web.Response:
        redirect = request.query.get("redirect_uri") or (self.redirect_urls[0] if self.redirect_urls else None)
        if redirect is None or self._redirect_problem(request.query.get("redirect_uri")):
            return _page(400, "bad_redirect_uri", "<p>Invalid redirect</p>")
        _redirect(redirect, {"error": "access_denied", "state": request.query.get("state", "")})

    def _redirect_problem(self, redirect: str | None) -> str | None:
        if redirect is None:
            return None if self.redirect_urls else "redirect_uri is missing and the app has no Redirect URL"
        parts = urlsplit(redirect)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "redirect_uri is not a URL"
        if self.redirect_urls and not any(redirect.startswith(allowed) for allowed in self.redirect_urls):
            return "redirect_uri did not match any configured URIs"
        return None

    # ------------------------------------------------------------------ oauth.v2.access
    def access(self, args: Mapping[str, Any], authorization: str) -> dict[str, Any]:
        client_id, client_secret = args.get("client_id"), args.get("client_secret")
        if authorization.startswith("Basic "):
            try:
                client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
            except ValueError:
                return _error("invalid_client")
        if client_id != self.client_id:
            return _error("invalid_client_id")
        if client_secret != self.client_secret:
            return _error("invalid_client")
        if args.get("grant_type") == "refresh_token":
            team_id = self._refresh_tokens.pop(str(args.get("refresh_token") or ""), None)
            if team_id is None or not self.token_rotation:
                return _error("invalid_refresh_token")
            return self.issue(team_id, scopes=self.granted_scopes(), installer=None)
        code = self._codes.get(str(args.get("code") or ""))
        if code is None or code.used or self.clock() - code.issued_at > CODE_LIFETIME:
            return _error("invalid_code")
        code.used = True
        if (args.get("redirect_uri") or None) != code.redirect_uri:
            return _error("bad_redirect_uri")
        return self.issue(code.team_id, scopes=code.scopes, installer=code.installer)

    def issue(self, team_id: str, *, scopes: str, installer: str | None) -> dict[str, Any]:
        """What oauth.v2.access answers when it hands `team_id` a new bot token (tests may call it directly)."""
        team = self.teams[team_id]
        prefix = "xoxe.xoxb" if self.token_rotation else "xoxb"
        token = f"{prefix}-{team_id}-{secrets.token_hex(12)}"
        grant = _Grant(team_id)
        answer: dict[str, Any] = {
            "ok": True,
            "app_id": self.app_id,
            "scope": scopes,
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": team.bot_user_id,
            "team": {"id": team.team_id, "name": team.name},
            "enterprise": None,
            "is_enterprise_install": False,
        }
        if installer is not None:
            answer["authed_user"] = {"id": installer}
        if self.token_rotation:
            refresh = f"xoxe-1-{secrets.token_hex(16)}"
            self._refresh_tokens[refresh] = team_id
            grant.expires_at = self.clock() + TOKEN_LIFETIME
            answer.update(refresh_token=refresh, expires_in=TOKEN_LIFETIME)
        self.grants[token] = grant
        return answer


def _error(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error}


def _page(status: int, title: str, body: str) -> web.Response:
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(status=status, text=text, content_type="text/html")


def _redirect(url: str, params: Mapping[str, str]) -> NoReturn:
    separator = "&" if "?" in url else "?"
    raise web.HTTPFound(f"{url}{separator}{urlencode(params)}")


def app_event_body(team_id: str, event: Mapping[str, Any], *, api_app_id: str = "AFAKE") -> str:
    """The JSON body of an Events API `event_callback` Slack sends about `team_id` (sign it with
    `slack_signed_headers`, as JSON)."""
    return json.dumps(
        {
            "token": "unused",
            "team_id": team_id,
            "api_app_id": api_app_id,
            "event": dict(event),
            "type": "event_callback",
            "event_id": f"Ev{secrets.token_hex(6).upper()}",
            "event_time": 1_800_000_000,
            "authorizations": [{"team_id": team_id, "user_id": "UBOT", "is_bot": True, "is_enterprise_install": False}],
        }
    )
