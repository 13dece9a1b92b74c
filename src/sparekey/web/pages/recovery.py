"""Recovery as pages. The requester's: ``/recovery`` starts a request for a username, and
``/recovery/{id}`` shows its state and, while it collects, takes the phone's code or the
password; they read the same for an unknown username. The links a recovery request sends:
the cancel link, and the e-mail link that proves the requester reads that mailbox.
``GET`` shows one button, ``POST`` acts: never on a GET, which mail scanners and link
previews follow."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import Response

from sparekey.core.errors import SparekeyError, ValidationFailed
from sparekey.core.factors.codes import MAX_LENGTH as CODE_MAX_LENGTH
from sparekey.core.flows import recovery, recovery_completion
from sparekey.core.models import RecoveryState
from sparekey.web.cookies import Cookie, client_tokens, set_session_cookie, tokens
from sparekey.web.dependencies import get_deps
from sparekey.web.pages.rendering import check_csrf, error_text, redirect, render
from sparekey.web.pages.security import SHEET_INSTRUCTIONS
from sparekey.web.request_info import client_of, language_of

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


# The requester's pages: the same limits as the JSON API's bodies.
USERNAME_MAX = 1000
PASSWORD_MAX = 10_000


def _too_long(field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise ValidationFailed(field=field, reason="too_long")


def _start_page(request: Request, http_status: int = 200, **context: object) -> Response:
    seconds = get_deps(request).policy.recovery_wait_seconds
    days, hours = (seconds // 86400, 0) if seconds >= 86400 else (0, max(1, seconds // 3600))
    return render(request, "recovery_start.html", http_status, wait_days=days, wait_hours=hours, **context)


@router.get("")
def start_form(request: Request) -> Response:
    return _start_page(request, username="")


@router.post("")
def start(
    request: Request, background: BackgroundTasks, username: str = Form(""), csrf_token: str = Form("")
) -> Response:
    """The same work and the same answer for any username (core/flows/recovery.py); the
    links, codes and notices are written after the answer has gone."""
    check_csrf(request, csrf_token)
    deps = get_deps(request)
    try:
        _too_long("username", username, USERNAME_MAX)
        request_id = recovery.request(
            deps,
            username=username,
            client=client_of(request),
            language=language_of(request),
            client_tokens=client_tokens(request),
            device_tokens=tokens(request, Cookie.DEVICES),
        )
    except SparekeyError as error:
        return _start_page(
            request,
            error.status,
            username=username[:USERNAME_MAX],
            error=error_text(request, error),
        )
    background.add_task(recovery.dispatch, deps, request_id)
    return redirect(request, f"/recovery/{request_id}")


def _status_page(
    request: Request,
    request_id: str,
    state: RecoveryState | None,
    ready_at: datetime | None,
    http_status: int = 200,
    **context: object,
) -> Response:
    context = {"support_requested": False, "support_requested_at": None, "support_question": None, **context}
    return render(
        request,
        "recovery_status.html",
        http_status,
        request_id=request_id,
        state=state.value if state is not None else None,
        ready_at=ready_at,
        complete_by=ready_at + recovery.COMPLETION_WINDOW if ready_at is not None else None,
        collect_hours=int(recovery.COLLECTING.total_seconds() // 3600),
        **context,
    )


@router.get("/{request_id}")
def status_page(request: Request, request_id: str) -> Response:
    return status_response(request, request_id)


def status_response(request: Request, request_id: str, http_status: int = 200, **context: object) -> Response:
    """The requester's page: the request's state now, support's side, and ``context`` (an
    error, a confirmation). An unknown id shows the not-found message."""
    try:
        view = recovery.requester_view(get_deps(request), request_id)
    except SparekeyError as error:
        return _status_page(request, request_id, None, None, error.status, error=error_text(request, error))
    return _status_page(
        request,
        request_id,
        view.state,
        view.ready_at,
        http_status,
        support_requested=view.support_requested_at is not None,
        support_requested_at=view.support_requested_at,
        support_question=view.support_question,
        **context,
    )


def _completion_page(
    request: Request,
    request_id: str,
    started: recovery_completion.Started,
    http_status: int = 200,
    **context: object,
) -> Response:
    secret = started.secret
    return render(
        request,
        "recovery_complete.html",
        http_status,
        request_id=request_id,
        enrolment=started,
        grouped=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        **context,
    )


@router.post("/{request_id}/completion")
def start_completion(request: Request, request_id: str, csrf_token: str = Form("")) -> Response:
    """After the wait: the new authenticator app's key and the single-use completion."""
    check_csrf(request, csrf_token)
    try:
        started = recovery_completion.start(get_deps(request), request_id)
    except SparekeyError as error:
        return _status_error(request, request_id, error)
    return _completion_page(request, request_id, started)


@router.post("/{request_id}/complete")
def complete(
    request: Request,
    request_id: str,
    completion_token: str = Form(""),
    code: str = Form(""),
    new_password: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    check_csrf(request, csrf_token)
    deps = get_deps(request)
    try:
        _too_long("code", code, CODE_MAX_LENGTH)
        _too_long("new_password", new_password, PASSWORD_MAX)
        completed = recovery_completion.finish(
            deps,
            request_id,
            token=completion_token,
            code=code,
            new_password=new_password or None,
            client=client_of(request),
        )
    except SparekeyError as error:
        started = recovery_completion.resume(deps, request_id, completion_token) if completion_token else None
        if started is None:
            return _status_error(request, request_id, error)
        return _completion_page(request, request_id, started, error.status, error=error_text(request, error))
    request.state.opened_session = completed.session_token  # the sheet's forms work in it
    response = render(
        request,
        "recovery_done.html",
        issued=completed.backup_codes,
        completed=completed,
        account=completed.account,
        issuer=deps.policy.issuer,
        instructions=SHEET_INSTRUCTIONS,
    )
    set_session_cookie(response, request, completed.session_token)
    return response


def _status_error(request: Request, request_id: str, error: SparekeyError) -> Response:
    """The request's page with ``error`` above its current state."""
    return status_response(request, request_id, error.status, error=error_text(request, error))


@router.post("/{request_id}/evidence")
def prove(
    request: Request,
    request_id: str,
    code: str = Form(""),
    password: str = Form(""),
    created_month: str = Form(""),
    recent_device: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    check_csrf(request, csrf_token)
    deps = get_deps(request)
    try:
        _too_long("code", code, CODE_MAX_LENGTH)
        _too_long("password", password, PASSWORD_MAX)
        _too_long("created_month", created_month, 20)
        _too_long("recent_device", recent_device, 200)
        state, ready_at = recovery.add_evidence(
            deps,
            request_id,
            code=code.strip() or None,
            password=password or None,
            created_month=created_month.strip() or None,
            recent_device=recent_device.strip() or None,
        )
    except SparekeyError as error:
        return _status_error(request, request_id, error)
    return status_response(request, request_id, proved=True)
