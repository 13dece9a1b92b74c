"""Backup-code pages: regenerate, the sheet as .txt and as a print view, "I saved them"."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Form, Request
from fastapi.responses import PlainTextResponse, Response

from sparekey.core.errors import SparekeyError, TwoFactorDisabled
from sparekey.core.factors import backup_codes as mechanics
from sparekey.core.flows import backup_codes
from sparekey.i18n import format_when, translate
from sparekey.web.dependencies import Signed, get_deps
from sparekey.web.pages.rendering import check_csrf, error_text, redirect, render
from sparekey.web.pages.security import SHEET_INSTRUCTIONS, act, codes_page, signed_or_login
from sparekey.web.request_info import client_of, language_of

router = APIRouter(prefix="/security/backup-codes")


@router.post("/regenerate")
def regenerate(request: Request, csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> Response:
        issued = backup_codes.regenerate(get_deps(request), signed.current, client_of(request))
        return codes_page(request, signed, issued, first=False)

    return act(request, csrf_token, action)


def _posted_codes(codes: list[str]) -> list[str] | None:
    """The codes a sheet form sent back: only well-formed codes, 5 to 20 of them."""
    if not mechanics.MIN_SET_SIZE <= len(codes) <= mechanics.MAX_SET_SIZE:
        return None
    canonical = [mechanics.normalise(code) for code in codes]
    if any(c is None or not mechanics.check_character_ok(c) for c in canonical):
        return None
    return [mechanics.format_code(c) for c in canonical if c is not None]


def _sheet(
    request: Request, codes: list[str], csrf_token: str
) -> tuple[Signed, backup_codes.Status, list[str]]:
    check_csrf(request, csrf_token)
    signed = signed_or_login(request)
    if isinstance(signed, Response):
        raise TwoFactorDisabled()
    status = backup_codes.require_status(get_deps(request), signed.current.account.id)
    clean = _posted_codes(codes)
    if clean is None or len(clean) != status.total:
        raise TwoFactorDisabled()
    return signed, status, clean


@router.post("/sheet.txt")
def sheet_text(request: Request, codes: list[str] = Form([]), csrf_token: str = Form("")) -> Response:
    try:
        signed, status, clean = _sheet(request, codes, csrf_token)
    except SparekeyError:
        return redirect(request, "/security")
    lang = language_of(request)
    issuer = get_deps(request).policy.issuer
    lines = [
        translate(lang, "%(issuer)s backup codes", issuer=issuer),
        translate(lang, "Account: %(username)s", username=signed.current.account.username),
        translate(
            lang,
            "Set #%(number)s, made %(date)s",
            number=status.set_number,
            date=format_when(status.created_at, lang),
        ),
        "",
        *[f"{index:2d}. {code}" for index, code in enumerate(clean, start=1)],
        "",
        *[translate(lang, line) for line in SHEET_INSTRUCTIONS],
        "",
    ]
    filename = f"sparekey-backup-codes-set-{status.set_number}.txt"
    return PlainTextResponse(
        "\r\n".join(lines),
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@router.post("/print")
def print_view(request: Request, codes: list[str] = Form([]), csrf_token: str = Form("")) -> Response:
    try:
        signed, status, clean = _sheet(request, codes, csrf_token)
    except SparekeyError:
        return redirect(request, "/security")
    return render(
        request,
        "print.html",
        codes=clean,
        status=status,
        account=signed.current.account,
        issuer=get_deps(request).policy.issuer,
        instructions=SHEET_INSTRUCTIONS,
    )


@router.get("/confirm")
def confirm_form(request: Request) -> Response:
    signed = signed_or_login(request)
    if isinstance(signed, Response):
        return signed
    status = backup_codes.status(get_deps(request), signed.current.account.id)
    if status is None:
        return redirect(request, "/security")
    return render(request, "confirm.html", position=secrets.randbelow(status.total) + 1, status=status)


@router.post("/confirm")
def confirm(
    request: Request, position: int = Form(1), code: str = Form(""), csrf_token: str = Form("")
) -> Response:
    check_csrf(request, csrf_token)
    signed = signed_or_login(request)
    if isinstance(signed, Response):
        return signed
    deps = get_deps(request)
    try:
        backup_codes.confirm_saved(deps, signed.current.account, position=position, code=code)
    except SparekeyError as error:
        status = backup_codes.status(deps, signed.current.account.id)
        if status is None:
            return redirect(request, "/security")
        return render(
            request,
            "confirm.html",
            error.status,
            error=error_text(request, error),
            position=position,
            status=status,
        )
    return redirect(request, "/security", done="codes_confirmed")
