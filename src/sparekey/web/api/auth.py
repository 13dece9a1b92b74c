"""Accounts and sign-in: /api/v1/accounts, /login, /login/passkey, /login/{flow_id}/code,
/login/{flow_id}/webauthn, /login/{flow_id}/send, /logout."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from sparekey.core.deps import Deps
from sparekey.core.flows import accounts, sent_codes, sessions, sign_in
from sparekey.web.api.schemas import CodeBody, KeyLoginBody, LoginBody, RegisterBody, SendBody
from sparekey.web.cookies import Cookie, clear, tokens
from sparekey.web.dependencies import Signed, get_deps, signed_in
from sparekey.web.request_info import client_of, language_of

router = APIRouter(prefix="/api/v1", tags=["sign-in"])


@router.post("/accounts", status_code=201)
def register(body: RegisterBody, deps: Deps = Depends(get_deps)) -> dict[str, Any]:
    account = accounts.register(deps, username=body.username, password=body.password, email=body.email)
    return {"id": account.id, "username": account.username}


def authenticated_body(result: sign_in.Authenticated) -> dict[str, Any]:
    body = {
        "status": "authenticated",
        "session_token": result.session_token,
        "client_token": result.client_token,
        "method_used": result.method_used,
        "notices": result.notices,
    }
    if result.device_token is not None:
        body["device_token"] = result.device_token
    return body


@router.post("/login")
def login(body: LoginBody, request: Request, deps: Deps = Depends(get_deps)) -> dict[str, Any]:
    result = sign_in.start(
        deps,
        username=body.username,
        password=body.password,
        client=client_of(request),
        client_tokens=[body.client_token] if body.client_token else [],
        device_tokens=([body.device_token] if body.device_token else []) + tokens(request, Cookie.DEVICES),
        lang=language_of(request),
    )
    if isinstance(result, sign_in.Authenticated):
        return authenticated_body(result)
    return {
        "status": "second_factor_required",
        "flow_id": result.flow.id,
        "expires_at": result.flow.expires_at.isoformat(),
        "methods": result.methods,
    }


@router.post("/login/{flow_id}/code")
def submit_code(
    flow_id: str, body: CodeBody, request: Request, deps: Deps = Depends(get_deps)
) -> dict[str, Any]:
    result = sign_in.submit_code(
        deps,
        flow_id=flow_id,
        code=body.code,
        method=body.method,
        client=client_of(request),
        trust_device=bool(body.trust_device),
        lang=language_of(request),
    )
    return authenticated_body(result)


@router.post("/login/passkey")
def start_passkey(request: Request, deps: Deps = Depends(get_deps)) -> dict[str, Any]:
    flow, options = sign_in.start_passkey(deps, client=client_of(request))
    return {"flow_id": flow.id, "expires_at": flow.expires_at.isoformat(), "options": options}


@router.post("/login/{flow_id}/webauthn")
def submit_key(
    flow_id: str, body: KeyLoginBody, request: Request, deps: Deps = Depends(get_deps)
) -> dict[str, Any]:
    result = sign_in.submit_key(
        deps,
        flow_id=flow_id,
        credential=body.credential,
        client=client_of(request),
        trust_device=bool(body.trust_device),
        lang=language_of(request),
    )
    return authenticated_body(result)


@router.post("/login/{flow_id}/send", status_code=202)
def send_code(
    flow_id: str, body: SendBody, request: Request, deps: Deps = Depends(get_deps)
) -> dict[str, Any]:
    sent = sent_codes.send_for_flow(
        deps,
        flow_id=flow_id,
        method=body.method,
        destination_id=body.destination_id,
        client=client_of(request),
        language=language_of(request),
    )
    return sent_json(sent)


def sent_json(sent: sent_codes.Sent) -> dict[str, Any]:
    return {"sent_to": sent.sent_to, "resend_after": sent.resend_after}


@router.post("/logout", status_code=204, response_class=Response)
def logout(request: Request, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)) -> Response:
    sessions.log_out(deps, signed.current)
    response = Response(status_code=204)
    if signed.via_cookie:
        clear(response, request, Cookie.SESSION)
    return response
