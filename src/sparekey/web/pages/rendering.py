"""Templates, translation in templates, CSRF tokens and redirects for the pages."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from sparekey.core.errors import SparekeyError
from sparekey.web.errors import error_message
from sparekey.web.i18n import LANGUAGES, format_when, translate
from sparekey.web.request_info import LANG_COOKIE, is_https, language_of

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
CSRF_COOKIE = "sparekey_csrf"
CSRF_FIELD = "csrf_token"

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


class CsrfFailed(Exception):
    """A form without the token this browser was given."""


def csrf_token(request: Request) -> str:
    token = getattr(request.state, "csrf", None) or request.cookies.get(CSRF_COOKIE)
    if not token or len(token) > 100:
        token = secrets.token_urlsafe(32)
    request.state.csrf = token
    return str(token)


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not submitted or not hmac.compare_digest(expected.encode(), submitted.encode()):
        raise CsrfFailed()


def _with_cookies(request: Request, response: Response) -> Response:
    token = getattr(request.state, "csrf", None)
    if token and request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE, token, httponly=True, samesite="strict", secure=is_https(request), path="/"
        )
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES and request.cookies.get(LANG_COOKIE) != chosen:
        response.set_cookie(
            LANG_COOKIE, chosen, samesite="lax", secure=is_https(request), path="/", max_age=365 * 86400
        )
    return response


def render(request: Request, template: str, http_status: int = 200, /, **context: Any) -> Response:
    lang = language_of(request)

    def _(message: str, **values: Any) -> str:
        return translate(lang, message, **values)

    values = {
        "request": request,
        "lang": lang,
        "other_lang": "en" if lang == "ja" else "ja",
        "_": _,
        "when": lambda value: format_when(value, lang),
        "csrf_token": csrf_token(request),
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
    """Only our own security pages: never an open redirect."""
    if target and target.startswith("/security") and "//" not in target and "\\" not in target:
        return target
    return default


async def csrf_failed(request: Request, _error: Exception) -> Response:
    return render(request, "csrf.html", 403)
