"""The signed-in account: /api/v1/me/..."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from sparekey.core.deps import Deps
from sparekey.core.errors import ValidationFailed
from sparekey.core.flows import accounts, backup_codes, history, sessions, sudo, totp_enrolment, two_factor
from sparekey.core.flows.backup_codes import IssuedSet, Status
from sparekey.core.methods import Method
from sparekey.core.models import Authenticator
from sparekey.core.user_agents import readable
from sparekey.web.api import organisations as organisations_api
from sparekey.web.api.schemas import (
    ConfirmBackupBody,
    ConfirmTotpBody,
    NewTotpBody,
    PasswordBody,
    SudoBody,
    SudoKeyBody,
)
from sparekey.web.cookies import set_session_cookie
from sparekey.web.dependencies import Signed, get_deps, signed_in
from sparekey.web.request_info import client_of, language_of

router = APIRouter(prefix="/api/v1/me", tags=["account"])


def issued_json(issued: IssuedSet) -> dict[str, Any]:
    return {
        "set_number": issued.set_number,
        "created_at": issued.created_at.isoformat(),
        "codes": issued.codes,
    }


def status_json(status: Status) -> dict[str, Any]:
    return {
        "set_number": status.set_number,
        "created_at": status.created_at.isoformat(),
        "total": status.total,
        "remaining": status.remaining,
        "confirmed": status.confirmed,
        "used": [
            {"position": u.position, "used_at": u.used_at.isoformat(), "ip": u.ip, "user_agent": u.user_agent}
            for u in status.used
        ],
    }


def authenticator_json(authenticator: Authenticator) -> dict[str, Any]:
    return {
        "id": authenticator.id,
        "type": Method.TOTP.value,
        "name": authenticator.name,
        "created_at": authenticator.created_at.isoformat(),
        "confirmed": authenticator.confirmed,
        "last_used_at": authenticator.last_used_at.isoformat() if authenticator.last_used_at else None,
    }


@router.get("")
def me(signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)) -> dict[str, Any]:
    view = two_factor.overview(deps, signed.current.account.id)
    ready = view.readiness
    return {
        "id": view.account.id,
        "username": view.account.username,
        "email": view.account.email,
        "two_factor_enabled": view.account.two_factor_enabled,
        "methods": view.methods,
        "backup_codes": status_json(view.backup_codes) if view.backup_codes else None,
        "readiness": {
            "ready": ready.ready,
            "items": [{"id": i.id.value, "ok": i.ok, "action": i.action.value} for i in ready.items],
            "last_drill_at": ready.last_drill_at.isoformat() if ready.last_drill_at else None,
        },
        "organisation_requirements": organisations_api.requirements_json(deps, view.account),
    }


@router.post("/sudo")
def enter_sudo(
    body: SudoBody, request: Request, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> JSONResponse:
    if body.webauthn:
        ceremony, options = sudo.begin_with_key(deps, signed.current)
        return JSONResponse({"sudo_flow_id": ceremony.id, "options": options})
    if body.password is None:
        raise ValidationFailed(field="password", fields=["password"])
    until, new_token = sudo.enter(
        deps,
        signed.current,
        password=body.password,
        code=body.code,
        client=client_of(request),
        rotate_token=signed.via_cookie,
    )
    return _sudo_entered(request, until, new_token)


@router.post("/sudo/webauthn")
def enter_sudo_with_key(
    body: SudoKeyBody, request: Request, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> JSONResponse:
    until, new_token = sudo.finish_with_key(
        deps,
        signed.current,
        sudo_flow_id=body.sudo_flow_id,
        credential=body.credential,
        client=client_of(request),
        rotate_token=signed.via_cookie,
    )
    return _sudo_entered(request, until, new_token)


def _sudo_entered(request: Request, until: datetime, new_token: str | None) -> JSONResponse:
    response = JSONResponse({"sudo_until": until.isoformat()})
    if new_token is not None:
        set_session_cookie(response, request, new_token)
    return response


@router.post("/password", status_code=204, response_class=Response)
def change_password(
    body: PasswordBody, request: Request, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> Response:
    accounts.change_password(deps, signed.current, new_password=body.new_password, client=client_of(request))
    return Response(status_code=204)


@router.post("/totp", status_code=201)
def begin_totp(
    body: NewTotpBody | None = None, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> dict[str, Any]:
    enrolment = totp_enrolment.begin(deps, signed.current, name=body.name if body else None)
    return {
        "authenticator_id": enrolment.authenticator.id,
        "name": enrolment.authenticator.name,
        "secret": enrolment.secret,
        "otpauth_uri": enrolment.otpauth_uri,
        "qr_svg": enrolment.qr_svg,
    }


@router.post("/totp/{authenticator_id}/confirm")
def confirm_totp(
    authenticator_id: str,
    body: ConfirmTotpBody,
    request: Request,
    signed: Signed = Depends(signed_in),
    deps: Deps = Depends(get_deps),
) -> dict[str, Any]:
    confirmed = totp_enrolment.confirm(
        deps, signed.current, authenticator_id, code=body.code, client=client_of(request)
    )
    result: dict[str, Any] = {"authenticator": authenticator_json(confirmed.authenticator)}
    if confirmed.backup_codes is not None:
        result["backup_codes"] = issued_json(confirmed.backup_codes)
    return result


@router.delete("/totp/{authenticator_id}", status_code=204, response_class=Response)
def remove_totp(
    authenticator_id: str,
    request: Request,
    signed: Signed = Depends(signed_in),
    deps: Deps = Depends(get_deps),
) -> Response:
    totp_enrolment.remove(deps, signed.current, authenticator_id, client=client_of(request))
    return Response(status_code=204)


@router.get("/backup-codes")
def backup_code_status(signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)) -> dict[str, Any]:
    return status_json(backup_codes.require_status(deps, signed.current.account.id))


@router.post("/backup-codes/regenerate", status_code=201)
def regenerate(
    request: Request, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> dict[str, Any]:
    return issued_json(backup_codes.regenerate(deps, signed.current, client_of(request)))


@router.post("/backup-codes/confirm")
def confirm_backup_codes(
    body: ConfirmBackupBody, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> dict[str, Any]:
    backup_codes.confirm_saved(deps, signed.current.account, position=body.position, code=body.code)
    return {"confirmed": True}


@router.delete("/two-factor", status_code=204, response_class=Response)
def disable_two_factor(
    request: Request, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> Response:
    two_factor.disable(deps, signed.current, client_of(request))
    return Response(status_code=204)


@router.get("/sessions")
def list_sessions(
    request: Request, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> list[dict[str, Any]]:
    return [
        {
            "id": s.id,
            "current": is_current,
            "created_at": s.created_at.isoformat(),
            "last_seen_at": s.last_seen_at.isoformat(),
            "ip": s.ip,
            "user_agent": s.user_agent,
            "device": readable(s.user_agent, language_of(request)),
            "auth_time": s.context.auth_time.isoformat(),
            "amr": s.context.amr,
            "level": s.context.level.value,
        }
        for s, is_current in sessions.list_sessions(deps, signed.current)
    ]


@router.delete("/sessions", status_code=204, response_class=Response)
def end_other_sessions(
    request: Request,
    others: bool | None = Query(default=None),
    signed: Signed = Depends(signed_in),
    deps: Deps = Depends(get_deps),
) -> Response:
    """``?others=true``: every session of the account but this one ends."""
    if not others:
        raise ValidationFailed(field="others", fields=["others"])
    sessions.revoke_others(deps, signed.current, client_of(request))
    return Response(status_code=204)


@router.delete("/sessions/{session_id}", status_code=204, response_class=Response)
def revoke_session(
    session_id: str, request: Request, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> Response:
    sessions.revoke(deps, signed.current, session_id, client_of(request))
    return Response(status_code=204)


@router.get("/events", response_model=None)
def events(
    type: list[str] | None = Query(default=None, max_length=64),  # noqa: A002 - the query's name
    format: str | None = Query(default=None, max_length=8),  # noqa: A002
    signed: Signed = Depends(signed_in),
    deps: Deps = Depends(get_deps),
) -> list[dict[str, Any]] | Response:
    """``?type=sign_in&type=sudo`` (or comma-separated) filters; ``format=csv`` exports."""
    if format not in (None, "json", "csv"):
        raise ValidationFailed(field="format", fields=["format"])
    types = [t for value in type for t in value.split(",") if t] if type is not None else None
    export = format == "csv"
    found = history.recent_events(
        deps, signed.current.account.id, types=types, limit=history.EXPORT_LIMIT if export else 100
    )
    if export:
        return Response(
            history.as_csv(found).encode(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="sparekey-history.csv"'},
        )
    return [{"id": e.id, "at": e.at.isoformat(), "type": e.type, **e.data} for e in found]
