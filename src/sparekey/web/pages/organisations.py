"""Organisation pages: ``/orgs`` (the caller's organisations, creating one, invitations to
answer) and ``/orgs/{id}`` (members, inviting, the policy, roles, removal, the reset of a
member's second factors after sudo). The same use cases as the API (core/flows/organisations.py)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from sparekey.core.errors import NotFound, SparekeyError, SudoRequired
from sparekey.core.flows import organisations
from sparekey.core.flows.organisations import MANAGERS, MAX_GRACE_DAYS
from sparekey.core.models import OrganisationRole
from sparekey.web.dependencies import Signed, get_deps
from sparekey.web.pages.rendering import check_csrf, error_text, redirect, render
from sparekey.web.pages.security import signed_or_login, to_sudo
from sparekey.web.request_info import client_of

router = APIRouter(prefix="/orgs")

ROLE_NAMES = {
    OrganisationRole.OWNER: "Owner",
    OrganisationRole.ADMIN: "Administrator",
    OrganisationRole.MEMBER: "Member",
}
DONE_MESSAGES = {
    "created": "The organisation was created.",
    "invited": "If that username is an account's, the person is invited.",
    "joined": "You joined the organisation.",
    "declined": "You declined the invitation.",
    "left": "You left the organisation.",
    "removed": "The member was removed.",
    "role": "The role was changed.",
    "policy": "The policy was saved.",
    "reset": "Two-step verification of the member was reset. They were told and signed out everywhere.",
}


def list_page(request: Request, signed: Signed, status: int = 200, error: str | None = None) -> Response:
    deps = get_deps(request)
    account = signed.current.account
    request.state.time_zone = account.time_zone
    return render(
        request,
        "org_list.html",
        status,
        memberships=organisations.list_for(deps, account.id),
        invitations=organisations.invitations_for(deps, account.id),
        role_names=ROLE_NAMES,
        done=DONE_MESSAGES.get(request.query_params.get("done", "")),
        error=error,
    )


def detail_page(
    request: Request, signed: Signed, organisation_id: str, status: int = 200, error: str | None = None
) -> Response:
    deps = get_deps(request)
    request.state.time_zone = signed.current.account.time_zone
    try:
        seen = organisations.view(deps, signed.current, organisation_id)
    except NotFound as missing:
        return list_page(request, signed, missing.status, error_text(request, missing))
    return render(
        request,
        "org_detail.html",
        status,
        seen=seen,
        org=seen.organisation,
        me=signed.current.account.username,
        manager=seen.role in MANAGERS,
        roles=[r.value for r in OrganisationRole],
        role_names=ROLE_NAMES,
        max_grace_days=MAX_GRACE_DAYS,
        in_sudo=signed.current.in_sudo(deps.clock.now()),
        done=DONE_MESSAGES.get(request.query_params.get("done", "")),
        error=error,
    )


def act(
    request: Request, csrf_token: str, organisation_id: str | None, action: Callable[[Signed], Response]
) -> Response:
    """CSRF first, then the session; an error shows the page again, saying why."""
    check_csrf(request, csrf_token)
    signed = signed_or_login(request)
    if isinstance(signed, Response):
        return signed
    try:
        return action(signed)
    except SparekeyError as error:
        if organisation_id is None:
            return list_page(request, signed, error.status, error_text(request, error))
        return detail_page(request, signed, organisation_id, error.status, error_text(request, error))


def _page_of(organisation_id: str) -> str:
    return f"/orgs/{quote(organisation_id, safe='')}"


@router.get("")
def organisations_list(request: Request) -> Response:
    signed = signed_or_login(request)
    return signed if isinstance(signed, Response) else list_page(request, signed)


@router.post("")
def create(request: Request, name: str = Form(""), csrf_token: str = Form("")) -> Response:
    def action(signed: Signed) -> Response:
        made = organisations.create(get_deps(request), signed.current, name=name, client=client_of(request))
        return redirect(request, _page_of(made.organisation.id), done="created")

    return act(request, csrf_token, None, action)


@router.post("/invitations/{invitation_id}")
def answer_invitation(
    request: Request, invitation_id: str, accept: str = Form(""), csrf_token: str = Form("")
) -> Response:
    def action(signed: Signed) -> Response:
        joined = organisations.answer(
            get_deps(request),
            signed.current,
            invitation_id,
            accept=accept == "yes",
            client=client_of(request),
        )
        if joined is None:
            return redirect(request, "/orgs", done="declined")
        return redirect(request, _page_of(joined.organisation.id), done="joined")

    return act(request, csrf_token, None, action)


@router.get("/{organisation_id}")
def organisation(request: Request, organisation_id: str) -> Response:
    signed = signed_or_login(request)
    return signed if isinstance(signed, Response) else detail_page(request, signed, organisation_id)


@router.post("/{organisation_id}/invitations")
def invite(
    request: Request,
    organisation_id: str,
    username: str = Form(""),
    role: str = Form("member"),
    csrf_token: str = Form(""),
) -> Response:
    def action(signed: Signed) -> Response:
        organisations.invite(
            get_deps(request),
            signed.current,
            organisation_id,
            username=username.replace("\x00", ""),
            role=role,
            client=client_of(request),
        )
        return redirect(request, _page_of(organisation_id), done="invited")

    return act(request, csrf_token, organisation_id, action)


@router.post("/{organisation_id}/policy")
def set_policy(
    request: Request,
    organisation_id: str,
    require_two_factor: str = Form(""),
    grace_days: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    def action(signed: Signed) -> Response:
        days = int(grace_days) if grace_days.strip().isdigit() and len(grace_days) < 6 else -1
        organisations.set_policy(
            get_deps(request),
            signed.current,
            organisation_id,
            require_two_factor=require_two_factor == "yes",
            grace_days=days,
        )
        return redirect(request, _page_of(organisation_id), done="policy")

    return act(request, csrf_token, organisation_id, action)


@router.post("/{organisation_id}/members/{username}/role")
def change_role(
    request: Request, organisation_id: str, username: str, role: str = Form(""), csrf_token: str = Form("")
) -> Response:
    def action(signed: Signed) -> Response:
        organisations.change_role(get_deps(request), signed.current, organisation_id, username, role=role)
        return redirect(request, _page_of(organisation_id), done="role")

    return act(request, csrf_token, organisation_id, action)


@router.post("/{organisation_id}/members/{username}/remove")
def remove_member(
    request: Request, organisation_id: str, username: str, csrf_token: str = Form("")
) -> Response:
    def action(signed: Signed) -> Response:
        organisations.remove_member(
            get_deps(request), signed.current, organisation_id, username, client=client_of(request)
        )
        if username == signed.current.account.username:
            return redirect(request, "/orgs", done="left")
        return redirect(request, _page_of(organisation_id), done="removed")

    return act(request, csrf_token, organisation_id, action)


@router.post("/{organisation_id}/members/{username}/reset")
def reset_member(
    request: Request, organisation_id: str, username: str, reason: str = Form(""), csrf_token: str = Form("")
) -> Response:
    """Without sudo, the sudo page first, then back to this organisation (the reason is typed
    again, like the new password of "secure my account")."""

    def action(signed: Signed) -> Response:
        try:
            organisations.reset_member(
                get_deps(request),
                signed.current,
                organisation_id,
                username,
                reason=reason,
                client=client_of(request),
            )
        except SudoRequired:
            return to_sudo(request, _page_of(organisation_id))
        return redirect(request, _page_of(organisation_id), done="reset")

    return act(request, csrf_token, organisation_id, action)
