"""Request bodies on AskCall's HTTP surfaces: how large they may be, how long a client may take to send one.

Invariant: a slow or stalled client holds nothing but its own connection: no request counts as inbound
work until its body is here, and the connection is closed soon after the 408 (`LINGERING_TIME`).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

log = logging.getLogger(__name__)

MAX_BODY = 1024**2  # larger bodies get 413 (Slack's and Pilot Status's are a few KiB)
# After answering a request whose body never finished (408), aiohttp drains the rest for this long
# before closing; its default (10 s) would let a stalled client keep the socket.
LINGERING_TIME = 1.0


async def read_body(request: web.Request, timeout: float, limit: int = MAX_BODY) -> bytes:  # noqa: ASYNC109
    """The whole body, however many pieces it comes in (chunked or not); else 408 when the client has not sent
    it within `timeout`, 413 past `limit` bytes (at most the server's MAX_BODY), 400 (logged at INFO, no
    traceback) when it hung up halfway."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    try:
        async with asyncio.timeout(timeout):
            body = await request.read()
    except TimeoutError:
        log.warning("a client did not send its request body within %.1f s", timeout)
        raise web.HTTPRequestTimeout(
            text='{"error": "request body not received in time"}', content_type="application/json"
        ) from None
    except ConnectionResetError:  # the client hung up mid-body: nobody is left to answer
        log.info("a client hung up before sending its whole request body")
        raise web.HTTPBadRequest(text='{"error": "connection lost"}', content_type="application/json") from None
    if len(body) > limit:
        raise _too_large(limit)
    return body


def _too_large(limit: int) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(
        max_size=limit,
        actual_size=limit + 1,
        text='{"error": "request body too large"}',
        content_type="application/json",
    )
