"""FastAPI dependencies shared by the API and the pages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import Request

from sparekey.core.deps import Deps
from sparekey.core.errors import NotAuthenticated, TwoFactorRequired
from sparekey.core.flows import organisations, sessions
from sparekey.core.flows.sessions import Current
from sparekey.web.cookies import Cookie, read
from sparekey.web.request_info import bearer_token


def get_deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


@dataclass(frozen=True)
class Signed:
    """The current account and session, and whether the browser cookie carried it."""

    current: Current
    via_cookie: bool


# What a session restricted to setting up a second factor (an organisation requires one, its
# grace period is over) may still reach: reading the account, enrolling a factor (an app, a
# key, a phone or e-mail address), its backup codes, signing out; the pages that do the same.
RESTRICTED_MAY = tuple(
    (method, re.compile(pattern))
    for method, pattern in (
        ("GET", r"/api/v1/me"),
        ("POST", r"/api/v1/me/totp"),
        ("POST", r"/api/v1/me/totp/[^/]+/confirm"),
        ("POST", r"/api/v1/me/webauthn/register(/[^/]+)?"),
        ("GET", r"/api/v1/me/contacts"),
        ("POST", r"/api/v1/me/contacts"),
        ("POST", r"/api/v1/me/contacts/[^/]+/(verify|resend)"),
        ("GET", r"/api/v1/me/backup-codes"),
        ("POST", r"/api/v1/me/backup-codes/(regenerate|confirm)"),
        ("POST", r"/api/v1/logout"),
        ("GET", r"/"),
        ("GET", r"/security"),
        ("POST", r"/security/totp"),
        ("POST", r"/security/totp/[^/]+/confirm"),
        ("POST", r"/security/keys(/finish)?"),
        ("POST", r"/security/contacts"),
        ("POST", r"/security/contacts/[^/]+/(verify|resend)"),
        ("GET", r"/security/backup-codes/confirm"),
        ("POST", r"/security/backup-codes/(confirm|sheet\.txt|print)"),
        ("POST", r"/logout"),
    )
)
ENROL_URL = "/security"


def _allowed_while_restricted(request: Request) -> bool:
    method = "GET" if request.method == "HEAD" else request.method
    path = request.url.path.rstrip("/") or "/"
    return any(method == m and pattern.fullmatch(path) for m, pattern in RESTRICTED_MAY)


def authenticated(request: Request) -> Signed:
    """The session the request carries (bearer token, else the cookie), whatever it may do."""
    deps = get_deps(request)
    token = bearer_token(request)
    via_cookie = False
    if token is None:
        token = read(request, Cookie.SESSION)
        via_cookie = token is not None
    if token is None:
        raise NotAuthenticated()
    return Signed(current=sessions.authenticate(deps, token), via_cookie=via_cookie)


def signed_in(request: Request) -> Signed:
    """The session, and the one gate for restricted sessions: outside ``RESTRICTED_MAY`` a
    session that must set up a second factor first gets ``two_factor_required`` (the pages
    turn it into a redirect to the security page)."""
    signed = authenticated(request)
    if signed.current.session.restriction is not None and not _allowed_while_restricted(request):
        enforced = organisations.enforced_requirements(get_deps(request), signed.current)
        if enforced:
            raise TwoFactorRequired(
                organisations=[r.organisation.name for r in enforced], enrol_url=ENROL_URL
            )
    return signed


def maybe_signed_in(request: Request) -> Signed | None:
    try:
        return signed_in(request)
    except NotAuthenticated:
        return None
