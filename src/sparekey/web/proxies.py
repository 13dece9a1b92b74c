"""Forwarded headers, believed only from the proxies the operator named.

``SPAREKEY_TRUSTED_PROXIES`` lists addresses and networks (default: none). When the TCP peer
is one of them, ``X-Forwarded-For`` gives the client address (the right-most entry that is
not itself a trusted proxy), ``X-Forwarded-Proto`` the scheme and ``X-Forwarded-Host`` the
host. From anyone else these headers change nothing: a client cannot choose the address its
failures are counted under or recorded with, nor make plain HTTP look like HTTPS. A value
that is not an IP address, a known scheme or a host name is ignored.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_HOST = re.compile(r"(?:[A-Za-z0-9-]+\.)*[A-Za-z0-9-]+(?::\d{1,5})?|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?")


def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    def __init__(self, app: ASGIApp, networks: Sequence[Network]) -> None:
        self.app = app
        self.networks = tuple(networks)

    def _trusted(self, text: str | None) -> bool:
        address = parse_address(text) if text else None
        return address is not None and any(address in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.networks:
            peer = scope.get("client")
            if peer and self._trusted(peer[0]):
                scope = dict(scope)
                self._apply(scope)
        await self.app(scope, receive, send)

    def _apply(self, scope: Scope) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        client = self._client(headers.get("x-forwarded-for"))
        if client is not None:
            scope["client"] = (client, 0)
        proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
        if proto in ("http", "https"):
            scope["scheme"] = proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]
        host = headers.get("x-forwarded-host", "").split(",")[-1].strip()
        if host and _HOST.fullmatch(host):
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k.lower() != b"host"] + [
                (b"host", host.encode("latin-1"))
            ]

    def _client(self, forwarded_for: str | None) -> str | None:
        """The right-most forwarded address that is not a trusted proxy (the left-most one if
        all are); None if an entry on the way is not an IP address: the header is then
        ignored as a whole."""
        address = None
        for entry in reversed((forwarded_for or "").split(",")):
            address = parse_address(entry)
            if address is None:
                return None
            if not any(address in network for network in self.networks):
                break
        return str(address) if address is not None else None
