"""Phone numbers and e-mail addresses on the security page: add, verify, resend, remove."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from sparekey.core.flows import contacts
from sparekey.web.dependencies import Signed, get_deps
from sparekey.web.pages.rendering import redirect
from sparekey.web.pages.security import act, codes_page
from sparekey.web.request_info import client_of, language_of

router = APIRouter(prefix="/security/contacts")


@router.post("")
def add(
    request: Request,
    kind: str = Form(""),
    address: str = Form(""),
    region: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    def action(signed: Signed) -> Response:
        contacts.add(
            get_deps(request),
            signed.current,
            kind=kind,
            address=address,
            region=region or None,
            client=client_of(request),
            language=language_of(request),
        )
        return redirect(request, "/security", done="contact_added")

    return act(request, csrf_token, action)


@router.post("/{contact_id}/verify")
def verify(request: Request, contact_id: str, code: str = Form(""), csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> Response:
        verified = contacts.verify(
            get_deps(request), signed.current, contact_id, code=code, client=client_of(request)
        )
        if verified.backup_codes is not None:  # the first phone turned two-step verification on
            return codes_page(request, signed, verified.backup_codes, first=True)
        return redirect(request, "/security", done="contact_verified")

    return act(request, csrf_token, action)


@router.post("/{contact_id}/resend")
def resend(request: Request, contact_id: str, csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> Response:
        contacts.resend(
            get_deps(request),
            signed.current,
            contact_id,
            client=client_of(request),
            language=language_of(request),
        )
        return redirect(request, "/security", done="contact_code_sent")

    return act(request, csrf_token, action)


@router.post("/{contact_id}/delete")
def remove(request: Request, contact_id: str, csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> Response:
        contacts.remove(get_deps(request), signed.current, contact_id, client=client_of(request))
        return redirect(request, "/security", done="contact_removed")

    return act(request, csrf_token, action)
