"""Every cookie sparekey sets, in one place.

All are ``HttpOnly`` and ``Path=/``. Over HTTPS they are ``Secure`` and carry the ``__Host-``
prefix, which browsers accept only from this very host: a sibling subdomain can neither set
nor overwrite them. Each is read under the one name that fits the request's scheme, so over
HTTPS a plain-named cookie (which a sibling could have planted) is ignored.

One exception, the operator's choice: with ``SPAREKEY_COOKIE_DOMAIN`` the session cookie is
sent to every subdomain of that domain (forward-auth: the protected applications' hosts pass
it on), so it cannot be ``__Host-``; over HTTPS it is ``__Secure-``.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Literal

from fastapi import Request, Response

from sparekey.core.flows import known_clients, trusted_devices
from sparekey.web.request_info import is_https


class Cookie(StrEnum):
    SESSION = "sparekey_session"
    CSRF = "sparekey_csrf"  # the nonce of the pages' signed CSRF tokens
    FLOW = "sparekey_flow"  # the sign-in flow waiting for a second factor
    CLIENTS = "sparekey_clients"  # client tokens: this browser is known to these accounts
    DEVICES = "sparekey_devices"  # device tokens: these accounts trust this browser
    RETURN = "sparekey_return"  # where to send the browser after the sign-in in progress


_SAME_SITE: dict[Cookie, Literal["lax", "strict"]] = {Cookie.CSRF: "strict"}
_TOKEN_SEPARATOR = "|"  # client and device tokens are base64url and dots: never this character
CLIENT_COOKIE_SECONDS = 400 * 86400  # the longest lifetime browsers allow


def _shared_domain(request: Request, cookie: Cookie) -> str | None:
    if cookie is not Cookie.SESSION:
        return None
    settings = getattr(request.app.state, "settings", None)
    return getattr(settings, "cookie_domain", None)


def name_of(request: Request, cookie: Cookie, *, https: bool | None = None) -> str:
    if not (is_https(request) if https is None else https):
        return cookie.value
    return f"__Secure-{cookie.value}" if _shared_domain(request, cookie) else f"__Host-{cookie.value}"


def read(request: Request, cookie: Cookie, *, https: bool | None = None) -> str | None:
    """The cookie under the name that fits the request's scheme, or ``https`` when the scheme
    is told rather than seen (forward-auth: the scheme the browser used with the protected
    application, as its proxy reports it)."""
    return request.cookies.get(name_of(request, cookie, https=https)) or None


def write(
    response: Response, request: Request, cookie: Cookie, value: str, *, max_age: int | None = None
) -> None:
    response.set_cookie(
        name_of(request, cookie),
        value,
        max_age=max_age,
        httponly=True,
        samesite=_SAME_SITE.get(cookie, "lax"),
        secure=is_https(request),
        path="/",
        domain=_shared_domain(request, cookie),
    )


def clear(response: Response, request: Request, cookie: Cookie) -> None:
    """Delete the cookie in the browser, if the request carried it."""
    if name_of(request, cookie) not in request.cookies:
        return
    response.delete_cookie(
        name_of(request, cookie),
        path="/",
        domain=_shared_domain(request, cookie),
        secure=is_https(request),
        httponly=True,
        samesite=_SAME_SITE.get(cookie, "lax"),
    )


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    write(response, request, Cookie.SESSION, token)


# The tokens a browser keeps, one per account, and how many of them a sign-in looks at.
_LISTS = {Cookie.CLIENTS: known_clients.MAX_TOKENS, Cookie.DEVICES: trusted_devices.MAX_TOKENS}


def tokens(request: Request, cookie: Cookie) -> list[str]:
    """The tokens this browser kept in ``cookie`` (one per account), newest first."""
    value = read(request, cookie) or ""
    return [token for token in value.split(_TOKEN_SEPARATOR) if token][: _LISTS[cookie]]


def keep_token(response: Response, request: Request, cookie: Cookie, token: str, *, max_age: int) -> None:
    """Add a token to ``cookie``, in front of those kept for other accounts."""
    kept: Sequence[str] = [token, *(t for t in tokens(request, cookie) if t != token)]
    write(response, request, cookie, _TOKEN_SEPARATOR.join(kept[: _LISTS[cookie]]), max_age=max_age)


def client_tokens(request: Request) -> list[str]:
    return tokens(request, Cookie.CLIENTS)


def keep_client_token(response: Response, request: Request, token: str) -> None:
    """Remember the client token of a sign-in that just succeeded, beside those of other accounts."""
    keep_token(response, request, Cookie.CLIENTS, token, max_age=CLIENT_COOKIE_SECONDS)
