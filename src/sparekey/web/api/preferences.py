"""The owner's choices: /api/v1/me/notifications (muted types) and /api/v1/me/preferences."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from sparekey.core.deps import Deps
from sparekey.core.errors import ValidationFailed
from sparekey.core.flows import preferences
from sparekey.core.notifications import CRITICAL
from sparekey.web.api.schemas import _Body
from sparekey.web.dependencies import Signed, get_deps, signed_in
from sparekey.web.request_info import client_of

router = APIRouter(prefix="/api/v1/me", tags=["notifications and preferences"])


class MutedBody(_Body):
    muted: list[str] = Field(max_length=20)


class PreferencesBody(_Body):
    language: str | None = Field(default=None, max_length=8)
    time_zone: str | None = Field(default=None, max_length=64)


def _answer(muted: list[str]) -> dict[str, Any]:
    return {"muted": muted, "critical": sorted(t.value for t in CRITICAL)}


@router.get("/notifications")
def get_notifications(signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)) -> dict[str, Any]:
    return _answer(preferences.muted(deps, signed.current.account.id))


@router.put("/notifications")
def put_notifications(
    body: MutedBody, request: Request, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> dict[str, Any]:
    return _answer(preferences.set_muted(deps, signed.current, body.muted, client_of(request)))


@router.put("/preferences")
def put_preferences(
    body: PreferencesBody, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> dict[str, Any]:
    """``language`` ("ja" or "en") for messages; ``time_zone`` (IANA, "" for UTC)."""
    if body.language is None and body.time_zone is None:
        raise ValidationFailed(field="language", fields=["language", "time_zone"])
    account_id = signed.current.account.id
    if body.language is not None:
        preferences.choose_language(deps, account_id, body.language)
    if body.time_zone is not None:
        preferences.set_time_zone(deps, account_id, body.time_zone or None)
    return {"language": body.language, "time_zone": body.time_zone}
