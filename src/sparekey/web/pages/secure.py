"""Secure my account, as a page: what it does, a new password, then what was done and what next."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from sparekey.core.errors import SparekeyError, SudoRequired
from sparekey.core.flows.secure import Secured, secure_account
from sparekey.web.api.secure import CHECKLIST_ACTIONS
from sparekey.web.dependencies import Signed, get_deps
from sparekey.web.pages.rendering import check_csrf, error_text, render
from sparekey.web.pages.security import SHEET_INSTRUCTIONS, signed_or_login, to_sudo
from sparekey.web.request_info import client_of

router = APIRouter(prefix="/security")
PATH = "/security/secure"


def secure_page(request: Request, signed: Signed, status: int = 200, error: str | None = None) -> Response:
    deps = get_deps(request)
    return render(
        request,
        "secure.html",
        status,
        account=signed.current.account,
        in_sudo=signed.current.in_sudo(deps.clock.now()),
        error=error,
    )


def secured_page(request: Request, signed: Signed, secured: Secured) -> Response:
    return render(
        request,
        "secured.html",
        secured=secured,
        issued=secured.backup_codes,
        account=signed.current.account,
        issuer=get_deps(request).policy.issuer,
        instructions=SHEET_INSTRUCTIONS,
        checklist=[(check, CHECKLIST_ACTIONS[check]) for check in secured.checklist],
    )


@router.get("/secure")
def secure_form(request: Request) -> Response:
    signed = signed_or_login(request)
    return signed if isinstance(signed, Response) else secure_page(request, signed)


@router.post("/secure")
def secure(request: Request, new_password: str = Form(""), csrf_token: str = Form("")) -> Response:
    """Without sudo, the sudo page first, then back to this form (the password is typed again)."""
    check_csrf(request, csrf_token)
    signed = signed_or_login(request)
    if isinstance(signed, Response):
        return signed
    try:
        secured = secure_account(
            get_deps(request), signed.current, new_password=new_password, client=client_of(request)
        )
    except SudoRequired:
        return to_sudo(request, PATH)
    except SparekeyError as error:
        return secure_page(request, signed, error.status, error_text(request, error))
    return secured_page(request, signed, secured)
