"""Secure my account: ``POST /api/v1/me/secure`` (API.md, "Security center")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from sparekey.core.deps import Deps
from sparekey.core.flows.secure import Check, Secured, secure_account
from sparekey.web.api.me import issued_json
from sparekey.web.api.schemas import _Body
from sparekey.web.dependencies import Signed, get_deps, signed_in
from sparekey.web.request_info import client_of

router = APIRouter(prefix="/api/v1/me", tags=["account"])

# The page where each checklist item is done (the pages show the same list in words).
CHECKLIST_ACTIONS: dict[str, str] = {
    Check.STORE_SHEET: "/security/backup-codes/confirm",
    Check.REVIEW_ACTIVITY: "/security#history",
    Check.REVIEW_WAYS_IN: "/security#two-step",
    Check.CHECK_EMAIL: "/security#contacts",
}


class SecureBody(_Body):
    """``{new_password}``; unknown fields are ignored, a missing or mistyped one is 422."""

    new_password: str = Field(max_length=10_000)


def checklist_json(checklist: list[str]) -> list[dict[str, str]]:
    return [{"id": check, "action": CHECKLIST_ACTIONS[check]} for check in checklist]


def secured_json(secured: Secured) -> dict[str, Any]:
    return {
        "backup_codes": issued_json(secured.backup_codes) if secured.backup_codes is not None else None,
        "sessions_ended": secured.sessions_ended,
        "devices_revoked": secured.devices_revoked,
        "checklist": checklist_json(secured.checklist),
    }


@router.post("/secure")
def secure(
    body: SecureBody, request: Request, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> dict[str, Any]:
    """Sudo: new backup codes, other sessions ended, trusted devices revoked, new password."""
    secured = secure_account(deps, signed.current, new_password=body.new_password, client=client_of(request))
    return secured_json(secured)
