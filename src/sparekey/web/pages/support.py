"""The support console as pages (core/flows/support.py): ``/support`` (the queue) and
``/support/requests/{id}`` (one request: evidence, warnings, statements, the audit trail,
and the forms to approve, deny, ask for more and add a note, each with a required text).
Without a session: the sign-in page; signed in but not staff (the role ``support`` and a
session made with two factors): a 403 page that says nothing about what was asked for.

And the requester's side: ``POST /recovery/{id}/support`` (the form of
``_recovery_support.html`` on the status page) asks support, then back to the status page
(``pages/recovery.status_response`` gives that partial its variables)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from sparekey.core.deps import Deps
from sparekey.core.errors import SparekeyError, StaffOnly
from sparekey.core.flows import support
from sparekey.core.flows.sessions import Current
from sparekey.core.user_agents import readable
from sparekey.web.dependencies import get_deps
from sparekey.web.pages.recovery import status_response
from sparekey.web.pages.rendering import check_csrf, error_text, redirect, render
from sparekey.web.pages.security import signed_or_login
from sparekey.web.request_info import language_of

router = APIRouter()
DONE = {"approved", "denied", "asked", "note"}


def _forbidden(request: Request) -> Response:
    return render(request, "support_forbidden.html", 403, error=error_text(request, StaffOnly()))


def _staff(request: Request) -> Current | Response:
    """The staff member, or the page to show instead (sign in, or 403)."""
    signed = signed_or_login(request)
    if isinstance(signed, Response):
        return signed
    if not support.is_staff(get_deps(request), signed.current):
        return _forbidden(request)
    return signed.current


@router.get("/support")
def queue_page(request: Request, state: str = "open") -> Response:
    staff = _staff(request)
    if isinstance(staff, Response):
        return staff
    show_all = state == "all"
    cases = support.queue(get_deps(request), staff, open_only=not show_all)
    return render(request, "support_queue.html", cases=cases, show_all=show_all)


def _request_page(
    request: Request, staff: Current, request_id: str, http_status: int = 200, **context: Any
) -> Response:
    try:
        case = support.detail(get_deps(request), staff, request_id)
    except SparekeyError as error:
        if isinstance(error, StaffOnly):
            return _forbidden(request)
        context.setdefault("error", error_text(request, error))
        return render(request, "support_request.html", error.status, case=None, **context)
    return render(
        request,
        "support_request.html",
        http_status,
        case=case,
        device=readable(case.request.user_agent, language_of(request)),
        max_text=support.MAX_TEXT,
        **context,
    )


@router.get("/support/requests/{request_id}")
def request_page(request: Request, request_id: str, done: str = "") -> Response:
    staff = _staff(request)
    if isinstance(staff, Response):
        return staff
    return _request_page(request, staff, request_id, done=done if done in DONE else None)


def _act(
    request: Request, request_id: str, csrf_token: str, done: str, action: Callable[[Deps, Current], object]
) -> Response:
    """CSRF, then staff, then the action; back to the request's page (a reload repeats nothing)."""
    check_csrf(request, csrf_token)
    staff = _staff(request)
    if isinstance(staff, Response):
        return staff
    try:
        action(get_deps(request), staff)
    except StaffOnly:
        return _forbidden(request)
    except SparekeyError as error:
        return _request_page(request, staff, request_id, error.status, error=error_text(request, error))
    return redirect(request, f"/support/requests/{request_id}", done=done)


@router.post("/support/requests/{request_id}/approve")
def approve(
    request: Request, request_id: str, reason: str = Form(""), csrf_token: str = Form("")
) -> Response:
    return _act(
        request,
        request_id,
        csrf_token,
        "approved",
        lambda deps, staff: support.approve(deps, staff, request_id, reason=reason),
    )


@router.post("/support/requests/{request_id}/deny")
def deny(request: Request, request_id: str, reason: str = Form(""), csrf_token: str = Form("")) -> Response:
    return _act(
        request,
        request_id,
        csrf_token,
        "denied",
        lambda deps, staff: support.deny(deps, staff, request_id, reason=reason),
    )


@router.post("/support/requests/{request_id}/ask")
def ask(
    request: Request,
    request_id: str,
    question: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    return _act(
        request,
        request_id,
        csrf_token,
        "asked",
        lambda deps, staff: support.ask(deps, staff, request_id, question=question),
    )


@router.post("/support/requests/{request_id}/notes")
def add_note(request: Request, request_id: str, text: str = Form(""), csrf_token: str = Form("")) -> Response:
    return _act(
        request,
        request_id,
        csrf_token,
        "note",
        lambda deps, staff: support.note(deps, staff, request_id, text=text),
    )


@router.post("/recovery/{request_id}/support")
def ask_support(
    request: Request, request_id: str, statement: str = Form(""), csrf_token: str = Form("")
) -> Response:
    """The requester's form: back to the status page, or that page with the error."""
    check_csrf(request, csrf_token)
    deps = get_deps(request)
    try:
        support.ask_support(deps, request_id, statement=statement)
    except SparekeyError as error:
        return status_response(request, request_id, error.status, error=error_text(request, error))
    return redirect(request, f"/recovery/{request_id}")
