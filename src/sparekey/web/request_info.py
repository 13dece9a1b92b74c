"""Reading a request: its language, its client, its session token."""

from __future__ import annotations

from fastapi import Request

from sparekey.core.models import Client
from sparekey.web.i18n import choose_language

SESSION_COOKIE = "sparekey_session"
SECURE_SESSION_COOKIE = "__Host-sparekey_session"
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
    ip = request.client.host if request.client else None
    agent = request.headers.get("user-agent")
    return Client(ip=ip[:64] if ip else None, user_agent=agent[:512] if agent else None)


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def session_cookie_name(request: Request) -> str:
    return SECURE_SESSION_COOKIE if is_https(request) else SESSION_COOKIE


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def cookie_token(request: Request) -> str | None:
    return request.cookies.get(SECURE_SESSION_COOKIE) or request.cookies.get(SESSION_COOKIE)
