"""Contact points of the signed-in account: /api/v1/me/contacts (API.md, "Other ways in")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from sparekey.core.deps import Deps
from sparekey.core.flows import contacts
from sparekey.core.models import Contact
from sparekey.web.api.auth import sent_json
from sparekey.web.api.me import issued_json
from sparekey.web.api.schemas import ContactCodeBody, NewContactBody
from sparekey.web.dependencies import Signed, get_deps, signed_in
from sparekey.web.request_info import client_of, language_of

router = APIRouter(prefix="/api/v1/me/contacts", tags=["contact points"])


def contact_json(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "kind": contact.kind,
        "address": contact.address,
        "verified": contact.verified,
        "created_at": contact.created_at.isoformat(),
    }


@router.get("")
def list_contacts(
    signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> list[dict[str, Any]]:
    return [contact_json(c) for c in contacts.list_contacts(deps, signed.current.account.id)]


@router.post("", status_code=201)
def add_contact(
    body: NewContactBody,
    request: Request,
    signed: Signed = Depends(signed_in),
    deps: Deps = Depends(get_deps),
) -> dict[str, Any]:
    added = contacts.add(
        deps,
        signed.current,
        kind=body.kind,
        address=body.address,
        region=body.region,
        client=client_of(request),
        language=language_of(request),
    )
    return {**contact_json(added.contact), **sent_json(added.sent)}


@router.post("/{contact_id}/verify")
def verify_contact(
    contact_id: str,
    body: ContactCodeBody,
    request: Request,
    signed: Signed = Depends(signed_in),
    deps: Deps = Depends(get_deps),
) -> dict[str, Any]:
    verified = contacts.verify(deps, signed.current, contact_id, code=body.code, client=client_of(request))
    answer: dict[str, Any] = {"contact": contact_json(verified.contact)}
    if verified.backup_codes is not None:
        answer["backup_codes"] = issued_json(verified.backup_codes)
    return answer


@router.post("/{contact_id}/resend", status_code=202)
def resend_code(
    contact_id: str, request: Request, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> dict[str, Any]:
    sent = contacts.resend(
        deps, signed.current, contact_id, client=client_of(request), language=language_of(request)
    )
    return sent_json(sent)


@router.delete("/{contact_id}", status_code=204, response_class=Response)
def remove_contact(
    contact_id: str, request: Request, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> Response:
    contacts.remove(deps, signed.current, contact_id, client=client_of(request))
    return Response(status_code=204)
