"""The support console's JSON API (core/flows/support.py): ``/api/v1/support/requests...``
for staff, and the requester's ``POST /api/v1/recovery/{id}/support`` (no session).

Every staff call first checks, as a dependency (before the body or the id is looked at),
that the session's account has the role ``support`` and was signed in with two factors:
anyone else gets ``403 staff_only`` whatever they asked for. What leaves is only the fields
named below: never a code, a token or a hash of the request or the account."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from sparekey.core.deps import Deps
from sparekey.core.errors import StaffOnly
from sparekey.core.flows import support
from sparekey.core.flows.sessions import Current
from sparekey.core.models import RecoveryState
from sparekey.core.user_agents import readable
from sparekey.web.api.recovery import state_json
from sparekey.web.api.schemas import _Body
from sparekey.web.dependencies import get_deps, signed_in
from sparekey.web.request_info import language_of

router = APIRouter(tags=["support"])
PREFIX = "/api/v1/support/requests"
RAW_TEXT = 2 * support.MAX_TEXT  # before line breaks and controls are cleaned (then 1..MAX_TEXT)


def staff_member(request: Request) -> Current:
    """The signed-in staff member (401 without a session, 403 ``staff_only`` otherwise)."""
    current = signed_in(request).current
    if not support.is_staff(get_deps(request), current):
        raise StaffOnly()
    return current


class StatementBody(_Body):
    statement: str = Field(min_length=1, max_length=RAW_TEXT)


class ReasonBody(_Body):
    reason: str = Field(min_length=1, max_length=RAW_TEXT)


class QuestionBody(_Body):
    question: str = Field(min_length=1, max_length=RAW_TEXT)


class NoteBody(_Body):
    text: str = Field(min_length=1, max_length=RAW_TEXT)


def case_json(case: support.Case, lang: str) -> dict[str, Any]:
    found = case.request
    body: dict[str, Any] = {
        "id": found.id,
        "username": case.username,
        "state": case.state.value,
        "created_at": found.created_at.isoformat(),
        "evidence": dict(found.evidence),
        "score": found.score,
        "support_requested_at": found.support_requested_at.isoformat()
        if found.support_requested_at
        else None,
        "statement": found.support_statement,
        "question": found.support_question,
        "risk": [signal.value for signal in case.risk],
        "actions_count": case.actions_count,
    }
    if found.ready_at is not None and case.state in (RecoveryState.WAITING, RecoveryState.READY):
        body["ready_at"] = found.ready_at.isoformat()
    if case.actions is not None:
        body["ip"] = found.ip
        body["device"] = readable(found.user_agent, lang)
        body["actions"] = [
            {"at": entry.at.isoformat(), "action": entry.action, "actor": entry.actor, "text": entry.text}
            for entry in case.actions
        ]
    return body


@router.post("/api/v1/recovery/{request_id}/support", status_code=202, tags=["recovery"])
def ask_support(request_id: str, body: StatementBody, deps: Deps = Depends(get_deps)) -> dict[str, Any]:
    """The requester asks support to review the request (or answers support's question)."""
    return state_json(*support.ask_support(deps, request_id, statement=body.statement))


@router.get(PREFIX)
def queue(
    request: Request,
    state: Literal["open", "all"] = "open",
    staff: Current = Depends(staff_member),
    deps: Deps = Depends(get_deps),
) -> list[dict[str, Any]]:
    lang = language_of(request)
    return [case_json(case, lang) for case in support.queue(deps, staff, open_only=state == "open")]


@router.get(PREFIX + "/{request_id}")
def detail(
    request: Request, request_id: str, staff: Current = Depends(staff_member), deps: Deps = Depends(get_deps)
) -> dict[str, Any]:
    return case_json(support.detail(deps, staff, request_id), language_of(request))


@router.post(PREFIX + "/{request_id}/approve")
def approve(
    request: Request,
    request_id: str,
    body: ReasonBody,
    staff: Current = Depends(staff_member),
    deps: Deps = Depends(get_deps),
) -> dict[str, Any]:
    return case_json(support.approve(deps, staff, request_id, reason=body.reason), language_of(request))


@router.post(PREFIX + "/{request_id}/deny")
def deny(
    request: Request,
    request_id: str,
    body: ReasonBody,
    staff: Current = Depends(staff_member),
    deps: Deps = Depends(get_deps),
) -> dict[str, Any]:
    return case_json(support.deny(deps, staff, request_id, reason=body.reason), language_of(request))


@router.post(PREFIX + "/{request_id}/ask")
def ask(
    request: Request,
    request_id: str,
    body: QuestionBody,
    staff: Current = Depends(staff_member),
    deps: Deps = Depends(get_deps),
) -> dict[str, Any]:
    return case_json(support.ask(deps, staff, request_id, question=body.question), language_of(request))


@router.post(PREFIX + "/{request_id}/notes", status_code=201)
def add_note(
    request: Request,
    request_id: str,
    body: NoteBody,
    staff: Current = Depends(staff_member),
    deps: Deps = Depends(get_deps),
) -> dict[str, Any]:
    return case_json(support.note(deps, staff, request_id, text=body.text), language_of(request))
