"""Every error leaves as the API envelope: ``{"error": {"code", "message", ...details}}``.

Messages are translated; details are JSON-safe; nothing from a stack trace leaks.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sparekey.core.errors import SparekeyError
from sparekey.i18n import translate
from sparekey.web.headers import security_headers
from sparekey.web.messages import (
    CLOCK_DIRECTION,
    ERROR_MESSAGES,
    PASSWORD_REASONS,
    USERNAME_REASONS,
    WEBAUTHN_REASONS,
)
from sparekey.web.request_info import language_of

log = logging.getLogger("sparekey.web")

# Starlette's and FastAPI's own HTTP errors. Their 400 is "There was an error parsing the
# body" (JSON nested too deeply, not UTF-8, a number too long to convert): unreadable, like
# invalid JSON, so not a validation_error (which is 422 and names a field).
HTTP_CODES = {400: "malformed_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def json_safe(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def error_message(code: str, details: dict[str, Any], lang: str) -> str:
    values = dict(details)
    if code in {"clock_drift_suspected", "invalid_code"} and isinstance(values.get("offset_seconds"), int):
        values["minutes"] = max(1, round(abs(values["offset_seconds"]) / 60))
        direction = "fast" if values["offset_seconds"] > 0 else "slow"
        return translate(lang, CLOCK_DIRECTION[direction], minutes=values["minutes"])
    if code == "password_too_weak" and values.get("reason") in PASSWORD_REASONS:
        return translate(lang, PASSWORD_REASONS[values["reason"]], **values)
    if code == "username_taken" and values.get("reason") in USERNAME_REASONS:
        return translate(lang, USERNAME_REASONS[values["reason"]])
    if code == "webauthn_failed" and values.get("reason") in WEBAUTHN_REASONS:
        return translate(lang, WEBAUTHN_REASONS[values["reason"]])
    template = ERROR_MESSAGES.get(code, ERROR_MESSAGES["internal_error"])
    try:
        return translate(lang, template, **values) if "%(" in template else translate(lang, template)
    except (KeyError, ValueError):
        return translate(lang, template.split("%(")[0].rstrip())


def error_body(code: str, lang: str, **details: Any) -> dict[str, Any]:
    """The one shape of every error: ``{"error": {"code", "message", ...details}}``."""
    body = {"code": code, "message": error_message(code, details, lang)}
    body.update({k: json_safe(v) for k, v in details.items() if k not in {"code", "message"}})
    return {"error": body}


def envelope(
    code: str, status: int, lang: str, headers: dict[str, str] | None = None, **details: Any
) -> JSONResponse:
    return JSONResponse(error_body(code, lang, **details), status_code=status, headers=headers)


def response_for(error: SparekeyError, lang: str) -> JSONResponse:
    headers = None
    if "retry_after" in error.details:
        headers = {"Retry-After": str(error.details["retry_after"])}
    return envelope(error.code, error.status, lang, headers, **error.details)


def install(app: FastAPI) -> None:
    @app.exception_handler(SparekeyError)
    async def _domain(request: Request, error: SparekeyError) -> JSONResponse:
        return response_for(error, language_of(request))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        lang = language_of(request)
        if any(p.get("type") in {"json_invalid", "json_type"} for p in problems):
            return envelope("malformed_request", 400, lang)
        fields = []
        for problem in problems:
            loc = [str(part) for part in problem.get("loc", ()) if part not in ("body",)]
            fields.append(".".join(loc) or "body")
        fields = list(dict.fromkeys(fields))
        return envelope("validation_error", 422, lang, field=fields[0], fields=fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        lang = language_of(request)
        fallback = "validation_error" if error.status_code < 500 else "internal_error"
        code = HTTP_CODES.get(error.status_code, fallback)
        return envelope(code, error.status_code, lang, dict(error.headers or {}) or None)  # 405 keeps Allow

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.error("unexpected error on %s %s: %s", request.method, request.url.path, type(error).__name__)
        # Starlette answers this outside every middleware, so SecurityHeaders never sees it.
        headers = security_headers(https=request.url.scheme == "https")
        return envelope("internal_error", 500, language_of(request), headers)
