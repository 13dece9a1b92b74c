"""Recovery contacts (core/flows/recovery_contacts.py), for the signed-in account:

* the owner's side: ``/api/v1/me/recovery-contacts`` (list, name, remove);
* the contact's side: ``/api/v1/me/recovery-contact-of`` (who named me: accept, decline,
  stop) and ``/api/v1/me/recovery-contact-asks`` (the open asks, and the answer to one).

What a contact is shown of an owner's account is its username, nothing else."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from sparekey.core.deps import Deps
from sparekey.core.flows import recovery_contacts
from sparekey.core.flows.recovery_contacts import Answer, Entry
from sparekey.web.api.schemas import LookupText, _Body
from sparekey.web.dependencies import Signed, get_deps, signed_in
from sparekey.web.request_info import client_of

router = APIRouter(prefix="/api/v1/me", tags=["recovery contacts"])


class NameContactBody(_Body):
    username: LookupText = Field(max_length=1000)


class AcceptBody(_Body):
    accept: bool


class AnswerBody(_Body):
    answer: Literal["confirmed", "declined"]


def entry_json(entry: Entry) -> dict[str, Any]:
    return {"id": entry.id, "username": entry.username, "accepted": entry.accepted}


# The owner's side -------------------------------------------------------------------------


@router.get("/recovery-contacts")
def list_contacts(
    signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> list[dict[str, Any]]:
    return [entry_json(e) for e in recovery_contacts.my_contacts(deps, signed.current)]


@router.post("/recovery-contacts", status_code=202)
def name_contact(
    body: NameContactBody,
    request: Request,
    signed: Signed = Depends(signed_in),
    deps: Deps = Depends(get_deps),
) -> dict[str, Any]:
    """The same answer whether or not the username is an account's."""
    recovery_contacts.name(deps, signed.current, username=body.username, client=client_of(request))
    return {"named": True}


@router.delete("/recovery-contacts/{contact_id}", status_code=204, response_class=Response)
def remove_contact(
    contact_id: str, request: Request, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> Response:
    recovery_contacts.remove(deps, signed.current, contact_id, client=client_of(request))
    return Response(status_code=204)


# The contact's side -----------------------------------------------------------------------


@router.get("/recovery-contact-of")
def named_me(signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)) -> list[dict[str, Any]]:
    return [entry_json(e) for e in recovery_contacts.named_me(deps, signed.current)]


@router.post("/recovery-contact-of/{contact_id}", response_model=None)
def respond(
    contact_id: str, body: AcceptBody, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> dict[str, Any] | Response:
    """``accept: true`` -> 200 the entry; ``accept: false`` declines (or stops): 204, as DELETE."""
    if body.accept:
        return entry_json(recovery_contacts.accept(deps, signed.current, contact_id))
    recovery_contacts.stop(deps, signed.current, contact_id)
    return Response(status_code=204)


@router.delete("/recovery-contact-of/{contact_id}", status_code=204, response_class=Response)
def stop_being_contact(
    contact_id: str, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> Response:
    recovery_contacts.stop(deps, signed.current, contact_id)
    return Response(status_code=204)


@router.get("/recovery-contact-asks")
def open_asks(signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)) -> list[dict[str, Any]]:
    return [
        {"id": ask.id, "username": ask.username, "asked_at": ask.asked_at.isoformat()}
        for ask in recovery_contacts.open_asks(deps, signed.current)
    ]


@router.post("/recovery-contact-asks/{ask_id}")
def answer_ask(
    ask_id: str, body: AnswerBody, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> dict[str, Any]:
    """Always ``{answered: true}``: the same for both answers, and whether or not it
    changed anything (answered before, the request closed)."""
    recovery_contacts.answer(deps, signed.current, ask_id, answer=Answer(body.answer))
    return {"answered": True}
