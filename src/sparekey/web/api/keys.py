"""Passkeys and security keys of the signed-in account: /api/v1/me/webauthn/..."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from sparekey.core.deps import Deps
from sparekey.core.flows import security_keys
from sparekey.core.models import SecurityKey
from sparekey.web.api.me import issued_json
from sparekey.web.api.schemas import CredentialBody, NameBody, NewKeyBody
from sparekey.web.dependencies import Signed, get_deps, signed_in
from sparekey.web.request_info import client_of

router = APIRouter(prefix="/api/v1/me/webauthn", tags=["passkeys and security keys"])


def key_json(key: SecurityKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "passkey": key.passkey,
        "created_at": key.created_at.isoformat(),
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
        "backed_up": key.backed_up,
        "backup_eligible": key.backup_eligible,
        "transports": key.transports,
        "aaguid": key.aaguid,
    }


@router.post("/register")
def begin_registration(
    body: NewKeyBody | None = None, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> dict[str, Any]:
    registration = security_keys.begin(
        deps, signed.current, name=body.name if body else None, passkey=bool(body and body.passkey)
    )
    return {
        "registration_id": registration.ceremony.id,
        "expires_at": registration.ceremony.expires_at.isoformat(),
        "options": registration.options,
    }


@router.post("/register/{registration_id}", status_code=201)
def finish_registration(
    registration_id: str,
    body: CredentialBody,
    request: Request,
    signed: Signed = Depends(signed_in),
    deps: Deps = Depends(get_deps),
) -> dict[str, Any]:
    registered = security_keys.finish(
        deps, signed.current, registration_id, credential=body.credential, client=client_of(request)
    )
    result: dict[str, Any] = {"key": key_json(registered.key)}
    if registered.backup_codes is not None:
        result["backup_codes"] = issued_json(registered.backup_codes)
    return result


@router.get("")
def list_keys(signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)) -> list[dict[str, Any]]:
    return [key_json(k) for k in security_keys.list_keys(deps, signed.current.account.id)]


@router.patch("/{key_id}")
def rename_key(
    key_id: str,
    body: NameBody,
    request: Request,
    signed: Signed = Depends(signed_in),
    deps: Deps = Depends(get_deps),
) -> dict[str, Any]:
    key = security_keys.rename(deps, signed.current, key_id, name=body.name, client=client_of(request))
    return key_json(key)


@router.delete("/{key_id}", status_code=204, response_class=Response)
def remove_key(
    key_id: str, request: Request, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> Response:
    security_keys.remove(deps, signed.current, key_id, client=client_of(request))
    return Response(status_code=204)
