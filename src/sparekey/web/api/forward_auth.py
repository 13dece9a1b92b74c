"""``GET /api/v1/forward-auth``: the question a reverse proxy asks before every request to an
application it protects. ``core/flows/forward_auth.py`` decides; this module reads the request
the proxy describes and shapes the answer.

What the proxy says about the protected request (it sets these itself, overwriting whatever
the browser sent):

- ``X-Forwarded-Proto``, ``X-Forwarded-Host``, ``X-Forwarded-Uri``: Traefik's and Caddy's way;
  with the host and the URI, a browser that must sign in is answered 302 (those proxies hand
  the answer to the browser as it is).
- ``X-Original-URL``: nginx's way (``$scheme://$http_host$request_uri``); a browser that must
  sign in is answered 401, since ``auth_request`` accepts no other answer, with the same
  ``Location`` as a 302 would carry, which nginx's ``error_page 401`` redirects to.
- ``?rd=URL``: where to come back to after signing in; asks for the 302 as well.

The host chooses the rule: ``X-Forwarded-Host``, else the host of ``X-Original-URL``, of
``rd``, else the request's own ``Host`` (which ``web/proxies.py`` takes from a trusted proxy's
``X-Forwarded-Host``). A caller that reaches sparekey directly can describe any host it likes,
but only learns what its own session may do: the answer that counts is the one the proxy
asked for, with the headers the proxy set. The client address stays the TCP peer's unless the
peer is one of ``SPAREKEY_TRUSTED_PROXIES`` (``web/proxies.py``).

The session: ``Authorization: Bearer``, else the session cookie under the name that fits the
scheme the browser used with the protected application (``__Secure-sparekey_session`` over
HTTPS with ``SPAREKEY_COOKIE_DOMAIN``): the browser sent the application what it holds for
that scheme, whatever scheme the proxy uses to reach sparekey.

A ``Location`` is only ever ``{SPAREKEY_PUBLIC_URL}/login`` with the return address
URL-encoded in ``rd``: the sign-in page decides whether to go back there
(``SPAREKEY_ALLOWED_RETURN_HOSTS``, web/return_to.py), so this cannot redirect anywhere else.
Every answer is ``Cache-Control: no-store``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from sparekey.core.flows import forward_auth
from sparekey.core.flows.forward_auth import Allowed, Reason, Rules, SignIn, Verdict
from sparekey.web.cookies import Cookie, read
from sparekey.web.dependencies import ENROL_URL, get_deps
from sparekey.web.errors import envelope
from sparekey.web.request_info import bearer_token, language_of
from sparekey.web.return_to import MAX_LENGTH

router = APIRouter(prefix="/api/v1", tags=["forward-auth"])
PATH = "/api/v1/forward-auth"

NO_STORE = {"Cache-Control": "no-store"}
# Printable ASCII but "%" passes as it is; anything else (a Japanese username) is sent
# percent-encoded UTF-8, since header values are Latin-1 at most.
_HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
_SET_UP = {Reason.TWO_FACTOR_REQUIRED, Reason.TWO_FACTOR_NEEDED, Reason.SECURITY_KEY_NEEDED}


@dataclass(frozen=True)
class Described:
    """The protected request, as the proxy (or ``rd``) describes it."""

    host: str | None  # chooses the rule
    https: bool  # the scheme the browser used there: which cookie name it sent
    back: str | None  # where to return after signing in
    redirect: bool  # answer 302 (Traefik, Caddy, rd) rather than 401 (nginx)


def _last(value: str | None) -> str:
    """The entry the nearest proxy wrote in a header that proxies may append to."""
    return (value or "").split(",")[-1].strip()


def _printable(text: str) -> bool:
    """Visible ASCII only: no space, no control character, nothing a header could hide."""
    return 0 < len(text) <= MAX_LENGTH and text.isascii() and text.isprintable() and " " not in text


def _url(text: str | None) -> tuple[str, str] | None:
    """``(scheme, host)`` of an absolute http(s) URL a proxy or ``rd`` gave, else None."""
    if not text or not _printable(text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return parts.scheme, parts.netloc.rpartition("@")[2]


def describe(request: Request) -> Described:
    headers = request.headers
    rd = request.query_params.get("rd")
    proto = _last(headers.get("x-forwarded-proto")).lower()
    host = _last(headers.get("x-forwarded-host"))
    uri = headers.get("x-forwarded-uri")
    original = _url(headers.get("x-original-url"))
    given = _url(rd)
    back = None
    if rd is not None:
        back = rd if _printable(rd) else None
    elif host and uri is not None:
        scheme = proto if proto in ("http", "https") else request.url.scheme
        if forward_auth.host_name(host) and uri.startswith("/") and _printable(uri):
            back = f"{scheme}://{host}{uri}"
    elif original is not None:
        back = headers.get("x-original-url")
    if proto in ("http", "https"):
        https = proto == "https"
    else:
        scheme = (original or given or (request.url.scheme, ""))[0]
        https = scheme == "https"
    chosen = host or (original or given or ("", ""))[1] or headers.get("host")
    return Described(host=chosen, https=https, back=back, redirect=rd is not None or bool(host and uri))


def login_url(request: Request, back: str | None) -> str:
    public_url: str = request.app.state.settings.public_url
    return f"{public_url}/login" + (f"?rd={quote(back, safe='')}" if back else "")


def rules_of(request: Request) -> Rules:
    """The configured rules (checked when the settings were loaded), parsed once per application."""
    rules: Rules | None = getattr(request.app.state, "forward_auth_rules", None)
    if rules is None:
        rules = request.app.state.forward_auth_rules = request.app.state.settings.forward_auth()
    return rules


def _header(value: str) -> str:
    return quote(value, safe=_HEADER_SAFE)


def _asked(request: Request) -> tuple[Described, str | None]:
    described = describe(request)
    return described, bearer_token(request) or read(request, Cookie.SESSION, https=described.https)


def answer(request: Request) -> Response:
    """200 with ``Remote-User``, ``Remote-Email`` and ``Remote-Groups`` for a session that may
    enter the host; else 302/401 to sign in (again), or 403 when signing in would not help."""
    described, token = _asked(request)
    verdict = forward_auth.check(get_deps(request), token=token, host=described.host, rules=rules_of(request))
    return respond(request, described, verdict)


def respond(request: Request, described: Described, verdict: Verdict) -> Response:
    if isinstance(verdict, Allowed):
        who = verdict.identity
        body = {
            "username": who.username,
            "email": who.email,
            "groups": list(who.groups),
            "level": verdict.level.value,
        }
        headers = {
            "Remote-User": _header(who.username),
            "Remote-Email": _header(who.email or ""),
            "Remote-Groups": ",".join(who.groups),
            **NO_STORE,
        }
        return JSONResponse(body, headers=headers)
    location = login_url(request, described.back)
    lang = language_of(request)
    if isinstance(verdict, SignIn):
        if described.redirect:
            return Response(status_code=302, headers={"Location": location, **NO_STORE})
        details = {"required": verdict.required.value} if verdict.reason is Reason.STRONGER_SIGN_IN else {}
        return envelope(verdict.reason.value, 401, lang, {"Location": location, **NO_STORE}, **details)
    public_url = request.app.state.settings.public_url
    details = {"enrol_url": f"{public_url}{ENROL_URL}"} if verdict.reason in _SET_UP else {}
    return envelope(verdict.reason.value, 403, lang, dict(NO_STORE), **details)


@router.get(PATH.removeprefix("/api/v1"))
def check(request: Request) -> Response:
    """The forward-auth question (see ``answer``). ``FastPath`` answers it before routing; this
    route documents it in ``/openapi.json`` and answers the methods it does not take with 405."""
    return answer(request)


class FastPath:
    """Answers ``GET`` (and so ``HEAD``) ``/api/v1/forward-auth`` before the router. Every request
    to every protected application passes here, and matching the path against every route of
    the application costs more than the check itself. Added first, it sits inside every other
    middleware (web/app.py): the proxies' rules, the security headers and the limits apply as
    to any route.

    On the embedded SQLite database (``inline``), the session snapshot is a read of a local
    file that waits for no lock (WAL), so it runs on the event loop: handing it to a thread
    would cost more than the read. What needs a transaction, which may wait, and every read
    from a database server, runs in the thread pool like any route."""

    def __init__(self, app: ASGIApp, *, inline: bool) -> None:
        self.app = app
        self.inline = inline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response = None
        if self.inline:
            described, token = _asked(request)
            deps, rules = get_deps(request), rules_of(request)
            verdict = forward_auth.check_quickly(deps, token=token, host=described.host, rules=rules)
            response = respond(request, described, verdict) if verdict is not None else None
        if response is None:
            response = await run_in_threadpool(answer, request)
        await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """The route and its fast path (called from ``create_app``)."""
    app.include_router(router)
    settings = app.state.settings
    app.add_middleware(FastPath, inline=settings.database().startswith("sqlite"))
