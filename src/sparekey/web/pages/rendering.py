"""Templates, translation in templates, CSRF tokens and redirects for the pages."""

from __future__ import annotations

import hmac
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import available_timezones

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from sparekey.core.crypto import Signer, token_hash
from sparekey.core.errors import NotAuthenticated, SparekeyError
from sparekey.core.factors.codes import MAX_LENGTH as CODE_MAX_LENGTH
from sparekey.core.flows import organisations, preferences
from sparekey.core.models import Account
from sparekey.i18n import LANGUAGES, format_when, translate
from sparekey.web.cookies import Cookie, read, write
from sparekey.web.errors import error_message
from sparekey.web.request_info import LANG_COOKIE, is_https, language_of

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
CSRF_FIELD = "csrf_token"
_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _organisation_requirements(
    request: Request, account: Account
) -> list[tuple[organisations.Requirement, bool]]:
    """For the security page: what the account's organisations require of it, each with whether
    it is enforced already (else its grace period runs); nothing once it has a second factor."""
    deps = request.app.state.deps
    now = deps.clock.now()
    return [(r, r.enforced(now)) for r in organisations.requirements(deps, account)]


environment.globals["organisation_requirements"] = _organisation_requirements


class CsrfFailed(Exception):
    """A form without the token this browser was given."""


# CSRF tokens are signed double-submit tokens (OWASP): the form carries
# "<nonce>.<HMAC(nonce | session)>" and the CSRF cookie carries the nonce. A cookie planted
# by a sibling subdomain is of no use without a tag made with the server's key for the
# victim's own session, and the tag of one session does not work for another.


def _signer(request: Request) -> Signer:
    signer: Signer = request.app.state.deps.box.signer("csrf")
    return signer


def _bound_to(request: Request, nonce: str) -> str:
    # A session opened by this very request (``opened_session``) binds the forms it renders.
    session = getattr(request.state, "opened_session", None) or read(request, Cookie.SESSION)
    return f"{nonce}|{token_hash(session) if session else '-'}"


def csrf_token(request: Request) -> str:
    nonce = getattr(request.state, "csrf_nonce", None) or read(request, Cookie.CSRF)
    if not nonce or not _NONCE.fullmatch(nonce):
        nonce = secrets.token_urlsafe(32)
    request.state.csrf_nonce = nonce
    return f"{nonce}.{_signer(request).sign(_bound_to(request, nonce))}"


def check_csrf(request: Request, submitted: str | None) -> None:
    nonce = read(request, Cookie.CSRF)
    given, _, tag = (submitted or "").partition(".")
    if not nonce or not given or not hmac.compare_digest(given.encode(), nonce.encode()):
        raise CsrfFailed()
    if not _signer(request).verify(_bound_to(request, nonce), tag):
        raise CsrfFailed()


def _with_cookies(request: Request, response: Response) -> Response:
    nonce = getattr(request.state, "csrf_nonce", None)
    if nonce and read(request, Cookie.CSRF) != nonce:
        write(response, request, Cookie.CSRF, nonce)
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES and request.cookies.get(LANG_COOKIE) != chosen:
        response.set_cookie(
            LANG_COOKIE, chosen, samesite="lax", secure=is_https(request), path="/", max_age=365 * 86400
        )
        _remember_choice(request, chosen)
    return response


def _remember_choice(request: Request, lang: str) -> None:
    """Signed in, the language switch is also the language of the owner's messages."""
    from sparekey.web.dependencies import authenticated  # pages import this module too

    try:
        signed = authenticated(request)  # also a session that must set up a second factor first
    except NotAuthenticated:
        return
    preferences.choose_language(request.app.state.deps, signed.current.account.id, lang)


TIME_ZONE_COOKIE = "tz"  # the browser's zone, set by static/sparekey.js


def zone_of(request: Request) -> str | None:
    """The zone times are shown in: the account's choice (set on ``request.state`` by the pages
    that know the account), else the browser's, else UTC."""
    chosen = getattr(request.state, "time_zone", None) or request.cookies.get(TIME_ZONE_COOKIE)
    if chosen and len(chosen) <= 64 and chosen in available_timezones():
        return str(chosen)
    return None


def render(request: Request, template: str, http_status: int = 200, /, **context: Any) -> Response:
    lang = language_of(request)
    zone = zone_of(request)

    def _(message: str, **values: Any) -> str:
        if not values:
            return translate(lang, message)
        return Markup.escape(translate(lang, message)) % values  # values escaped, <time> kept

    def when(value: Any) -> Markup:
        if value is None:
            return Markup("")
        return Markup('<time datetime="{}">{}</time>').format(
            value.isoformat(), format_when(value, lang, zone)
        )

    values = {
        "request": request,
        "lang": lang,
        "other_lang": "en" if lang == "ja" else "ja",
        "_": _,
        "when": when,
        "time_zone": zone or "UTC",
        "csrf_token": csrf_token(request),
        "code_max_length": CODE_MAX_LENGTH,
        "path": request.url.path,
        **context,
    }
    html = environment.get_template(template).render(**values)
    response = HTMLResponse(html, status_code=http_status, headers={"Content-Language": lang})
    return _with_cookies(request, response)


def redirect(request: Request, to: str, **query: Any) -> Response:
    target = f"{to}?{urlencode(query)}" if query else to
    return _with_cookies(request, RedirectResponse(target, status_code=303))


def error_text(request: Request, error: SparekeyError) -> str:
    return error_message(error.code, error.details, language_of(request))


def safe_next(target: str | None, default: str = "/security") -> str:
    """Only our own security and organisation pages: never an open redirect."""
    if target and target.startswith(("/security", "/orgs/")) and "//" not in target and "\\" not in target:
        return target
    return default


async def csrf_failed(request: Request, _error: Exception) -> Response:
    return render(request, "csrf.html", 403)
