"""Recovery contacts as a page, ``/security/recovery-contacts`` (core/flows/recovery_contacts.py):
the asks waiting for the signed-in person's answer first, then the people who named them
(accept, decline, stop), then their own contacts (name one, remove one). Each form posts,
then comes back to the page with what was done: a reload never acts twice."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from sparekey.core.errors import SparekeyError, SudoRequired, ValidationFailed
from sparekey.core.flows import recovery_contacts
from sparekey.core.flows.recovery_contacts import Answer
from sparekey.web.dependencies import Signed, get_deps
from sparekey.web.pages.rendering import check_csrf, error_text, redirect, render
from sparekey.web.pages.security import signed_or_login, to_sudo
from sparekey.web.request_info import client_of

router = APIRouter(prefix="/security")
PATH = recovery_contacts.PAGE
# What was done, by the ``done`` of the redirect; the template words each one.
DONE = frozenset({"named", "removed", "accepted", "declined", "stopped", "answered"})


def contacts_page(request: Request, signed: Signed, status: int = 200, **extra: object) -> Response:
    deps = get_deps(request)
    current = signed.current
    request.state.time_zone = current.account.time_zone
    done = request.query_params.get("done", "")
    return render(
        request,
        "rc_page.html",
        status,
        account=current.account,
        asks=recovery_contacts.open_asks(deps, current),
        named_me=recovery_contacts.named_me(deps, current),
        contacts=recovery_contacts.my_contacts(deps, current),
        maximum=recovery_contacts.MAX_CONTACTS,
        done=done if done in DONE else None,
        **extra,
    )


def _act(request: Request, csrf_token: str, action: Callable[[Signed], None], done: str) -> Response:
    """CSRF first, then sign-in, sudo and errors, shown on this page."""
    check_csrf(request, csrf_token)
    signed = signed_or_login(request)
    if isinstance(signed, Response):
        return signed
    try:
        action(signed)
    except SudoRequired:
        return to_sudo(request, PATH)
    except ValidationFailed as error:
        return contacts_page(request, signed, error.status, naming_self=error.details.get("reason") == "self",
                             error=error_text(request, error))  # fmt: skip
    except SparekeyError as error:
        return contacts_page(request, signed, error.status, error=error_text(request, error))
    return redirect(request, PATH, done=done)


@router.get("/recovery-contacts")
def show(request: Request) -> Response:
    signed = signed_or_login(request)
    return signed if isinstance(signed, Response) else contacts_page(request, signed)


@router.post("/recovery-contacts")
def name_contact(request: Request, username: str = Form(""), csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> None:
        recovery_contacts.name(
            get_deps(request), signed.current, username=username, client=client_of(request)
        )

    return _act(request, csrf_token, action, "named")


@router.post("/recovery-contacts/{contact_id}/remove")
def remove_contact(request: Request, contact_id: str, csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> None:
        recovery_contacts.remove(get_deps(request), signed.current, contact_id, client=client_of(request))

    return _act(request, csrf_token, action, "removed")


@router.post("/recovery-contact-of/{contact_id}/accept")
def accept(request: Request, contact_id: str, csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> None:
        recovery_contacts.accept(get_deps(request), signed.current, contact_id)

    return _act(request, csrf_token, action, "accepted")


@router.post("/recovery-contact-of/{contact_id}/decline")
def decline(request: Request, contact_id: str, csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> None:
        recovery_contacts.stop(get_deps(request), signed.current, contact_id)

    return _act(request, csrf_token, action, "declined")


@router.post("/recovery-contact-of/{contact_id}/stop")
def stop(request: Request, contact_id: str, csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> None:
        recovery_contacts.stop(get_deps(request), signed.current, contact_id)

    return _act(request, csrf_token, action, "stopped")


@router.post("/recovery-contact-asks/{ask_id}")
def answer(request: Request, ask_id: str, answer: str = Form(""), csrf_token: str = Form("")) -> Response:
    """Confirm, or "No, or I don't know" (anything but ``confirmed``): the same thanks after both."""

    def action(signed: Signed) -> None:
        chosen = Answer.CONFIRMED if answer == Answer.CONFIRMED.value else Answer.DECLINED
        recovery_contacts.answer(get_deps(request), signed.current, ask_id, answer=chosen)

    return _act(request, csrf_token, action, "answered")
