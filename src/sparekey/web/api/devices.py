"""Trusted devices of the signed-in account: /api/v1/me/devices/..."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from sparekey.core.deps import Deps
from sparekey.core.flows import trusted_devices
from sparekey.core.models import TrustedDevice
from sparekey.web.api.schemas import NameBody
from sparekey.web.dependencies import Signed, get_deps, signed_in
from sparekey.web.request_info import client_of

router = APIRouter(prefix="/api/v1/me/devices", tags=["trusted devices"])


def device_json(device: TrustedDevice, current: bool) -> dict[str, Any]:
    return {
        "id": device.id,
        "name": device.name,
        "created_at": device.created_at.isoformat(),
        "last_used_at": device.last_used_at.isoformat(),
        "expires_at": device.expires_at.isoformat(),
        "current": current,
    }


@router.get("")
def list_devices(signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)) -> list[dict[str, Any]]:
    return [device_json(d, current) for d, current in trusted_devices.list_devices(deps, signed.current)]


@router.patch("/{device_id}")
def rename_device(
    device_id: str,
    body: NameBody,
    request: Request,
    signed: Signed = Depends(signed_in),
    deps: Deps = Depends(get_deps),
) -> dict[str, Any]:
    device = trusted_devices.rename(
        deps, signed.current, device_id, name=body.name, client=client_of(request)
    )
    return device_json(device, device.id == signed.current.session.trusted_device_id)


@router.delete("/{device_id}", status_code=204, response_class=Response)
def revoke_device(
    device_id: str, request: Request, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> Response:
    trusted_devices.revoke(deps, signed.current, device_id, client_of(request))
    return Response(status_code=204)
