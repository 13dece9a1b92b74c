"""The session cookie: HttpOnly, SameSite=Lax; Secure with the __Host- prefix over HTTPS."""

from __future__ import annotations

from fastapi import Request, Response

from sparekey.web.request_info import SECURE_SESSION_COOKIE, SESSION_COOKIE, is_https, session_cookie_name


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        session_cookie_name(request),
        token,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    for name in (SESSION_COOKIE, SECURE_SESSION_COOKIE):
        response.delete_cookie(
            name, path="/", secure=name.startswith("__Host-"), httponly=True, samesite="lax"
        )
