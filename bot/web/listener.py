"""The listening socket, bound before anything starts, so a port in use or a wrong HOST stops AskCall at once.

Invariant: `bind` either returns a bound socket or raises ListenError with one line naming the variable, what is
wrong and what to do; nothing (the database, Slack) is touched before it. The socket is not listening yet: the
server starts listening on it once AskCall is ready, so no connection is accepted before it can be served.
"""

from __future__ import annotations

import errno
import socket


class ListenError(Exception):
    """The address can't be listened on; the message says why and what to set."""


def bind(host: str, port: int, *, host_variable: str = "HOST", port_variable: str = "PORT") -> socket.socket:
    """A TCP socket bound to host:port (port 0: a free one)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        raise ListenError(_not_here(host, host_variable, getattr(error, "strerror", None) or str(error))) from error
    family, kind, protocol, _, address = infos[0]
    listener = socket.socket(family, kind, protocol)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.setblocking(False)
    except OSError as error:
        listener.close()
        raise ListenError(_explain(error, host, port, host_variable, port_variable)) from error
    return listener


def _explain(error: OSError, host: str, port: int, host_variable: str, port_variable: str) -> str:
    if error.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use (another AskCall, or another program, listens there): stop it, "
            f"or set {port_variable} to a free port"
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return _not_here(host, host_variable, error.strerror or "address not available")
    if error.errno == errno.EACCES:
        return (
            f"{port_variable}={port}: this user may not listen on ports below 1024; use a higher one, "
            f"e.g. {port_variable}=3000 (a reverse proxy or the container can map 80 or 443 to it)"
        )
    return f"cannot listen on {host}:{port} ({error.strerror or error})"


def _not_here(host: str, variable: str, why: str) -> str:
    return (
        f"{variable}={host!r} is not an address of this machine ({why}): set it to one, e.g. {variable}=0.0.0.0 "
        "(every interface) or 127.0.0.1 (this machine only)"
    )
