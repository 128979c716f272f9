"""The HTTP clients Pilot Status calls go through, and how their transport failures read.

The number-scoped API (`PilotStatusClient`: every command's two calls) runs on a plain aiohttp session
(`new_session`): httpx on top of the aiohttp transport spent about as much CPU again building URLs, requests
and cookie jars as aiohttp spent sending (issue 19's profile). The admin client stays on httpx, on the aiohttp
transport (`new_http_client`, `httpx-aiohttp`, by an httpx maintainer): httpx's default transport (httpcore
on anyio) cost about 2.8 ms of CPU per call on the benchmark machine. Either way, whether a failed request
may have reached Pilot Status is read from the aiohttp exception (`never_sent`, `never_sent_by_aiohttp`).
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from typing import Any
from urllib.parse import urlsplit

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


# httpx's keep-alive expiry, which the Pilot Status clients used before they left httpx.
KEEPALIVE_SECONDS = 5.0


def new_session(
    *,
    base_url: str,
    timeout: float,
    user_agent: str,
    max_connections: int,
    tls: ssl.SSLContext | None = None,
) -> aiohttp.ClientSession:
    """An aiohttp session for Pilot Status's API, made on the running loop; each request brings its number's key (so
    one session, one connection pool, serves every number and workspace). As the httpx client was: the env's
    proxy for `base_url` honoured (HTTPS_PROXY, NO_PROXY…), no Content-Type on a bodiless POST, each of connect
    (`min(timeout, 10)`), waiting for a pooled connection and reading limited to `timeout`. Redirects are not
    followed (`allow_redirects=False` per call, as httpx's default). The proxy is read once, here: aiohttp's
    `trust_env` would read the environment and ~/.netrc on every request (half of the client's CPU per call)."""
    connector = aiohttp.TCPConnector(
        limit=max_connections,
        ssl=tls if tls is not None else tls_context(),
        keepalive_timeout=KEEPALIVE_SECONDS,
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers={"accept": "application/json", "user-agent": user_agent},
        timeout=aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=min(timeout, 10.0), sock_read=timeout),
        skip_auto_headers=("Content-Type",),
        proxy=env_proxy(base_url),
    )


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (its scheme's *_PROXY, unless NO_PROXY exempts its host), or None."""
    parts = urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def never_sent_by_aiohttp(error: BaseException) -> bool:
    """True when the aiohttp failure certainly came before the request reached Pilot Status: no connection was
    made (ClientConnectorError), or none was made or free within the time allowed (ConnectionTimeoutError).
    Anything else (a dropped connection, a read timeout) may have happened after the request was sent."""
    return isinstance(error, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)


def never_sent(exc: httpx.TransportError) -> bool:
    """True when the request certainly never reached Pilot Status, so repeating it is safe.

    The aiohttp transport maps every `aiohttp.ClientConnectionError` — a server that dropped the
    connection after reading the request included — to `httpx.ConnectTimeout`, so the httpx type alone
    would make a possibly accepted POST look unsent. The aiohttp exception it chains is decisive.
    """
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError | asyncio.TimeoutError):
        return never_sent_by_aiohttp(cause)
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
