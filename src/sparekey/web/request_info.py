"""Reading a request: its language, its client, its session token.

The client address and scheme are the TCP connection's, or what a trusted proxy forwarded
(``web/proxies.py`` rewrites them before anything here reads them).
"""

from __future__ import annotations

import ipaddress

from fastapi import Request

from sparekey.core.models import Client
from sparekey.i18n import choose_language

LANG_COOKIE = "lang"


def language_of(request: Request) -> str:
    cached = getattr(request.state, "lang", None)
    if cached:
        return str(cached)
    default = getattr(getattr(request.app.state, "settings", None), "default_language", "en")
    lang = choose_language(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
        default,
    )
    request.state.lang = lang
    return lang


def client_of(request: Request) -> Client:
    agent = request.headers.get("user-agent")
    return Client(ip=address_of(request), user_agent=agent[:512] if agent else None)


def address_of(request: Request) -> str | None:
    """The client's IP address in its canonical text form, or None if the peer has none."""
    host = request.client.host if request.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
