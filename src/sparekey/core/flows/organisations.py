"""Organisations: members with a role, invitations, a policy that requires two-step
verification after a grace period, and an administrator's reset of a member's second factors.

Roles: an **owner** does everything; an **admin** invites members and admins, removes members
and admins, sets the policy and resets the second factors of members and admins; a **member**
reads the member list and may leave. An organisation always keeps an owner.

What an outsider learns: nothing. An organisation that the caller does not belong to answers
``not_found`` exactly like one that does not exist, and inviting a username answers the same
whether or not an account has that name.

The policy (``require_two_factor``, ``grace_days``) applies to a member from
``max(required_since, joined_at) + grace_days``: from then on, a session made for the member
while their account has no second factor is restricted to setting one up
(``SessionRestriction.ENROL_SECOND_FACTOR``, set by ``restrict_at_sign_in`` when the session is
made). The first confirmed factor lifts it (``core/flows/lifecycle.factor_confirmed``); so does
the requirement going away (``enforced_requirements`` re-reads it for a restricted session).

An admin's reset (``reset_second_factors``), in one transaction: the member is told on every
channel first (their phones still hear it), every factor goes, every session of theirs ends,
and the reset is recorded with who did it, for which organisation and why. The admin learns
nothing about the member's factors.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sparekey.core import events, usernames
from sparekey.core.crypto import new_id, plausible_id
from sparekey.core.deps import Deps
from sparekey.core.errors import NotFound, OrgNeedsOwner, OrgRoleRequired, ValidationFailed
from sparekey.core.events import EventType
from sparekey.core.flows import delivery, lifecycle, notify
from sparekey.core.flows.sessions import Current, require_sudo
from sparekey.core.models import (
    Account,
    Client,
    Organisation,
    OrganisationInvitation,
    OrganisationMember,
    OrganisationRole,
    Session,
    SessionRestriction,
)
from sparekey.core.names import required_name
from sparekey.core.notifications import NotificationType
from sparekey.core.ports import Transaction

INVITATION_DAYS = 7
MAX_GRACE_DAYS = 90
DEFAULT_GRACE_DAYS = 7
REASON_MAX = 500
OPERATOR = "operator"  # ``by`` of a reset the operator made with the CLI

OWNER, ADMIN, MEMBER = OrganisationRole.OWNER, OrganisationRole.ADMIN, OrganisationRole.MEMBER
MANAGERS = frozenset({OWNER, ADMIN})


@dataclass(frozen=True)
class Membership:
    organisation: Organisation
    role: OrganisationRole
    joined_at: datetime


@dataclass(frozen=True)
class MemberView:
    username: str
    role: OrganisationRole
    joined_at: datetime
    two_factor: bool


@dataclass(frozen=True)
class OrganisationView:
    organisation: Organisation
    role: OrganisationRole  # the caller's
    members: list[MemberView]


@dataclass(frozen=True)
class InvitationView:
    invitation: OrganisationInvitation
    organisation: Organisation


@dataclass(frozen=True)
class Requirement:
    """An organisation that requires two-step verification of the account, from ``enforced_from``."""

    organisation: Organisation
    enforced_from: datetime

    def enforced(self, now: datetime) -> bool:
        return self.enforced_from <= now


def _lock(tx: Transaction, organisation_id: str) -> None:
    tx.locks.hold(f"organisation:{organisation_id}")


def _role(raw: str) -> OrganisationRole:
    try:
        return OrganisationRole(raw)
    except ValueError:
        raise ValidationFailed(field="role", allowed=[r.value for r in OrganisationRole]) from None


def _membership_of(
    tx: Transaction, organisation_id: str, account_id: str
) -> tuple[Organisation, OrganisationMember]:
    """The organisation and the caller's membership; ``not_found`` for anyone else, as for an id
    that names nothing."""
    if not plausible_id(organisation_id):
        raise NotFound()
    member = tx.organisations.member(organisation_id, account_id)
    organisation = tx.organisations.get(organisation_id) if member is not None else None
    if member is None or organisation is None:
        raise NotFound()
    return organisation, member


def _require(member: OrganisationMember, roles: Iterable[OrganisationRole]) -> None:
    allowed = set(roles)
    if member.role not in allowed:
        needed = OWNER if allowed == {OWNER} else ADMIN
        raise OrgRoleRequired(role=needed.value)


def _target(tx: Transaction, organisation_id: str, username: str) -> tuple[Account, OrganisationMember]:
    """A member named by username; ``not_found`` for a name that is not a member's."""
    name = usernames.canonical(username)
    account = tx.accounts.by_username(name) if name else None
    member = tx.organisations.member(organisation_id, account.id) if account else None
    if account is None or member is None:
        raise NotFound()
    return account, member


# Creating and reading --------------------------------------------------------------------


def create(deps: Deps, current: Current, *, name: str, client: Client) -> Membership:
    """A new organisation, its creator its owner."""
    clean = required_name(name)
    with deps.store.transaction() as tx:
        organisation = _found(tx, deps, clean, current.account.id, client)
    return Membership(organisation=organisation, role=OWNER, joined_at=organisation.created_at)


def operator_create(deps: Deps, name: str, *, owner: str) -> Organisation | None:
    """``sparekey admin org-create NAME --owner USER``: None for an owner name that is no account's."""
    clean = required_name(name)
    canonical_name = usernames.canonical(owner)
    with deps.store.transaction() as tx:
        account = tx.accounts.by_username(canonical_name) if canonical_name else None
        return _found(tx, deps, clean, account.id, None) if account else None


def _found(tx: Transaction, deps: Deps, name: str, owner_id: str, client: Client | None) -> Organisation:
    now = deps.clock.now()
    organisation = Organisation(id=new_id(), name=name, created_at=now, grace_days=DEFAULT_GRACE_DAYS)
    tx.organisations.add(organisation)
    tx.organisations.add_member(OrganisationMember(organisation.id, owner_id, OWNER, joined_at=now))
    _joined(tx, deps, owner_id, organisation, OWNER, client)
    return organisation


def list_for(deps: Deps, account_id: str) -> list[Membership]:
    with deps.store.transaction() as tx:
        found = tx.organisations.memberships(account_id)
    return [Membership(organisation=o, role=m.role, joined_at=m.joined_at) for o, m in found]


def view(deps: Deps, current: Current, organisation_id: str) -> OrganisationView:
    """Members only: the policy and the member list, the same for every role."""
    with deps.store.transaction() as tx:
        organisation, me = _membership_of(tx, organisation_id, current.account.id)
        members = [
            MemberView(
                username=account.username,
                role=member.role,
                joined_at=member.joined_at,
                two_factor=account.two_factor_enabled,
            )
            for member, account in tx.organisations.members(organisation_id)
        ]
    return OrganisationView(organisation=organisation, role=me.role, members=members)


# Invitations ------------------------------------------------------------------------------


def invite(
    deps: Deps, current: Current, organisation_id: str, *, username: str, role: str, client: Client
) -> None:
    """Admins and owners invite; only an owner invites an owner. The answer is the same whether
    the name is an account's, a member's already, or nobody's: nothing to enumerate."""
    wanted = _role(role)
    now = deps.clock.now()
    with deps.store.transaction() as tx:
        organisation, me = _membership_of(tx, organisation_id, current.account.id)
        _require(me, {OWNER} if wanted == OWNER else MANAGERS)
        name = usernames.canonical(username)
        invitee = tx.accounts.by_username(name) if name else None
        if invitee is None or tx.organisations.member(organisation.id, invitee.id) is not None:
            return
        if tx.organisations.open_invitation(organisation.id, invitee.id, now) is not None:
            return  # one open invitation at a time; the first one stands
        tx.organisations.add_invitation(
            OrganisationInvitation(
                id=new_id(),
                organisation_id=organisation.id,
                account_id=invitee.id,
                role=wanted,
                created_at=now,
                expires_at=now + timedelta(days=INVITATION_DAYS),
                invited_by=current.account.id,
            )
        )


def invitations_for(deps: Deps, account_id: str) -> list[InvitationView]:
    with deps.store.transaction() as tx:
        found = tx.organisations.invitations_for(account_id, deps.clock.now())
    return [InvitationView(invitation=i, organisation=o) for i, o in found]


def answer(
    deps: Deps, current: Current, invitation_id: str, *, accept: bool, client: Client
) -> Membership | None:
    """The invitee accepts (and joins with the invited role) or declines, once; anyone else,
    or an answered or expired invitation, gets ``not_found``."""
    now = deps.clock.now()
    with deps.store.transaction() as tx:
        invitation = tx.organisations.get_invitation(invitation_id) if plausible_id(invitation_id) else None
        if invitation is None or invitation.account_id != current.account.id:
            raise NotFound()
        _lock(tx, invitation.organisation_id)
        if not tx.organisations.answer_invitation(invitation.id, current.account.id, accepted=accept, at=now):
            raise NotFound()
        organisation = tx.organisations.get(invitation.organisation_id)
        if not accept or organisation is None:
            return None
        joined = OrganisationMember(organisation.id, current.account.id, invitation.role, joined_at=now)
        if tx.organisations.add_member(joined):
            _joined(tx, deps, current.account.id, organisation, invitation.role, client)
            return Membership(organisation=organisation, role=invitation.role, joined_at=now)
        already = tx.organisations.member(organisation.id, current.account.id)  # joined in between
        if already is None:
            raise NotFound()
        return Membership(organisation=organisation, role=already.role, joined_at=already.joined_at)


def _joined(
    tx: Transaction,
    deps: Deps,
    account_id: str,
    organisation: Organisation,
    role: OrganisationRole,
    client: Client | None,
) -> None:
    events.record(
        tx,
        deps.clock,
        account_id,
        EventType.ORGANISATION_JOINED,
        client,
        organisation=organisation.name,
        organisation_id=organisation.id,
        role=role.value,
    )


# Members ----------------------------------------------------------------------------------


def change_role(
    deps: Deps, current: Current, organisation_id: str, username: str, *, role: str
) -> MemberView:
    """Owners only; the last owner cannot step down (``org_needs_owner``)."""
    wanted = _role(role)
    with deps.store.transaction() as tx:
        _organisation, me = _membership_of(tx, organisation_id, current.account.id)
        _require(me, {OWNER})
        _lock(tx, organisation_id)
        account, member = _target(tx, organisation_id, username)
        if member.role != wanted and not tx.organisations.set_role(organisation_id, account.id, wanted.value):
            raise OrgNeedsOwner()
    return MemberView(account.username, wanted, member.joined_at, account.two_factor_enabled)


def remove_member(
    deps: Deps, current: Current, organisation_id: str, username: str, *, client: Client
) -> None:
    """Anyone may leave; an admin removes members and admins, an owner anyone. The last owner
    stays (``org_needs_owner``)."""
    with deps.store.transaction() as tx:
        organisation, me = _membership_of(tx, organisation_id, current.account.id)
        _lock(tx, organisation_id)
        account, member = _target(tx, organisation_id, username)
        leaving = account.id == current.account.id
        if not leaving:
            _require(me, {OWNER} if member.role == OWNER else MANAGERS)
        if not tx.organisations.remove_member(organisation_id, account.id):
            raise OrgNeedsOwner()
        data = {"organisation": organisation.name, "organisation_id": organisation.id}
        if not leaving:
            data["by"] = current.account.username
        events.record(
            tx, deps.clock, account.id, EventType.ORGANISATION_LEFT, client if leaving else None, **data
        )


# The policy and what it enforces -----------------------------------------------------------


def set_policy(
    deps: Deps, current: Current, organisation_id: str, *, require_two_factor: bool, grace_days: int
) -> Organisation:
    """Admins and owners. ``required_since`` is set when the requirement is turned on and kept
    while it stays on; turning it off clears it."""
    if not 0 <= grace_days <= MAX_GRACE_DAYS:
        raise ValidationFailed(field="grace_days", minimum=0, maximum=MAX_GRACE_DAYS)
    with deps.store.transaction() as tx:
        organisation, me = _membership_of(tx, organisation_id, current.account.id)
        _require(me, MANAGERS)
        since = None
        if require_two_factor:
            since = organisation.required_since if organisation.require_two_factor else deps.clock.now()
        tx.organisations.set_policy(
            organisation.id,
            require_two_factor=require_two_factor,
            grace_days=grace_days,
            required_since=since,
        )
    organisation.require_two_factor, organisation.grace_days = require_two_factor, grace_days
    organisation.required_since = since
    return organisation


def _requirements(tx: Transaction, account_id: str) -> list[Requirement]:
    found = []
    for organisation, member in tx.organisations.requiring_two_factor(account_id):
        start = max(organisation.required_since or member.joined_at, member.joined_at)
        found.append(Requirement(organisation, start + timedelta(days=organisation.grace_days)))
    return sorted(found, key=lambda r: (r.enforced_from, r.organisation.name))


def requirements(deps: Deps, account: Account) -> list[Requirement]:
    """What the account's organisations require of it while it has no second factor (none once
    it has one): the grace periods still running and the ones already enforced."""
    if account.two_factor_enabled:
        return []
    with deps.store.transaction() as tx:
        return _requirements(tx, account.id)


def restrict_at_sign_in(tx: Transaction, deps: Deps, account: Account, session: Session) -> None:
    """Called as a session is made: without a second factor, past an organisation's grace
    period, the session may only set one up."""
    if account.two_factor_enabled:
        return
    now = deps.clock.now()
    if any(r.enforced(now) for r in _requirements(tx, account.id)):
        restriction = SessionRestriction.ENROL_SECOND_FACTOR.value
        tx.sessions.set_restriction(session.id, restriction)
        session.restriction = restriction


def enforced_requirements(deps: Deps, current: Current) -> list[Requirement]:
    """For a restricted session: the requirements that still hold. When none does (a factor was
    set up elsewhere, the member left, the policy was turned off), the restriction is lifted."""
    if current.session.restriction is None:
        return []
    now = deps.clock.now()
    with deps.store.transaction() as tx:
        account = tx.accounts.get(current.account.id)
        holding = (
            [] if account is None or account.two_factor_enabled else _requirements(tx, current.account.id)
        )
        enforced = [r for r in holding if r.enforced(now)]
        if not enforced:
            tx.sessions.set_restriction(current.session.id, None)
    if not enforced:
        current.session.restriction = None
    return enforced


# Resetting a member's second factors -------------------------------------------------------


def _reason(raw: str) -> str:
    reason = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not reason or len(reason) > REASON_MAX or any(unicodedata.category(ch) == "Cc" for ch in reason):
        raise ValidationFailed(field="reason", min_length=1, max_length=REASON_MAX)
    return reason


def reset_member(
    deps: Deps, current: Current, organisation_id: str, username: str, *, reason: str, client: Client
) -> None:
    """An admin or owner resets a member's second factors (an admin not an owner's), in sudo
    mode. Not one's own: that is the security page's "turn off"."""
    clean = _reason(reason)
    with deps.store.transaction() as tx:
        organisation, me = _membership_of(tx, organisation_id, current.account.id)
        _require(me, MANAGERS)
        _lock(tx, organisation_id)
        account, member = _target(tx, organisation_id, username)
        if member.role == OWNER:
            _require(me, {OWNER})
        if account.id == current.account.id:
            raise ValidationFailed(field="username", reason="self")
        require_sudo(deps, current)
        message_ids = _reset(
            tx,
            deps,
            account.id,
            by=current.account.username,
            organisation=organisation.name,
            reason=clean,
            client=client,
        )
    delivery.deliver(deps, message_ids)


def operator_reset(deps: Deps, username: str, *, reason: str) -> bool:
    """``sparekey admin reset-2fa USER --reason``: the same reset, by the operator, in the name
    of the service (its issuer name). False for a name that is no account's."""
    clean = _reason(reason)
    name = usernames.canonical(username)
    with deps.store.transaction() as tx:
        account = tx.accounts.by_username(name) if name else None
        if account is None:
            return False
        message_ids = _reset(
            tx, deps, account.id, by=OPERATOR, organisation=deps.policy.issuer, reason=clean, client=Client()
        )
    delivery.deliver(deps, message_ids)
    return True


def _reset(
    tx: Transaction, deps: Deps, account_id: str, *, by: str, organisation: str, reason: str, client: Client
) -> list[str | None]:
    """Told first on every channel, then every factor gone, every session ended, recorded; the
    caller delivers the returned message ids after its commit."""
    account = tx.accounts.get_for_update(account_id)
    if account is None:
        raise NotFound()
    message_ids = notify.tell_everywhere(
        tx, deps, account, NotificationType.TWO_FACTOR_RESET, client, organisation=organisation, reason=reason
    )
    if account.two_factor_enabled:
        lifecycle.disable_two_factor(tx, deps, account, client)
    else:
        lifecycle.credentials_changed(tx, deps, account.id, reason="two_factor_reset", client=client)
    sessions_ended = tx.sessions.delete_for_account(account.id)
    events.record(
        tx,
        deps.clock,
        account.id,
        EventType.TWO_FACTOR_RESET,
        client,
        by=by,
        organisation=organisation,
        reason=reason,
        sessions_ended=sessions_ended,
    )
    return message_ids
