"""Changing phones, as a guide: for each way in that the old phone holds, add the new phone's
while the old one still works, check it, then remove the old one; and a summary at the end.

The guide is a page over the account's current ways in, not a saved flow: the only state it
carries is the id of the authenticator app added in it (``?app=``), in links and in the
``next`` of the sudo page. Every change calls the same use cases as the security page.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from sparekey.core.errors import SparekeyError, SudoRequired
from sparekey.core.factors.contact_points import ContactKind
from sparekey.core.flows import contacts, security_keys, totp_enrolment, two_factor
from sparekey.core.models import Authenticator
from sparekey.web.dependencies import Signed, get_deps
from sparekey.web.pages.rendering import error_text, redirect, render
from sparekey.web.pages.security import REGIONS, act, codes_page, signed_or_login, to_sudo
from sparekey.web.request_info import client_of, language_of

PATH = "/security/change-phone"
router = APIRouter(prefix=PATH)

# What a finished step says at the top of the guide (the texts are in change_phone.html).
DONE = ("app_removed", "phone_added", "code_sent", "phone_verified", "phone_removed", "key_removed")


def new_app_of(authenticators: list[Authenticator], app: str) -> Authenticator | None:
    """The authenticator app added in this guide, if ``app`` names one of the account's."""
    return next((a for a in authenticators if app and a.id == app), None)


def guide_url(app: str | None = None, **query: str) -> str:
    values = {"app": app, **query} if app else query
    return f"{PATH}?{urlencode(values)}" if values else PATH


def guide_page(
    request: Request, signed: Signed, status: int = 200, *, app: str = "", error: str | None = None
) -> Response:
    deps = get_deps(request)
    account_id = signed.current.account.id
    request.state.time_zone = signed.current.account.time_zone  # times in the owner's zone
    authenticators = totp_enrolment.list_authenticators(deps, account_id)
    new_app = new_app_of(authenticators, app)
    phones = [c for c in contacts.list_contacts(deps, account_id) if c.kind == ContactKind.PHONE]
    passkeys = [k for k in security_keys.list_keys(deps, account_id) if k.passkey]
    done = request.query_params.get("done", "")
    in_sudo = signed.current.in_sudo(deps.clock.now())
    return render(
        request,
        "change_phone.html",
        status,
        account=signed.current.account,
        authenticators=authenticators,
        new_app=new_app,
        old_apps=[a for a in authenticators if new_app is None or a.id != new_app.id],
        phones=phones,
        verified_phones=[c for c in phones if c.verified],
        passkeys=passkeys,
        done=done if done in DONE else None,
        error=error,
        needs_sudo=signed.current.account.two_factor_enabled and not in_sudo,
        here=guide_url(new_app.id if new_app else None),
        app=new_app.id if new_app else "",
        regions=REGIONS,
        default_region="JP" if language_of(request) == "ja" else "",
    )


def step(request: Request, csrf_token: str, app: str, action: Callable[[Signed], Response]) -> Response:
    """A guide's action through the security page's ``act`` (CSRF, sign-in), but whose sudo
    detour and errors come back to the guide, with the app added in it still known."""

    def guided(signed: Signed) -> Response:
        try:
            return action(signed)
        except SudoRequired:
            known = new_app_of(
                totp_enrolment.list_authenticators(get_deps(request), signed.current.account.id), app
            )
            return to_sudo(request, guide_url(known.id if known else None))
        except SparekeyError as error:
            return guide_page(request, signed, error.status, app=app, error=error_text(request, error))

    return act(request, csrf_token, guided)


@router.get("")
def guide(request: Request) -> Response:
    signed = signed_or_login(request)
    if isinstance(signed, Response):
        return signed
    return guide_page(request, signed, app=request.query_params.get("app", ""))


@router.get("/totp")
@router.get("/totp/{authenticator_id}/confirm")
def back_to_guide(request: Request) -> Response:
    """These pages answer forms; opened again (reloaded, or the language switched), the guide."""
    return redirect(request, PATH)


@router.post("/totp")
def add_app(request: Request, name: str = Form(""), csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> Response:
        enrolment = totp_enrolment.begin(get_deps(request), signed.current, name=name or None)
        secret = enrolment.secret
        return render(
            request,
            "change_phone_totp.html",
            enrolment=enrolment,
            authenticator_id=enrolment.authenticator.id,
            grouped=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        )

    return step(request, csrf_token, "", action)


@router.post("/totp/{authenticator_id}/confirm")
def confirm_app(
    request: Request, authenticator_id: str, code: str = Form(""), csrf_token: str = Form("")
) -> Response:
    def action(signed: Signed) -> Response:
        try:
            confirmed = totp_enrolment.confirm(
                get_deps(request), signed.current, authenticator_id, code=code, client=client_of(request)
            )
        except SparekeyError as error:
            if error.code == "not_found":
                raise
            return render(
                request,
                "change_phone_totp.html",
                error.status,
                enrolment=None,
                authenticator_id=authenticator_id,
                error=error_text(request, error),
            )
        if confirmed.backup_codes is not None:  # the account had no second step before
            return codes_page(request, signed, confirmed.backup_codes, first=True)
        return redirect(request, f"{guide_url(confirmed.authenticator.id)}#old-apps")

    return step(request, csrf_token, "", action)


@router.post("/totp/{authenticator_id}/delete")
def remove_app(
    request: Request, authenticator_id: str, app: str = Form(""), csrf_token: str = Form("")
) -> Response:
    def action(signed: Signed) -> Response:
        totp_enrolment.remove(get_deps(request), signed.current, authenticator_id, client=client_of(request))
        return redirect(request, f"{guide_url(app, done='app_removed')}#old-apps")

    return step(request, csrf_token, app, action)


@router.post("/phones")
def add_phone(
    request: Request,
    address: str = Form(""),
    region: str = Form(""),
    app: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    def action(signed: Signed) -> Response:
        contacts.add(
            get_deps(request),
            signed.current,
            kind=ContactKind.PHONE,
            address=address,
            region=region or None,
            client=client_of(request),
            language=language_of(request),
        )
        return redirect(request, f"{guide_url(app, done='phone_added')}#phones")

    return step(request, csrf_token, app, action)


@router.post("/phones/{contact_id}/verify")
def verify_phone(
    request: Request, contact_id: str, code: str = Form(""), app: str = Form(""), csrf_token: str = Form("")
) -> Response:
    def action(signed: Signed) -> Response:
        verified = contacts.verify(
            get_deps(request), signed.current, contact_id, code=code, client=client_of(request)
        )
        if verified.backup_codes is not None:  # the account had no second step before
            return codes_page(request, signed, verified.backup_codes, first=True)
        return redirect(request, f"{guide_url(app, done='phone_verified')}#phones")

    return step(request, csrf_token, app, action)


@router.post("/phones/{contact_id}/resend")
def resend_code(
    request: Request, contact_id: str, app: str = Form(""), csrf_token: str = Form("")
) -> Response:
    def action(signed: Signed) -> Response:
        contacts.resend(
            get_deps(request),
            signed.current,
            contact_id,
            client=client_of(request),
            language=language_of(request),
        )
        return redirect(request, f"{guide_url(app, done='code_sent')}#phones")

    return step(request, csrf_token, app, action)


@router.post("/phones/{contact_id}/delete")
def remove_phone(
    request: Request, contact_id: str, app: str = Form(""), csrf_token: str = Form("")
) -> Response:
    def action(signed: Signed) -> Response:
        contacts.remove(get_deps(request), signed.current, contact_id, client=client_of(request))
        return redirect(request, f"{guide_url(app, done='phone_removed')}#phones")

    return step(request, csrf_token, app, action)


@router.post("/keys/{key_id}/delete")
def remove_key(request: Request, key_id: str, app: str = Form(""), csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> Response:
        security_keys.remove(get_deps(request), signed.current, key_id, client=client_of(request))
        return redirect(request, f"{guide_url(app, done='key_removed')}#passkeys")

    return step(request, csrf_token, app, action)


@router.get("/done")
def summary(request: Request) -> Response:
    signed = signed_or_login(request)
    if isinstance(signed, Response):
        return signed
    deps = get_deps(request)
    account_id = signed.current.account.id
    request.state.time_zone = signed.current.account.time_zone
    phones = [c for c in contacts.list_contacts(deps, account_id) if c.kind == ContactKind.PHONE]
    return render(
        request,
        "change_phone_done.html",
        account=signed.current.account,
        authenticators=totp_enrolment.list_authenticators(deps, account_id),
        phones=[c for c in phones if c.verified],
        keys=security_keys.list_keys(deps, account_id),
        codes=two_factor.overview(deps, account_id).backup_codes,
        low_at=deps.policy.backup_codes_low_at,
    )
