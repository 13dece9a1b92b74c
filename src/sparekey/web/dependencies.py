"""FastAPI dependencies shared by the API and the pages."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from sparekey.core.deps import Deps
from sparekey.core.errors import NotAuthenticated
from sparekey.core.flows import sessions
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


def signed_in(request: Request) -> Signed:
    deps = get_deps(request)
    token = bearer_token(request)
    via_cookie = False
    if token is None:
        token = read(request, Cookie.SESSION)
        via_cookie = token is not None
    if token is None:
        raise NotAuthenticated()
    return Signed(current=sessions.authenticate(deps, token), via_cookie=via_cookie)


def maybe_signed_in(request: Request) -> Signed | None:
    try:
        return signed_in(request)
    except NotAuthenticated:
        return None
