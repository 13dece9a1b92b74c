"""Passkeys and security keys on the pages: sign in with a passkey, a key as the second step,
sudo with a key, and adding, renaming and removing keys. The browser's half is
``static/keys.js``; these routes take its answer from an ordinary form (CSRF-checked) and
call the same use cases as the API."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from sparekey.core.errors import SparekeyError, ValidationFailed
from sparekey.core.flows import security_keys, sign_in, sudo
from sparekey.web.cookies import client_tokens
from sparekey.web.dependencies import Signed, get_deps
from sparekey.web.pages.auth import second_step, signed_in_response
from sparekey.web.pages.rendering import check_csrf, error_text, redirect, render
from sparekey.web.pages.security import act, codes_page, confirm_identity
from sparekey.web.request_info import client_of, language_of

router = APIRouter()

MAX_CREDENTIAL_TEXT = 32 * 1024


def credential_of(text: str) -> dict[str, Any]:
    """The key's answer as the form carried it (JSON text); unreadable -> validation_error."""
    try:
        value = json.loads(text) if 0 < len(text) <= MAX_CREDENTIAL_TEXT else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ValidationFailed(field="credential")
    return value


@router.post("/login/passkey")
def sign_in_with_passkey(
    request: Request, flow_id: str = Form(""), credential: str = Form(""), csrf_token: str = Form("")
) -> Response:
    check_csrf(request, csrf_token)
    try:
        result = sign_in.submit_key(
            get_deps(request),
            flow_id=flow_id,
            credential=credential_of(credential),
            client=client_of(request),
            lang=language_of(request),
            client_tokens=client_tokens(request),
        )
    except SparekeyError as error:
        return render(request, "login.html", error.status, error=error_text(request, error), username="")
    return signed_in_response(request, result)


@router.post("/login/code/webauthn")
def second_step_with_key(
    request: Request, credential: str = Form(""), trust_device: str = Form(""), csrf_token: str = Form("")
) -> Response:
    def step(flow_id: str) -> sign_in.Authenticated:
        return sign_in.submit_key(
            get_deps(request),
            flow_id=flow_id,
            credential=credential_of(credential),
            client=client_of(request),
            trust_device=bool(trust_device),
            lang=language_of(request),
        )

    return second_step(request, csrf_token, step)


@router.post("/security/keys")
def add_key(
    request: Request, name: str = Form(""), passkey: str = Form(""), csrf_token: str = Form("")
) -> Response:
    def action(signed: Signed) -> Response:
        registration = security_keys.begin(
            get_deps(request), signed.current, name=name or None, passkey=bool(passkey)
        )
        return render(
            request,
            "key_register.html",
            passkey=bool(passkey),
            options=registration.options,
            registration_id=registration.ceremony.id,
        )

    return act(request, csrf_token, action)


@router.post("/security/keys/finish")
def finish_key(
    request: Request, registration_id: str = Form(""), credential: str = Form(""), csrf_token: str = Form("")
) -> Response:
    def action(signed: Signed) -> Response:
        registered = security_keys.finish(
            get_deps(request),
            signed.current,
            registration_id,
            credential=credential_of(credential),
            client=client_of(request),
        )
        if registered.backup_codes is not None:
            return codes_page(request, signed, registered.backup_codes, first=True)
        return redirect(request, "/security", done="key_added")

    return act(request, csrf_token, action)


@router.post("/security/keys/{key_id}/rename")
def rename_key(request: Request, key_id: str, name: str = Form(""), csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> Response:
        security_keys.rename(get_deps(request), signed.current, key_id, name=name, client=client_of(request))
        return redirect(request, "/security", done="key_renamed")

    return act(request, csrf_token, action)


@router.post("/security/keys/{key_id}/delete")
def remove_key(request: Request, key_id: str, csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> Response:
        security_keys.remove(get_deps(request), signed.current, key_id, client=client_of(request))
        return redirect(request, "/security", done="key_removed")

    return act(request, csrf_token, action)


@router.post("/security/sudo/key")
def sudo_with_key(
    request: Request,
    sudo_flow_id: str = Form(""),
    credential: str = Form(""),
    next: str = Form("/security"),  # noqa: A002 - the form field's name
    csrf_token: str = Form(""),
) -> Response:
    def enter(signed: Signed) -> tuple[object, str | None]:
        return sudo.finish_with_key(
            get_deps(request),
            signed.current,
            sudo_flow_id=sudo_flow_id,
            credential=credential_of(credential),
            client=client_of(request),
            rotate_token=True,
        )

    return confirm_identity(request, csrf_token, next, enter)
