"""AskCall's call page over HTTP: the link, the page, and the page's protocol (see the header of call.js).

- `GET /call/<token>` redeems a personal link into a session cookie (HttpOnly, SameSite=Strict, Secure
  behind https, Path = that request's page) and moves on to the page (a meta refresh, so the cookie goes
  along even when the link was clicked on another site), so the token leaves the address bar.
- `GET /call/r/<request id>/` (the page), `config`, `POST offer`, `GET events` (Server-Sent Events) and
  `POST hangup` need that session, for that request. The stream and the POSTs also need the request to come
  from AskCall's own origin (`Origin` equal to ASKCALL_PUBLIC_URL's; a same-origin GET from a browser that
  sends no Origin must say `Sec-Fetch-Site: same-origin`).
- Every answer carries the page's security headers (strict CSP, no referrer, no caching).
- A call whose page went away while `POST offer` was starting it (tab closed, connection lost) is hung up
  as soon as Pilot Status names it: nobody is left to hear the customer or to hang up.
- `POST offer` reads its body like every other route (`read_body`: whole, within the body deadline, at most
  MAX_OFFER bytes). A customer already on a call (a teammate's, another page's) gets 409 CALL_IN_PROGRESS with
  who is on it and since when; the same page offering again gets its own call back.
- Event streams are limited per page session (MAX_STREAMS_PER_SESSION) and in all (MAX_STREAMS), and all end
  at once when the server shuts down (`close_streams`): an open stream never delays the stop.

Invariant: without a valid session for the request in the path, nothing about the request or its
customer is shown and no call is started; a refused link gets a page that says so, never the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from bot.domain import TenantId
from bot.i18n import Translator, browser_language
from bot.services.calls import SESSION_LIFETIME, CallBusyError, CallService, CallStartError
from bot.store import CallSession
from bot.web import CALL_PAGE_FILES, CALL_PAGE_HEADERS, asset, favicon, page_strings
from bot.web.body import read_body

log = logging.getLogger(__name__)

COOKIE = "askcall_call"
PAGE_PATH = "/call/r/{request_id}/"
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
MAX_OFFER = 64 * 1024  # an audio-only offer with every candidate is a few KiB
KEEPALIVE = 15.0  # SSE comment this often, so proxies keep an idle stream open
GONE_CHECK = 1.0  # a stream whose page went away is noticed within this long (its slot is freed)
# A page opens one stream per call; a few more cover reloads and a second tab. In all, per process: bounded
# memory and connections whatever a client does.
MAX_STREAMS_PER_SESSION = 4
MAX_STREAMS = 500
STYLESHEET_PATH = "/call/static/call.css"
ICON_HEADERS = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class CallPages:
    def __init__(
        self,
        calls: Callable[[], CallService],
        names: Callable[[TenantId, str], Awaitable[str | None]],
        *,
        public_url: str | None,
        language: str,
        body_timeout: float = 10.0,
    ) -> None:
        self._calls = calls
        self._names = names  # (tenant, Slack user id) -> the name Slack shows for them
        self._origin = _origin(public_url) if public_url else None
        self._secure = bool(public_url and public_url.startswith("https://"))
        self._language = language
        self._body_timeout = body_timeout
        self._streams: dict[tuple[int, int], int] = {}  # (request, session) -> its open streams
        self._open_streams = 0
        self._closing: asyncio.Future[None] | None = None  # done once the server shuts down

    async def close_streams(self, _app: web.Application | None = None) -> None:
        """Shutdown: every open stream ends now (its page reconnects elsewhere) and no new one opens."""
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_future()
        if not self._closing.done():
            self._closing.set_result(None)

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_get("/favicon.ico", serve_favicon)
        # The refused link's page (at /call/<token>) is styled like the call page, by the same stylesheet.
        router.add_get(STYLESHEET_PATH, self._asset)
        router.add_get("/call/{token}", self._redeem)
        router.add_get("/call/r/{request_id:\\d+}/", self._page)
        for name in CALL_PAGE_FILES:
            if name != "call.html":
                router.add_get(f"/call/r/{{request_id:\\d+}}/{name}", self._asset)
        router.add_get("/call/r/{request_id:\\d+}/config", self._config)
        router.add_post("/call/r/{request_id:\\d+}/offer", self._offer)
        router.add_get("/call/r/{request_id:\\d+}/events", self._events)
        router.add_post("/call/r/{request_id:\\d+}/hangup", self._hangup)

    # ------------------------------------------------------------------ link and page
    async def _redeem(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        redeemed = await self._calls().redeem(token) if TOKEN_RE.match(token) else None
        if redeemed is None:
            log.info("refused a call link (used, expired or unknown)")
            return self._refusal(request, stylesheet=STYLESHEET_PATH.removeprefix("/call/"))
        cookie, session = redeemed
        path = PAGE_PATH.format(request_id=session.request_id)
        # Not a 303: when the link was clicked on another site (Slack in a browser tab), a browser leaves a
        # SameSite=Strict cookie off every request of that navigation, redirects included. A page of ours
        # that moves on by itself starts a navigation of our own site, which carries the cookie.
        tr = Translator(self._language)
        text, url = html.escape(tr.t("callopen.text")), html.escape(path)
        body = (
            f'<!doctype html><html lang="{html.escape(tr.lang)}"><head><meta charset="utf-8">'
            f'<meta http-equiv="refresh" content="0;url={url}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{text}</title></head>'
            f'<body><p><a href="{url}">{text}</a></p></body></html>'
        )
        response = web.Response(text=body, content_type="text/html", headers=CALL_PAGE_HEADERS)
        response.set_cookie(
            COOKIE,
            cookie,
            path=path,
            max_age=int(SESSION_LIFETIME),
            httponly=True,
            secure=self._secure,
            samesite="Strict",
        )
        return response

    async def _page(self, request: web.Request) -> web.StreamResponse:
        if await self._session(request) is None:
            return self._refusal(request, stylesheet="call.css")
        return web.Response(body=asset("call.html"), content_type="text/html", headers=CALL_PAGE_HEADERS)

    async def _asset(self, request: web.Request) -> web.StreamResponse:
        name = request.path.rsplit("/", 1)[-1]
        return web.Response(body=asset(name), content_type=CALL_PAGE_FILES[name], headers=CALL_PAGE_HEADERS)

    def _refusal(self, request: web.Request, *, stylesheet: str) -> web.Response:
        """The page for a link or session that opens nothing: the call page's card and stylesheet (`stylesheet`,
        relative to where it is served), the catalogue's words, nothing about the request. It can't know the
        workspace, so it speaks the browser's language (Accept-Language), else the deployment's."""
        tr = Translator(browser_language(request.headers.get("Accept-Language"), self._language))
        title, text = html.escape(tr.t("callrefused.title")), html.escape(tr.t("callrefused.text"))
        body = (
            f'<!doctype html><html lang="{html.escape(tr.lang)}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="referrer" content="no-referrer"><title>{title}</title>'
            f'<link rel="stylesheet" href="{html.escape(stylesheet)}"></head>'
            f'<body data-state="refused"><main class="card"><h1 data-testid="refused">{title}</h1>'
            f'<p class="message">{text}</p></main></body></html>'
        )
        headers = {**CALL_PAGE_HEADERS, "Vary": "Accept-Language"}
        return web.Response(status=403, text=body, content_type="text/html", headers=headers)

    # ------------------------------------------------------------------ the page's protocol
    async def _config(self, request: web.Request) -> web.StreamResponse:
        session = await self._session(request)
        if session is None:
            return _json({"error": "no session", "code": "SESSION_REQUIRED"}, 401)
        config = await self._calls().page_config(session)
        asked_by = config.pop("askedById")
        config["askedBy"] = await self._names(session.tenant, asked_by) or f"@{asked_by}"
        return _json({"strings": page_strings(config["lang"]), **config})

    async def _offer(self, request: web.Request) -> web.StreamResponse:
        session, refused = await self._guarded(request)
        if session is None:
            return refused
        try:
            raw = await read_body(request, self._body_timeout, MAX_OFFER)
        except web.HTTPException as refused:
            return _json({"error": refused.reason, "code": "BODY_REFUSED"}, refused.status)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        sdp = body.get("sdp") if isinstance(body, dict) else None
        if not isinstance(sdp, str) or not sdp.strip():
            return _json({"error": "expected {sdp}: the WebRTC offer", "code": "VALIDATION_ERROR"}, 400)
        try:
            started = await self._calls().start(session, sdp)
        except CallBusyError as busy:
            name = await self._names(session.tenant, busy.user_id) or f"@{busy.user_id}"
            return _json(
                {"error": "the customer is on another call", "code": busy.code, "by": name, "since": busy.since},
                busy.status,
            )
        except CallStartError as error:
            return _json({"error": "the call did not start", "code": error.code}, error.status)
        call = started.call
        if started.repeated:  # the same page asked again (a double click, a retried offer): its own call
            return _json({"callId": call.pilot_call_id, "repeated": True})
        if request.transport is None or request.transport.is_closing():
            # The page went away (tab closed, connection lost) while Pilot Status started the call: no one
            # will hear the customer pick up, and no one is left to hang up, so AskCall does (a start whose
            # answer was lost is cancelled: terminated if it turns out to ring).
            log.info("the call page left while its call %d was starting: hanging up", call.id)
            await self._calls().hang_up(session)
        if call.pilot_call_id is None:  # Pilot Status's answer was lost: AskCall finds out, the stream tells
            return _json({"callId": None, "pending": True}, 202)
        return _json({"callId": call.pilot_call_id})

    async def _hangup(self, request: web.Request) -> web.StreamResponse:
        session, refused = await self._guarded(request)
        if session is None:
            return refused
        ended = await self._calls().hang_up(session)
        return _json({"ok": True, "ended": ended})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        session, refused = await self._guarded(request)
        if session is None:
            return refused
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_future()
        key = (session.request_id, session.id)
        if self._closing.done():
            return _json({"error": "shutting down", "code": "SHUTTING_DOWN"}, 503)
        if self._streams.get(key, 0) >= MAX_STREAMS_PER_SESSION or self._open_streams >= MAX_STREAMS:
            log.warning("refused a call page event stream: too many open")
            return _json({"error": "too many event streams", "code": "TOO_MANY_STREAMS"}, 429)
        self._streams[key] = self._streams.get(key, 0) + 1
        self._open_streams += 1
        try:
            return await self._stream(request, session, self._closing)
        finally:
            self._open_streams -= 1
            self._streams[key] -= 1
            if not self._streams[key]:
                del self._streams[key]

    async def _stream(
        self, request: web.Request, session: CallSession, closing: asyncio.Future[None]
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={**CALL_PAGE_HEADERS, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        updates = self._calls().page_updates(session)
        # The wait for the next update outlives a keepalive: cancelling it would end the updates' generator
        # (and so the stream) after the first quiet spell.
        pending: asyncio.Future[dict[str, Any]] | None = None
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        try:
            while not closing.done():
                pending = pending or asyncio.ensure_future(anext(updates))
                done, _ = await asyncio.wait(
                    {pending, closing}, timeout=GONE_CHECK, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    if request.transport is None or request.transport.is_closing():
                        break  # the page went away (aiohttp does not cancel the handler)
                    if loop.time() - quiet_since >= KEEPALIVE:
                        await response.write(b": keepalive\n\n")
                        quiet_since = loop.time()
                    continue
                if pending not in done:
                    break  # shutting down: the page's EventSource reconnects (to another replica)
                finished, pending = pending, None
                try:
                    update = finished.result()
                except StopAsyncIteration:
                    break
                await response.write(f"event: state\ndata: {json.dumps(update)}\n\n".encode())
                quiet_since = loop.time()
        except ConnectionResetError:  # the page went away: nothing left to tell it
            pass
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await pending
            await updates.aclose()
        return response

    # ------------------------------------------------------------------ checks
    async def _session(self, request: web.Request) -> CallSession | None:
        session = await self._calls().session(request.cookies.get(COOKIE))
        if session is None or str(session.request_id) != request.match_info["request_id"]:
            return None
        return session

    async def _guarded(self, request: web.Request) -> tuple[CallSession | None, web.Response]:
        """The session, when the request comes from AskCall's own page; else the refusal to send."""
        if not self._same_origin(request):
            log.warning("refused a call page request from another origin")
            return None, _json({"error": "cross-origin request refused", "code": "ORIGIN_REFUSED"}, 403)
        session = await self._session(request)
        if session is None:
            return None, _json({"error": "no session", "code": "SESSION_REQUIRED"}, 401)
        return session, _json({})

    def _same_origin(self, request: web.Request) -> bool:
        if self._origin is None:
            return False
        origin = request.headers.get("Origin")
        if origin is not None:
            return origin == self._origin
        # Browsers leave Origin off same-origin GETs (the EventSource); they always say where it came from.
        return request.method == "GET" and request.headers.get("Sec-Fetch-Site") == "same-origin"


async def serve_favicon(request: web.Request) -> web.Response:
    """AskCall's icon (a browser asks every origin for one): a green disc with a handset."""
    return web.Response(body=favicon(), content_type="image/x-icon", headers=ICON_HEADERS)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status, headers=CALL_PAGE_HEADERS)
