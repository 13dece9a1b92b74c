"""The recovery drill: ``POST`` / ``GET /api/v1/me/drill`` (core/flows/drill.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from sparekey.core.deps import Deps
from sparekey.core.flows import drill
from sparekey.web.dependencies import Signed, get_deps, signed_in
from sparekey.web.request_info import client_of

router = APIRouter(prefix="/api/v1/me", tags=["account"])


@router.post("/drill", status_code=201)
def start_drill(
    request: Request, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> dict[str, Any]:
    """Open a drill for an hour (an open one starts over): sign in from a private window with
    another way than the phone's app, then ``GET`` shows that it passed."""
    started = drill.start(deps, signed.current, client_of(request))
    return {
        "started_at": started.started_at.isoformat(),
        "expires_at": started.expires_at.isoformat(),
        "steps": [step.value for step in started.steps],
    }


@router.get("/drill")
def drill_status(signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)) -> dict[str, Any]:
    """``open`` with ``started_at``/``expires_at`` while a drill waits (or, not open, the one
    that ran out); ``last_passed_at`` and ``last_method`` for the last drill that passed."""
    found = drill.status(deps, signed.current.account.id)
    return {
        "open": found.open,
        "started_at": found.started_at.isoformat() if found.started_at else None,
        "expires_at": found.expires_at.isoformat() if found.expires_at else None,
        "last_passed_at": found.last_passed_at.isoformat() if found.last_passed_at else None,
        "last_method": found.last_method,
    }
