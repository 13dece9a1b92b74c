"""Pure ASGI middleware: security headers, body size cap, cross-site guard.

Order, outermost first (``create_app``): TrustedProxies (web/proxies.py) settles the client
and scheme; SecurityHeaders adds its headers to every answer below it, including the errors
that BodyLimit and CrossSiteGuard answer themselves.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sparekey.i18n import choose_language
from sparekey.web.errors import error_body
from sparekey.web.headers import content_security_policy, security_headers
from sparekey.web.return_to import FormTargets

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


async def _send_error(send: Send, scope: Scope, status: int, code: str) -> None:
    headers = _headers(scope)
    lang = choose_language(None, None, headers.get("accept-language"), "en")
    body = json.dumps(error_body(code, lang)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuse bodies over ``max_bytes`` with 413, whether or not Content-Length is honest.

    A streamed body is cut off at the limit; whatever the application then answers is
    replaced by the 413.

    Being the outermost middleware, it also answers 404 to a path holding a NUL character
    (``/api/v1/login/%00/code``): no resource has such a name, and PostgreSQL refuses NUL in
    text, so looking the id up would fail with a 500.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope.get("path", ""):
            await _send_error(send, scope, 404, "not_found")
            return
        declared = _headers(scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _send_error(send, scope, 413, "payload_too_large")
            return
        seen = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal seen, too_large
            if too_large:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    too_large = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded_send(message: Message) -> None:
            if not too_large:
                await send(message)
            elif message["type"] == "http.response.start":
                await _send_error(send, scope, 413, "payload_too_large")

        await self.app(scope, limited_receive, guarded_send)


class CrossSiteGuard:
    """Refuse state-changing requests that a browser sent from anywhere but this origin.

    A second line behind SameSite cookies and the pages' CSRF tokens. Browsers say where a
    request comes from (``Sec-Fetch-Site``, ``Origin``); a sibling subdomain is "same-site"
    for cookies but not same-origin, so only ``same-origin`` (and ``none``, a request the
    user made directly) passes. Programs that are not browsers send neither header.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        unsafe = scope["type"] == "http" and scope["method"] not in _SAFE_METHODS
        if unsafe and not _same_origin(scope, _headers(scope)):
            await _send_error(send, scope, 403, "csrf_failed")
            return
        await self.app(scope, receive, send)


def _same_origin(scope: Scope, headers: dict[str, str]) -> bool:
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if origin is None:
        return True
    return _canonical(origin) == _canonical(f"{scope.get('scheme', 'http')}://{headers.get('host', '')}")


def _canonical(origin: str) -> str:
    """``scheme://host[:port]`` in lower case, without the scheme's default port."""
    origin = origin.strip().lower()
    for scheme, port in _DEFAULT_PORTS.items():
        if origin.startswith(f"{scheme}://"):
            return origin.removesuffix(port)
    return origin


class SecurityHeaders:
    """Every answer gets the security headers and ``no-store`` (unless it set its own
    Cache-Control); over HTTPS also HSTS. HTML pages get ``form-action`` widened to
    ``form_targets`` (web/return_to.py): a sign-in may end at a protected application."""

    def __init__(self, app: ASGIApp, form_targets: FormTargets | None = None) -> None:
        self.app = app
        self.form_targets = form_targets or FormTargets()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [
            (name.lower().encode(), value.encode())
            for name, value in security_headers(https=scope.get("scheme") == "https").items()
        ]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                added = [h for h in extra if h[0] not in present]
                if _is_html(headers):
                    policy = content_security_policy(self.form_targets.sources()).encode()
                    added = [(k, policy if k == b"content-security-policy" else v) for k, v in added]
                message["headers"] = headers + added
            await send(message)

        await self.app(scope, receive, with_headers)


def _is_html(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers)


class HeadAsGet:
    """``HEAD`` answers like ``GET`` without the body (RFC 9110 §9.3.2): the routes declare
    GET only, so HEAD is passed to them as GET and the body is dropped on the way out, the
    headers (Content-Length included) kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # swallow the chunks; the last (empty) one ends the answer
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)
