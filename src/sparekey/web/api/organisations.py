"""Organisations (core/flows/organisations.py): ``/api/v1/orgs/...`` and the caller's
invitations, ``/api/v1/me/invitations``. Every call needs a session. An organisation the caller
does not belong to answers 404 ``not_found`` like one that does not exist; a role that does not
allow the call, 403 ``org_role_required``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from sparekey.core.deps import Deps
from sparekey.core.flows import organisations
from sparekey.core.flows.organisations import MAX_GRACE_DAYS, Membership, MemberView, Requirement
from sparekey.core.models import Account, Organisation
from sparekey.web.api.schemas import LookupText, _Body
from sparekey.web.dependencies import Signed, get_deps, signed_in
from sparekey.web.request_info import client_of

router = APIRouter(prefix="/api/v1", tags=["organisations"])


class NewOrganisationBody(_Body):
    name: str = Field(max_length=1000)


class InvitationBody(_Body):
    username: LookupText = Field(max_length=1000)
    role: str = Field(default="member", max_length=32)


class AnswerBody(_Body):
    accept: bool


class RoleBody(_Body):
    role: str = Field(max_length=32)


class PolicyBody(_Body):
    require_two_factor: bool
    grace_days: int = Field(default=organisations.DEFAULT_GRACE_DAYS, ge=0, le=MAX_GRACE_DAYS)


class ResetBody(_Body):
    reason: str = Field(min_length=1, max_length=2000)  # at most 500 once spaces are folded


def policy_json(organisation: Organisation) -> dict[str, Any]:
    since = organisation.required_since
    return {
        "require_two_factor": organisation.require_two_factor,
        "grace_days": organisation.grace_days,
        "required_since": since.isoformat() if since else None,
    }


def membership_json(membership: Membership) -> dict[str, Any]:
    return {
        "id": membership.organisation.id,
        "name": membership.organisation.name,
        "role": membership.role.value,
        "joined_at": membership.joined_at.isoformat(),
        "policy": policy_json(membership.organisation),
    }


def member_json(member: MemberView) -> dict[str, Any]:
    return {
        "username": member.username,
        "role": member.role.value,
        "joined_at": member.joined_at.isoformat(),
        "two_factor": member.two_factor,
    }


def requirements_json(deps: Deps, account: Account) -> list[dict[str, Any]]:
    """``organisation_requirements`` of ``GET /api/v1/me``."""
    return [requirement_json(r) for r in organisations.requirements(deps, account)]


def requirement_json(requirement: Requirement) -> dict[str, Any]:
    return {
        "organisation": requirement.organisation.name,
        "organisation_id": requirement.organisation.id,
        "enforced_from": requirement.enforced_from.isoformat(),
    }


@router.post("/orgs", status_code=201)
def create(
    body: NewOrganisationBody,
    request: Request,
    signed: Signed = Depends(signed_in),
    deps: Deps = Depends(get_deps),
) -> dict[str, Any]:
    membership = organisations.create(deps, signed.current, name=body.name, client=client_of(request))
    return membership_json(membership)


@router.get("/orgs")
def list_organisations(signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)) -> dict[str, Any]:
    found = organisations.list_for(deps, signed.current.account.id)
    return {"organisations": [membership_json(m) for m in found]}


@router.get("/orgs/{organisation_id}")
def read(
    organisation_id: str, signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)
) -> dict[str, Any]:
    seen = organisations.view(deps, signed.current, organisation_id)
    return {
        "id": seen.organisation.id,
        "name": seen.organisation.name,
        "role": seen.role.value,
        "policy": policy_json(seen.organisation),
        "members": [member_json(m) for m in seen.members],
    }


@router.post("/orgs/{organisation_id}/invitations", status_code=202)
def invite(
    organisation_id: str,
    body: InvitationBody,
    request: Request,
    signed: Signed = Depends(signed_in),
    deps: Deps = Depends(get_deps),
) -> dict[str, Any]:
    """The same 202 whether or not the username is an account's (or a member's already)."""
    organisations.invite(
        deps,
        signed.current,
        organisation_id,
        username=body.username,
        role=body.role,
        client=client_of(request),
    )
    return {"invited": True}


@router.get("/me/invitations")
def my_invitations(signed: Signed = Depends(signed_in), deps: Deps = Depends(get_deps)) -> dict[str, Any]:
    found = organisations.invitations_for(deps, signed.current.account.id)
    return {
        "invitations": [
            {
                "id": v.invitation.id,
                "organisation": {"id": v.organisation.id, "name": v.organisation.name},
                "role": v.invitation.role.value,
                "created_at": v.invitation.created_at.isoformat(),
                "expires_at": v.invitation.expires_at.isoformat(),
            }
            for v in found
        ]
    }


@router.post("/me/invitations/{invitation_id}")
def answer_invitation(
    invitation_id: str,
    body: AnswerBody,
    request: Request,
    signed: Signed = Depends(signed_in),
    deps: Deps = Depends(get_deps),
) -> dict[str, Any]:
    joined = organisations.answer(
        deps, signed.current, invitation_id, accept=body.accept, client=client_of(request)
    )
    if joined is None:
        return {"accepted": False}
    return {"accepted": True, "organisation": membership_json(joined)}


@router.patch("/orgs/{organisation_id}/members/{username}")
def change_role(
    organisation_id: str,
    username: str,
    body: RoleBody,
    signed: Signed = Depends(signed_in),
    deps: Deps = Depends(get_deps),
) -> dict[str, Any]:
    member = organisations.change_role(deps, signed.current, organisation_id, username, role=body.role)
    return member_json(member)


@router.delete("/orgs/{organisation_id}/members/{username}", status_code=204, response_class=Response)
def remove_member(
    organisation_id: str,
    username: str,
    request: Request,
    signed: Signed = Depends(signed_in),
    deps: Deps = Depends(get_deps),
) -> Response:
    organisations.remove_member(deps, signed.current, organisation_id, username, client=client_of(request))
    return Response(status_code=204)


@router.put("/orgs/{organisation_id}/policy")
def set_policy(
    organisation_id: str,
    body: PolicyBody,
    signed: Signed = Depends(signed_in),
    deps: Deps = Depends(get_deps),
) -> dict[str, Any]:
    organisation = organisations.set_policy(
        deps,
        signed.current,
        organisation_id,
        require_two_factor=body.require_two_factor,
        grace_days=body.grace_days,
    )
    return policy_json(organisation)


@router.post("/orgs/{organisation_id}/members/{username}/reset-2fa")
def reset_two_factor(
    organisation_id: str,
    username: str,
    body: ResetBody,
    request: Request,
    signed: Signed = Depends(signed_in),
    deps: Deps = Depends(get_deps),
) -> dict[str, Any]:
    """Nothing about the member's factors comes back: only that the reset was done."""
    organisations.reset_member(
        deps, signed.current, organisation_id, username, reason=body.reason, client=client_of(request)
    )
    return {"reset": True}
