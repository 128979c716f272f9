"""Add to Slack (multi-workspace mode): the landing page `/`, Bolt's OAuth paths `/slack/install` and
`/slack/oauth_redirect`, and the success and failure pages the install ends on.

Invariant: the OAuth flow is Bolt's own (`AsyncOAuthFlow`: the state issued into the store and a browser cookie,
checked and consumed once on the way back, the code exchanged by `oauth.v2.access`, the installation saved through
AskCall's installation store); this module only carries requests to it and renders its outcome. Every page follows
the call page's rules: no CDN, no inline script or style (a strict CSP allowing only this origin's stylesheet),
no referrer (the redirect's URL holds the code), never cached; every word comes from the catalogue in pt-BR or en
(Accept-Language, pt-BR by default); what Slack or the installer typed is HTML-escaped. Client garbage (a bad or
missing state, code or error) ends on the failure page, never a 500.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from importlib.resources import files
from typing import Protocol

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.config import Settings
from bot.i18n import Translator, browser_language

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
STYLESHEET = "/install.css"
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
# Why an install failed, as Bolt names it, and the catalogue's words for it.
_EXPIRED_REASONS = ("invalid_state", "invalid_browser")


class Running(Protocol):
    bolt: AsyncApp


def page(language: str, title: str, body: str) -> str:
    """A whole page: `title` and `body` are already HTML (escaped by the caller)."""
    return (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{title}</title><link rel="stylesheet" href="{STYLESHEET}"></head>'
        f'<body><main class="card">{body}</main></body></html>'
    )


def _bolt_page(status: int, text: str, headers: dict[str, str] | None = None) -> BoltResponse:
    all_headers = {"Content-Type": "text/html; charset=utf-8", **PAGE_HEADERS, **(headers or {})}
    return BoltResponse(status=status, body=text, headers=all_headers)


def callback_options(settings: Settings) -> AsyncCallbackOptions:
    """The pages Bolt's OAuth flow ends on."""

    async def success(args: AsyncSuccessArgs) -> BoltResponse:
        language = browser_language(_header(args.request, "accept-language"))
        t = Translator(language).t
        installation = args.installation
        team = installation.team_name or installation.enterprise_name or installation.team_id or ""
        where = installation.team_id or installation.enterprise_id or ""
        log.info("AskCall was installed in %s", where)
        body = (
            f"<h1>{html.escape(t('install.done_title'))}</h1>"
            f'<p id="done">{html.escape(t("install.done", team=team))}</p>'
            f'<a class="add" href="slack://open?team={html.escape(where)}">{html.escape(t("install.open_slack"))}</a>'
        )
        deletion = args.settings.state_utils.build_set_cookie_for_deletion()
        return _bolt_page(200, page(language, html.escape(t("install.done_title")), body), {"Set-Cookie": deletion})

    async def failure(args: AsyncFailureArgs) -> BoltResponse:
        language = browser_language(_header(args.request, "accept-language"))
        t = Translator(language).t
        reason = args.reason if args.reason in ("access_denied", *_EXPIRED_REASONS) else "other"
        key = "install.failed.expired" if reason in _EXPIRED_REASONS else f"install.failed.{reason}"
        log.warning("an install did not finish: %s", args.reason[:60] if args.reason else "unknown")
        status = args.suggested_status_code if 400 <= args.suggested_status_code < 500 else 400
        body = (
            f"<h1>{html.escape(t('install.failed_title'))}</h1>"
            f'<p id="failed">{html.escape(t(key))}</p>'
            f'<a class="add" href="{INSTALL_PATH}">{html.escape(t("install.again"))}</a>'
        )
        return _bolt_page(status, page(language, html.escape(t("install.failed_title")), body))

    return AsyncCallbackOptions(success=success, failure=failure)


def _header(request: AsyncBoltRequest, name: str) -> str | None:
    values = request.headers.get(name)
    return values[0] if values else None


class InstallPages:
    """The landing page and Bolt's install paths, on AskCall's aiohttp server."""

    def __init__(self, running: Callable[[], Running], settings: Settings) -> None:
        self._running = running
        self._settings = settings
        # Bolt's state cookie says Secure; a browser drops a Secure cookie on plain http, which multi-workspace
        # mode allows on loopback only (tests).
        self._secure = (settings.public_url or "").startswith("https://")

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_get("/", self.landing)
        router.add_get(INSTALL_PATH, self.install)
        router.add_get(REDIRECT_PATH, self.redirect)
        router.add_get(STYLESHEET, self.stylesheet)

    async def landing(self, request: web.Request) -> web.Response:
        language = browser_language(request.headers.get("Accept-Language"))
        t = Translator(language).t
        wanted = (("privacy", self._settings.privacy_policy_url), ("support", self._settings.support_url))
        links = [
            f'<a id="{name}" href="{html.escape(url)}">{html.escape(t(f"install.{name}"))}</a>'
            for name, url in wanted
            if url
        ]
        body = (
            f"<h1>{html.escape(t('install.title'))}</h1>"
            f"<p>{html.escape(t('install.pitch'))}</p>"
            f'<a id="add-to-slack" class="add" href="{INSTALL_PATH}">{html.escape(t("install.add"))}</a>'
            f'<nav class="links">{"".join(links)}</nav>'
        )
        return web.Response(
            text=page(language, html.escape(t("install.title")), body), content_type="text/html", headers=PAGE_HEADERS
        )

    async def stylesheet(self, request: web.Request) -> web.Response:
        css = files("bot.web").joinpath("install.css").read_bytes()
        headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
        return web.Response(body=css, content_type="text/css", headers=headers)

    async def install(self, request: web.Request) -> web.Response:
        flow = self._flow()
        return self._response(await flow.handle_installation(await to_bolt_request(request)))

    async def redirect(self, request: web.Request) -> web.Response:
        flow = self._flow()
        return self._response(await flow.handle_callback(await to_bolt_request(request)))

    def _flow(self) -> AsyncOAuthFlow:
        flow = self._running().bolt.oauth_flow
        if flow is None:
            raise web.HTTPNotFound()
        return flow

    def _response(self, bolt: BoltResponse) -> web.Response:
        headers = bolt.first_headers_without_set_cookie()
        content_type = headers.pop("content-type", "text/html; charset=utf-8").split(";")[0]
        response = web.Response(status=bolt.status, body=bolt.body, content_type=content_type, headers=headers)
        for cookie in bolt.headers.get("set-cookie", []):
            response.headers.add("Set-Cookie", cookie if self._secure else cookie.replace("; Secure", ""))
        return response
