"""Recovery when every way in is lost (core/flows/recovery.py): ``POST /api/v1/recovery``,
``GET /api/v1/recovery/{id}``, ``POST /api/v1/recovery/{id}/evidence``,
``POST /api/v1/recovery/cancel``, and the completion: ``POST /api/v1/recovery/{id}/completion``,
``POST /api/v1/recovery/{id}/complete``. None of them needs a session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from pydantic import Field

from sparekey.core.deps import Deps
from sparekey.core.factors.codes import MAX_LENGTH as CODE_MAX_LENGTH
from sparekey.core.flows import recovery, recovery_completion
from sparekey.core.models import RecoveryState
from sparekey.web.api.me import issued_json
from sparekey.web.api.schemas import LookupText, _Body
from sparekey.web.cookies import Cookie, client_tokens, tokens
from sparekey.web.dependencies import get_deps
from sparekey.web.request_info import client_of, language_of

router = APIRouter(prefix="/api/v1/recovery", tags=["recovery"])


class RecoveryBody(_Body):
    username: LookupText = Field(max_length=1000)
    client_token: str | None = Field(default=None, max_length=200)  # as POST /api/v1/login takes them
    device_token: str | None = Field(default=None, max_length=200)


class EvidenceBody(_Body):
    """Any of the proofs; at least one."""

    email_token: LookupText | None = Field(default=None, max_length=200)
    code: str | None = Field(default=None, max_length=CODE_MAX_LENGTH)
    password: str | None = Field(default=None, max_length=10_000)
    created_month: str | None = Field(
        default=None, max_length=20
    )  # "2024-05": about when the account was made
    recent_device: str | None = Field(default=None, max_length=200)  # "Chrome on Android"


class CancelBody(_Body):
    token: LookupText = Field(max_length=200)


class CompleteBody(_Body):
    completion_token: LookupText = Field(max_length=200)
    code: str = Field(max_length=CODE_MAX_LENGTH)
    new_password: str | None = Field(default=None, max_length=10_000)


def state_json(state: RecoveryState, ready_at: datetime | None) -> dict[str, Any]:
    body: dict[str, Any] = {"state": state.value}
    if ready_at is not None:
        body["ready_at"] = ready_at.isoformat()  # complete_by: 24 h later (API.md's shape kept exact)
    return body


@router.post("", status_code=202)
def request_recovery(
    body: RecoveryBody, request: Request, background: BackgroundTasks, deps: Deps = Depends(get_deps)
) -> dict[str, Any]:
    """The same answer, after the same work, whether or not the account exists; its links,
    codes and notices are written after the answer has gone."""
    request_id = recovery.request(
        deps,
        username=body.username,
        client=client_of(request),
        language=language_of(request),
        client_tokens=([body.client_token] if body.client_token else []) + client_tokens(request),
        device_tokens=([body.device_token] if body.device_token else []) + tokens(request, Cookie.DEVICES),
    )
    background.add_task(recovery.dispatch, deps, request_id)
    return {"request_id": request_id}


@router.post("/cancel")
def cancel(body: CancelBody, request: Request, deps: Deps = Depends(get_deps)) -> dict[str, Any]:
    return {"state": recovery.cancel(deps, body.token, client=client_of(request)).value}


@router.get("/{request_id}")
def status(request_id: str, deps: Deps = Depends(get_deps)) -> dict[str, Any]:
    return state_json(*recovery.status(deps, request_id))


@router.post("/{request_id}/evidence")
def evidence(request_id: str, body: EvidenceBody, deps: Deps = Depends(get_deps)) -> dict[str, Any]:
    found = recovery.add_evidence(
        deps,
        request_id,
        email_token=body.email_token,
        code=body.code,
        password=body.password,
        created_month=body.created_month,
        recent_device=body.recent_device,
    )
    return state_json(*found)


@router.post("/{request_id}/completion")
def start_completion(request_id: str, deps: Deps = Depends(get_deps)) -> dict[str, Any]:
    """Once ready: the single-use completion token and the new authenticator app's key (a
    new call replaces both)."""
    started = recovery_completion.start(deps, request_id)
    return {
        "completion_token": started.token,
        "complete_by": started.complete_by.isoformat(),
        "totp": {"secret": started.secret, "otpauth_uri": started.otpauth_uri, "qr_svg": started.qr_svg},
    }


@router.post("/{request_id}/complete")
def complete(
    request_id: str, body: CompleteBody, request: Request, deps: Deps = Depends(get_deps)
) -> dict[str, Any]:
    completed = recovery_completion.finish(
        deps,
        request_id,
        token=body.completion_token,
        code=body.code,
        new_password=body.new_password or None,
        client=client_of(request),
    )
    return {
        "state": RecoveryState.COMPLETED.value,
        "session_token": completed.session_token,
        "backup_codes": issued_json(completed.backup_codes),
        "sessions_ended": completed.sessions_ended,
        "devices_revoked": completed.devices_revoked,
    }
