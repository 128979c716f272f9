"""The httpx client every Pilot Status call goes through, and how its transport failures read.

httpx stays the client API; the transport underneath is aiohttp (`httpx-aiohttp`, by an httpx
maintainer). httpx's default transport (httpcore on anyio) cost about 2.8 ms of CPU per call on the
benchmark machine and grew with the number of pooled connections, against about 1.1 ms through the
aiohttp transport — AskCall already runs on aiohttp, and every command makes two calls.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import HttpxAiohttpClient
from httpx_aiohttp.transport import AiohttpTransport

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


class _BarePostTransport(AiohttpTransport):
    """The aiohttp transport, except that a request without a body carries no Content-Type: aiohttp would add
    `application/octet-stream` to a bare POST (terminate), which the SDK sends with no body and no content type."""

    def get_client(self) -> aiohttp.ClientSession:
        if self.client is not None:
            return super().get_client()
        connector = aiohttp.TCPConnector(
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
            local_addr=(self.local_address, 0) if self.local_address else None,
            limit=self.limits.max_connections or 0,
        )
        return aiohttp.ClientSession(connector=connector, skip_auto_headers=("Content-Type",))


class _Client(HttpxAiohttpClient):
    def _init_transport(
        self,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = DEFAULT_LIMITS,
        transport: httpx.AsyncBaseTransport | None = None,
        **kwargs: Any,
    ) -> httpx.AsyncBaseTransport:
        if transport is not None:
            return transport
        return _BarePostTransport(verify=verify, cert=cert, trust_env=trust_env, http1=http1, limits=limits)

    def _init_proxy_transport(
        self,
        proxy: httpx.Proxy,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = DEFAULT_LIMITS,
        **kwargs: Any,
    ) -> httpx.AsyncBaseTransport:
        return _BarePostTransport(
            verify=verify, cert=cert, trust_env=trust_env, http1=http1, limits=limits, proxy=proxy
        )


def tls_context() -> ssl.SSLContext:
    """The certificates httpx would verify with (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), loaded once: loading
    them takes tens of milliseconds of CPU on the event loop, so clients made per workspace share one context."""
    return httpx.create_ssl_context()


def new_http_client(
    *,
    base_url: str,
    api_key: str | None,
    timeout: float,
    user_agent: str,
    max_connections: int = 100,
    tls: ssl.SSLContext | None = None,
) -> httpx.AsyncClient:
    """An httpx client on the aiohttp transport; env proxies (HTTPS_PROXY…) are honoured as httpx does. `tls`: a
    context shared with other clients (`tls_context()`); None loads the certificates for this client alone.
    `api_key` None: each request brings its own (one client, so one connection pool, serves many keys)."""
    headers = {"accept": "application/json", "user-agent": user_agent}
    if api_key is not None:
        headers["x-api-key"] = api_key
    return _Client(
        verify=tls if tls is not None else True,
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        headers=headers,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
    )


def never_sent(exc: httpx.TransportError) -> bool:
    """True when the request certainly never reached Pilot Status, so repeating it is safe.

    The aiohttp transport maps every `aiohttp.ClientConnectionError` — a server that dropped the
    connection after reading the request included — to `httpx.ConnectTimeout`, so the httpx type alone
    would make a possibly accepted POST look unsent. The aiohttp exception it chains is decisive.
    """
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError | asyncio.TimeoutError):
        # ClientConnectorError: no connection was made. ConnectionTimeoutError: no pooled connection
        # or connect within the time allowed. Anything else may have happened after the request was sent.
        return isinstance(cause, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
