"""The security page and its actions: sudo, authenticator apps, sessions, password, 2FA off."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from sparekey.core.assurance import Amr
from sparekey.core.delivery import OUTBOX
from sparekey.core.errors import SparekeyError, SudoRequired, TwoFactorRequired
from sparekey.core.flows import (
    accounts,
    contacts,
    history,
    preferences,
    security_keys,
    sessions,
    sudo,
    totp_enrolment,
    trusted_devices,
    two_factor,
)
from sparekey.core.flows.backup_codes import IssuedSet
from sparekey.core.methods import Notice
from sparekey.core.notifications import CRITICAL
from sparekey.core.user_agents import readable
from sparekey.web.cookies import set_session_cookie
from sparekey.web.dependencies import Signed, get_deps, maybe_signed_in
from sparekey.web.pages.rendering import check_csrf, error_text, redirect, render, safe_next
from sparekey.web.request_info import client_of, language_of

router = APIRouter(prefix="/security")

EVENT_NAMES = {
    "sign_in": "Sign-in",
    "backup_code_used": "Backup code used",
    "backup_codes_generated": "New backup codes",
    "backup_codes_confirmed": "Backup codes confirmed as saved",
    "factor_added": "Authenticator added",
    "factor_removed": "Authenticator removed",
    "sudo": "Identity confirmed for a change",
    "password_changed": "Password changed",
    "two_factor_disabled": "Two-step verification turned off",
    "totp_replay_refused": "Reused authenticator code refused",
    "rate_limited": "Too many attempts: sign-in paused",
    "session_revoked": "Session signed out",
    "contact_added": "Phone number or e-mail address added",
    "contact_verified": "Phone number or e-mail address verified",
    "contact_removed": "Phone number or e-mail address removed",
    "code_sent": "Code sent",
    "factor_renamed": "Renamed",
    "key_used": "Passkey or security key used",
    "key_clone_suspected": "A copied security key was suspected and refused",
    "device_trusted": "Device trusted",
    "device_renamed": "Trusted device renamed",
    "device_revoked": "Device no longer trusted",
    "account_secured": "Account secured: new codes, other sessions signed out, new password",
    "notifications_changed": "Notification choices changed",
    "drill_started": "Recovery drill started",
    "recovery_drill_passed": "Recovery drill passed: signed in without the phone",
    "recovery_requested": "Someone asked to recover the account",
    "recovery_cancelled": "Account recovery cancelled",
    "recovery_evidence_added": "Proof added to an account recovery",
    "recovery_approved": "Account recovery approved by support",
    "recovery_denied": "Account recovery denied by support",
    "recovery_completed": "Account recovered: new way to sign in, everything old revoked",
    "role_granted": "Staff role granted",
    "role_revoked": "Staff role removed",
    "organisation_joined": "Joined an organisation",
    "organisation_left": "Left an organisation",
    "two_factor_reset": "Two-step verification reset by an administrator",
    "recovery_contact_added": "Recovery contact named",
    "recovery_contact_accepted": "Recovery contact accepted",
    "recovery_contact_removed": "Recovery contact removed",
    "recovery_contact_asked": "A recovery contact was asked about a recovery",
    "recovery_contact_answered": "A recovery contact answered about a recovery",
}
METHOD_NAMES = {
    "password": "password",
    "totp": "authenticator app",
    "backup_code": "backup code",
    "sms": "SMS code",
    "voice": "code by phone call",
    "email": "e-mail code",
    "webauthn": "security key",
    "passkey": "passkey",
    "trusted_device": "trusted device",
    "unrecognised": "unrecognised code",
}
FAILURE_REASONS = {
    "invalid_credentials": "wrong password",
    "invalid_code": "wrong code",
    "malformed_code": "not a code",
    "code_typo": "typo in a backup code",
    "code_already_used": "code already used",
    "code_from_replaced_set": "code from a replaced sheet",
    "code_replayed": "code used twice",
    "clock_drift_suspected": "device clock off",
    "code_expired": "code expired",
    "rate_limited": "too many attempts",
    "webauthn_failed": "key not accepted",
}
DONE_MESSAGES = {
    "sudo": "Identity confirmed. You can make changes for the next 10 minutes.",
    "totp_removed": "The authenticator app was removed.",
    "session_revoked": "That session was signed out.",
    "password_changed": "Your password was changed. Other sessions were signed out.",
    "two_factor_disabled": "Two-step verification is off. Your backup codes no longer work.",
    "codes_confirmed": "Thank you: your backup code sheet is confirmed.",
    "totp_added": "The authenticator app was added.",
    "contact_added": "We sent a code there. Type it below to verify it.",
    "contact_code_sent": "We sent a new code.",
    "contact_verified": "Verified.",
    "contact_removed": "Removed.",
    "key_added": "The key was added.",
    "key_renamed": "Renamed.",
    "key_removed": "The key was removed. Trusted devices were reset.",
    "device_renamed": "Renamed.",
    "device_revoked": "This device is no longer trusted: it will be asked for a second step again.",
    "others_signed_out": "Every other session was signed out.",
    "notifications_saved": "Your choice of messages was saved.",
    "time_zone_saved": "Times are now shown in the zone you chose.",
}


# Countries offered for numbers written in national form; any other is written with "+".
REGIONS: tuple[tuple[str, str], ...] = (
    ("", "Another country: I write the number with its country code (+...)"),
    ("JP", "Japan"),
    ("US", "United States or Canada"),
    ("GB", "United Kingdom"),
    ("KR", "South Korea"),
    ("TW", "Taiwan"),
    ("CN", "China"),
    ("SG", "Singapore"),
    ("AU", "Australia"),
    ("DE", "Germany"),
    ("FR", "France"),
    ("IN", "India"),
)


SHEET_INSTRUCTIONS = (
    "Each code works once. Keep this sheet somewhere safe, away from your phone.",
    "A newer sheet replaces this one: check the set number.",
)


def signed_or_login(request: Request) -> Signed | Response:
    """The session; else the sign-in page; a session that must set up a second factor first
    (web/dependencies.py) goes to this page, which says why."""
    try:
        signed = maybe_signed_in(request)
    except TwoFactorRequired:
        return redirect(request, "/security")
    return signed if signed is not None else redirect(request, "/login")


def to_sudo(request: Request, back: str = "/security") -> Response:
    return redirect(request, "/security/sudo", next=back)


READINESS_ITEMS = {
    "two_ways_in": "At least two ways in besides your password (backup codes count as one)",
    "backup_codes_present": "Backup codes you can still use",
    "backup_codes_confirmed": "You confirmed that you saved your backup-code sheet",
    "backup_codes_enough": "At least 4 backup codes left",
    "backup_codes_fresh": "A backup-code sheet that is not too old",
    "recovery_email_verified": "A verified e-mail address for recovery",
}
NOTIFICATION_NAMES = {
    "new_device_sign_in": "A sign-in from a new device",
    "backup_code_used": "A backup code was used",
    "backup_codes_generated": "New backup codes were made",
    "factor_added": "A way to sign in was added",
    "factor_removed": "A way to sign in was removed",
    "two_factor_disabled": "Two-step verification was turned off",
    "password_changed": "The password was changed",
    "rate_limited": "Too many wrong attempts",
    "recovery_requested": "Someone asked to recover the account",
    "recovery_approved": "Support approved a recovery of the account",
    "recovery_contact_asked": "A recovery contact was asked about a recovery",
    "recovery_contact_answered": "A recovery contact answered about a recovery",
    "recovery_completed": "The account was recovered",
    "two_factor_reset": "Two-step verification was reset by an administrator",
}
# Common zones offered first; any IANA name can be typed.
TIME_ZONES = ("UTC", "Asia/Tokyo", "Asia/Seoul", "Asia/Shanghai", "Asia/Singapore", "Europe/London",
              "Europe/Berlin", "America/New_York", "America/Los_Angeles", "Australia/Sydney")  # fmt: skip


def security_page(request: Request, signed: Signed, status: int = 200, **extra: object) -> Response:
    deps = get_deps(request)
    account_id = signed.current.account.id
    view = two_factor.overview(deps, account_id)
    request.state.time_zone = view.account.time_zone
    kind = request.query_params.get("kind") or None
    kinds = [kind] if kind in EVENT_NAMES else None
    done = request.query_params.get("done", "")
    notice = request.query_params.get("notice", "")
    remaining = request.query_params.get("remaining", "")
    return render(
        request,
        "security.html",
        status,
        account=view.account,
        authenticators=totp_enrolment.list_authenticators(deps, account_id),
        keys=security_keys.list_keys(deps, account_id),
        devices=trusted_devices.list_devices(deps, signed.current),
        device_name=lambda agent: readable(agent, language_of(request)),
        codes=view.backup_codes,
        low_at=deps.policy.backup_codes_low_at,
        sessions=sessions.list_sessions(deps, signed.current),
        events=history.recent_events(deps, account_id, limit=30, types=kinds),
        kind=kind if kinds else "",
        readiness=view.readiness,
        readiness_items=READINESS_ITEMS,
        muted=preferences.muted(deps, account_id),
        notification_names=NOTIFICATION_NAMES,
        critical=sorted(t.value for t in CRITICAL),
        time_zones=TIME_ZONES,
        chosen_zone=view.account.time_zone or "",
        event_names=EVENT_NAMES,
        method_names=METHOD_NAMES,
        failure_reasons=FAILURE_REASONS,
        done=DONE_MESSAGES.get(done),
        notice=notice if notice in Notice.__members__.values() else None,
        remaining=remaining if remaining.isdigit() else None,
        in_sudo=signed.current.in_sudo(deps.clock.now()),
        contacts=contacts.list_contacts(deps, account_id),
        outbox=OUTBOX in (deps.senders.mail.name, deps.senders.phone.name),
        regions=REGIONS,
        default_region="JP" if language_of(request) == "ja" else "",
        **extra,
    )


def act(request: Request, csrf_token: str, action: Callable[[Signed], Response]) -> Response:
    """Run a page action: CSRF first, then sign-in, sudo and error handling in one place."""
    check_csrf(request, csrf_token)
    signed = signed_or_login(request)
    if isinstance(signed, Response):
        return signed
    try:
        return action(signed)
    except SudoRequired:
        return to_sudo(request)
    except SparekeyError as error:
        return security_page(request, signed, error.status, error=error_text(request, error))


@router.get("")
def security(request: Request) -> Response:
    signed = signed_or_login(request)
    return signed if isinstance(signed, Response) else security_page(request, signed)


def sudo_page(
    request: Request, signed: Signed, target: str, status: int = 200, error: str | None = None
) -> Response:
    """Password (and code), or the account's key: offered first when this session was made
    with a key, so a passkey-only owner is not asked for a password first."""
    deps = get_deps(request)
    key_options = sudo_flow_id = None
    if security_keys.list_keys(deps, signed.current.account.id):
        ceremony, key_options = sudo.begin_with_key(deps, signed.current)
        sudo_flow_id = ceremony.id
    made_with = signed.current.session.context.methods
    return render(
        request,
        "sudo.html",
        status,
        error=error,
        next=target,
        needs_code=signed.current.account.two_factor_enabled,
        key_options=key_options,
        sudo_flow_id=sudo_flow_id,
        key_first=Amr.HWK in made_with or Amr.SWK in made_with or Amr.PWD not in made_with,
    )


@router.get("/sudo")
def sudo_form(request: Request) -> Response:
    signed = signed_or_login(request)
    if isinstance(signed, Response):
        return signed
    return sudo_page(request, signed, safe_next(request.query_params.get("next")))


def confirm_identity(
    request: Request, csrf_token: str, next_path: str, enter: Callable[[Signed], tuple[object, str | None]]
) -> Response:
    """A sudo form's answer (password and code, or a key): on success back to ``next_path``
    with the session's new cookie; on failure the sudo page again, saying why."""
    check_csrf(request, csrf_token)
    signed = signed_or_login(request)
    if isinstance(signed, Response):
        return signed
    target = safe_next(next_path)
    try:
        _until, token = enter(signed)
    except SparekeyError as error:
        return sudo_page(request, signed, target, error.status, error_text(request, error))
    response = redirect(request, target, done="sudo") if target == "/security" else redirect(request, target)
    if token:
        set_session_cookie(response, request, token)
    return response


@router.post("/sudo")
def enter_sudo(
    request: Request,
    password: str = Form(""),
    code: str = Form(""),
    next: str = Form("/security"),  # noqa: A002 - the form field's name
    csrf_token: str = Form(""),
) -> Response:
    def enter(signed: Signed) -> tuple[object, str | None]:
        return sudo.enter(
            get_deps(request),
            signed.current,
            password=password,
            code=code or None,
            client=client_of(request),
            rotate_token=True,
        )

    return confirm_identity(request, csrf_token, next, enter)


@router.post("/totp")
def add_totp(request: Request, name: str = Form(""), csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> Response:
        enrolment = totp_enrolment.begin(get_deps(request), signed.current, name=name or None)
        return render(
            request,
            "totp_enrol.html",
            enrolment=enrolment,
            grouped=" ".join(enrolment.secret[i : i + 4] for i in range(0, len(enrolment.secret), 4)),
        )

    return act(request, csrf_token, action)


@router.post("/totp/{authenticator_id}/confirm")
def confirm_totp(
    request: Request, authenticator_id: str, code: str = Form(""), csrf_token: str = Form("")
) -> Response:
    def action(signed: Signed) -> Response:
        deps = get_deps(request)
        try:
            confirmed = totp_enrolment.confirm(
                deps, signed.current, authenticator_id, code=code, client=client_of(request)
            )
        except SparekeyError as error:
            if error.code == "not_found":
                raise
            return render(
                request,
                "totp_confirm_again.html",
                error.status,
                error=error_text(request, error),
                authenticator_id=authenticator_id,
            )
        if confirmed.backup_codes is not None:
            return codes_page(request, signed, confirmed.backup_codes, first=True)
        return redirect(request, "/security", done="totp_added")

    return act(request, csrf_token, action)


def codes_page(request: Request, signed: Signed, issued: IssuedSet, *, first: bool) -> Response:
    position = secrets.randbelow(len(issued.codes)) + 1
    return render(
        request,
        "codes.html",
        issued=issued,
        account=signed.current.account,
        first=first,
        issuer=get_deps(request).policy.issuer,
        position=position,
        instructions=SHEET_INSTRUCTIONS,
    )


@router.post("/totp/{authenticator_id}/delete")
def remove_totp(request: Request, authenticator_id: str, csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> Response:
        totp_enrolment.remove(get_deps(request), signed.current, authenticator_id, client=client_of(request))
        return redirect(request, "/security", done="totp_removed")

    return act(request, csrf_token, action)


@router.post("/sessions/{session_id}/revoke")
def revoke_session(request: Request, session_id: str, csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> Response:
        sessions.revoke(get_deps(request), signed.current, session_id, client_of(request))
        return redirect(request, "/security", done="session_revoked")

    return act(request, csrf_token, action)


@router.post("/password")
def change_password(request: Request, new_password: str = Form(""), csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> Response:
        accounts.change_password(
            get_deps(request), signed.current, new_password=new_password, client=client_of(request)
        )
        return redirect(request, "/security", done="password_changed")

    return act(request, csrf_token, action)


@router.post("/two-factor/disable")
def disable_two_factor(request: Request, csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> Response:
        two_factor.disable(get_deps(request), signed.current, client_of(request))
        return redirect(request, "/security", done="two_factor_disabled")

    return act(request, csrf_token, action)


@router.post("/devices/{device_id}/rename")
def rename_device(
    request: Request, device_id: str, name: str = Form(""), csrf_token: str = Form("")
) -> Response:
    def action(signed: Signed) -> Response:
        trusted_devices.rename(
            get_deps(request), signed.current, device_id, name=name, client=client_of(request)
        )
        return redirect(request, "/security", done="device_renamed")

    return act(request, csrf_token, action)


@router.post("/devices/{device_id}/revoke")
def revoke_device(request: Request, device_id: str, csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> Response:
        trusted_devices.revoke(get_deps(request), signed.current, device_id, client_of(request))
        return redirect(request, "/security", done="device_revoked")

    return act(request, csrf_token, action)


@router.post("/sessions/revoke-others")
def revoke_other_sessions(request: Request, csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> Response:
        sessions.revoke_others(get_deps(request), signed.current, client_of(request))
        return redirect(request, "/security", done="others_signed_out")

    return act(request, csrf_token, action)


@router.post("/notifications")
async def save_notifications(request: Request) -> Response:
    """Checked boxes are the messages the owner wants; the informational ones left unchecked
    are muted (critical ones have no box)."""
    form = await request.form()
    wanted = {str(v) for v in form.getlist("wanted")}

    def action(signed: Signed) -> Response:
        informational = [t for t in NOTIFICATION_NAMES if t not in {c.value for c in CRITICAL}]
        muted = [t for t in informational if t not in wanted]
        preferences.set_muted(get_deps(request), signed.current, muted, client_of(request))
        return redirect(request, "/security", done="notifications_saved")

    return act(request, str(form.get("csrf_token", "")), action)


@router.post("/time-zone")
def save_time_zone(request: Request, time_zone: str = Form(""), csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> Response:
        zone = time_zone.strip()
        preferences.set_time_zone(get_deps(request), signed.current.account.id, zone or None)
        return redirect(request, "/security", done="time_zone_saved")

    return act(request, csrf_token, action)
