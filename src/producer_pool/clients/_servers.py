"""Bootstrap server lists: an address no client could use is refused when it is read.

kafka-python and aiokafka parse `host:port` only when a producer is built, and a port that
is no number, or beyond 65535, raises `ValueError` or `OverflowError` from deep inside them
(a traceback, at the first request); librdkafka waits out the bootstrap timeout instead.
An entry is `host`, `host:port`, `[IPv6]`, `[IPv6]:port` or a bare IPv6 address, after an
optional `PROTOCOL://`; an empty entry (a trailing comma) is left to the client, which
skips it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

__all__ = ["servers_problem"]

_PROTOCOL = re.compile(r"^[A-Za-z][A-Za-z0-9_+.-]*://")
_ADDRESS = re.compile(r"(?:\[[^\]\s]+\]|[^\s:\[\]/,]+)(?::(?P<port>[^:]*))?")
_LARGEST_PORT = 65535


def servers_problem(servers: str | Sequence[str]) -> str | None:
    """Why `servers` (`host:port[,host:port]`, or a list of them) cannot be used, or None."""
    entries = [servers] if isinstance(servers, str) else list(servers)
    parts = [part.strip() for entry in entries for part in entry.split(",")]
    if not any(parts):
        return "names no server (host:port[,host:port])"
    for part in filter(None, parts):
        problem = _entry_problem(part)
        if problem is not None:
            return problem
    return None


def _entry_problem(entry: str) -> str | None:
    address = _PROTOCOL.sub("", entry)
    try:
        ipaddress.IPv6Address(address)
        return None  # a bare IPv6 address: the clients take the default port
    except ValueError:
        pass
    match = _ADDRESS.fullmatch(address)
    if match is None:
        return f"{entry!r} is not host:port"
    port = match.group("port")
    if port is not None and not (
        port.isascii() and port.isdecimal() and 1 <= int(port) <= _LARGEST_PORT
    ):
        return f"the port of {entry!r} must be a number from 1 to {_LARGEST_PORT}"
    return None
