"""Recovery when every way in is lost (core/flows/recovery.py): ``POST /api/v1/recovery``,
``GET /api/v1/recovery/{id}``, ``POST /api/v1/recovery/{id}/evidence``,
``POST /api/v1/recovery/cancel``. None of them needs a session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from pydantic import Field

from sparekey.core.deps import Deps
from sparekey.core.factors.codes import MAX_LENGTH as CODE_MAX_LENGTH
from sparekey.core.flows import recovery
from sparekey.core.models import RecoveryState
from sparekey.web.api.schemas import LookupText, _Body
from sparekey.web.dependencies import get_deps
from sparekey.web.request_info import client_of, language_of

router = APIRouter(prefix="/api/v1/recovery", tags=["recovery"])


class RecoveryBody(_Body):
    username: LookupText = Field(max_length=1000)


class EvidenceBody(_Body):
    """Any of the proofs; at least one."""

    email_token: LookupText | None = Field(default=None, max_length=200)
    code: str | None = Field(default=None, max_length=CODE_MAX_LENGTH)
    password: str | None = Field(default=None, max_length=10_000)


class CancelBody(_Body):
    token: LookupText = Field(max_length=200)


def state_json(state: RecoveryState, ready_at: datetime | None) -> dict[str, Any]:
    body: dict[str, Any] = {"state": state.value}
    if ready_at is not None:
        body["ready_at"] = ready_at.isoformat()
    return body


@router.post("", status_code=202)
def request_recovery(
    body: RecoveryBody, request: Request, background: BackgroundTasks, deps: Deps = Depends(get_deps)
) -> dict[str, Any]:
    """The same answer, after the same work, whether or not the account exists; its links,
    codes and notices are written after the answer has gone."""
    request_id = recovery.request(
        deps, username=body.username, client=client_of(request), language=language_of(request)
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
        deps, request_id, email_token=body.email_token, code=body.code, password=body.password
    )
    return state_json(*found)
