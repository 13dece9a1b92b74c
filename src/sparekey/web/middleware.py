"""Pure ASGI middleware: body size cap, cross-site guard, security headers."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sparekey.web.errors import ERROR_HEADERS, error_message
from sparekey.web.i18n import choose_language

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


async def _send_error(send: Send, scope: Scope, status: int, code: str) -> None:
    headers = _headers(scope)
    lang = choose_language(None, None, headers.get("accept-language"), "en")
    body = json.dumps({"error": {"code": code, "message": error_message(code, {}, lang)}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            # These answers never reach SecurityHeaders (it sits inside), so they carry the
            # headers that matter for an error themselves.
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            + [(k.lower().encode(), v.encode()) for k, v in ERROR_HEADERS.items()],
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
    """Browsers say where a request comes from; refuse state changes sent from other sites.

    A second line behind SameSite cookies and CSRF tokens, for cookie-authenticated calls.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in _SAFE_METHODS
            and _headers(scope).get("sec-fetch-site") == "cross-site"
        ):
            await _send_error(send, scope, 403, "csrf_failed")
            return
        await self.app(scope, receive, send)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra: list[tuple[bytes, Any]] = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                    (
                        b"content-security-policy",
                        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                        b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
                    ),
                ]
                if b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = list(message.get("headers", [])) + [
                    h for h in extra if h[0] not in present
                ]
            await send(message)

        await self.app(scope, receive, with_headers)
