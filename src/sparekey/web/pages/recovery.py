"""The links a recovery request sends, as pages: the cancel link, and the e-mail link that
proves the requester reads that mailbox. ``GET`` shows one button, ``POST`` acts: never on
a GET, which mail scanners and link previews follow."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from sparekey.core.errors import SparekeyError
from sparekey.core.flows import recovery
from sparekey.web.dependencies import get_deps
from sparekey.web.pages.rendering import check_csrf, error_text, render
from sparekey.web.request_info import client_of

router = APIRouter(prefix="/recovery")


@router.get("/cancel/{token}")
def cancel_form(request: Request, token: str) -> Response:
    return render(request, "recovery_cancel.html", token=token, state=None)


@router.post("/cancel/{token}")
def cancel(request: Request, token: str, csrf_token: str = Form("")) -> Response:
    check_csrf(request, csrf_token)
    try:
        state = recovery.cancel(get_deps(request), token, client=client_of(request))
    except SparekeyError as error:
        return render(
            request,
            "recovery_cancel.html",
            error.status,
            token=token,
            state=None,
            error=error_text(request, error),
        )
    return render(request, "recovery_cancel.html", token=token, state=state.value)


@router.get("/{request_id}/email/{token}")
def email_proof_form(request: Request, request_id: str, token: str) -> Response:
    return render(request, "recovery_email.html", request_id=request_id, token=token, state=None)


@router.post("/{request_id}/email/{token}")
def email_proof(request: Request, request_id: str, token: str, csrf_token: str = Form("")) -> Response:
    check_csrf(request, csrf_token)
    try:
        state, ready_at = recovery.add_evidence(get_deps(request), request_id, email_token=token)
    except SparekeyError as error:
        return render(
            request,
            "recovery_email.html",
            error.status,
            request_id=request_id,
            token=token,
            state=None,
            error=error_text(request, error),
        )
    return render(
        request,
        "recovery_email.html",
        request_id=request_id,
        token=token,
        state=state.value,
        ready_at=ready_at,
    )
