"""Repository of organisations, their members and invitations.

The two statements that could leave an organisation without an owner (a role change, a
removal) carry the rule in their own ``WHERE``: the row changes only when it is not an owner's,
or when another owner remains. The flow also holds the organisation's lock, so on PostgreSQL
two owners demoting each other at once run one after the other and the second one loses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, exists, insert, or_, select, update

from sparekey.core.models import (
    Account,
    Organisation,
    OrganisationInvitation,
    OrganisationMember,
    OrganisationRole,
)
from sparekey.store import tables as t
from sparekey.store.repo import _Repo, _row

_OWNER = OrganisationRole.OWNER.value


def _member(row: Any) -> OrganisationMember:
    data = _row(row)
    return OrganisationMember(
        organisation_id=data["organisation_id"],
        account_id=data["account_id"],
        role=OrganisationRole(data["role"]),
        joined_at=data["joined_at"],
    )


def _invitation(row: Any) -> OrganisationInvitation:
    data = _row(row)
    data["role"] = OrganisationRole(data["role"])
    return OrganisationInvitation(**data)


def _names(table: Any) -> list[str]:
    return [column.name for column in table.c]


def _organisation(data: dict[str, Any]) -> Organisation:
    return Organisation(**{key: data[key] for key in _names(t.organisations)})


def _another_owner(organisation_id: str, account_id: str) -> ColumnElement[bool]:
    """Some owner of the organisation other than ``account_id`` exists."""
    other = t.organisation_members.alias("other")
    return exists(
        select(other.c.account_id).where(
            other.c.organisation_id == organisation_id,
            other.c.role == _OWNER,
            other.c.account_id != account_id,
        )
    )


class SqlOrganisations(_Repo):
    def add(self, organisation: Organisation) -> None:
        self.conn.execute(insert(t.organisations).values(**vars(organisation)))

    def get(self, organisation_id: str) -> Organisation | None:
        row = self.conn.execute(
            select(t.organisations).where(t.organisations.c.id == organisation_id)
        ).first()
        return Organisation(**_row(row)) if row else None

    def set_policy(
        self,
        organisation_id: str,
        *,
        require_two_factor: bool,
        grace_days: int,
        required_since: datetime | None,
    ) -> None:
        self.conn.execute(
            update(t.organisations)
            .where(t.organisations.c.id == organisation_id)
            .values(
                require_two_factor=require_two_factor, grace_days=grace_days, required_since=required_since
            )
        )

    def add_member(self, member: OrganisationMember) -> bool:
        return self._insert_new(t.organisation_members, {**vars(member), "role": member.role.value})

    def member(self, organisation_id: str, account_id: str) -> OrganisationMember | None:
        m = t.organisation_members.c
        row = self.conn.execute(
            select(t.organisation_members).where(
                m.organisation_id == organisation_id, m.account_id == account_id
            )
        ).first()
        return _member(row) if row else None

    def members(self, organisation_id: str) -> list[tuple[OrganisationMember, Account]]:
        m, a = t.organisation_members.c, t.accounts.c
        rank = case((m.role == _OWNER, 0), (m.role == OrganisationRole.ADMIN.value, 1), else_=2)
        rows = self.conn.execute(
            select(t.organisation_members)
            .join(t.accounts, a.id == m.account_id)
            .where(m.organisation_id == organisation_id)
            .order_by(rank, a.username)
        ).all()
        members = [_member(row) for row in rows]
        if not members:
            return []
        accounts = {
            row.id: Account(**_row(row))
            for row in self.conn.execute(
                select(t.accounts).where(a.id.in_([member.account_id for member in members]))
            )
        }
        return [(member, accounts[member.account_id]) for member in members]

    def memberships(self, account_id: str) -> list[tuple[Organisation, OrganisationMember]]:
        return self._with_organisation(t.organisation_members.c.account_id == account_id)

    def requiring_two_factor(self, account_id: str) -> list[tuple[Organisation, OrganisationMember]]:
        return self._with_organisation(
            and_(t.organisation_members.c.account_id == account_id, t.organisations.c.require_two_factor)
        )

    def _with_organisation(self, where: ColumnElement[bool]) -> list[tuple[Organisation, OrganisationMember]]:
        m, o = t.organisation_members.c, t.organisations.c
        rows = self.conn.execute(
            select(t.organisations, m.account_id, m.role, m.joined_at)
            .join(t.organisation_members, m.organisation_id == o.id)
            .where(where)
            .order_by(o.name, o.id)
        )
        found = []
        for row in rows:
            data = _row(row)
            member = OrganisationMember(
                organisation_id=data["id"],
                account_id=data["account_id"],
                role=OrganisationRole(data["role"]),
                joined_at=data["joined_at"],
            )
            found.append((_organisation(data), member))
        return found

    def set_role(self, organisation_id: str, account_id: str, role: str) -> bool:
        m = t.organisation_members.c
        query = update(t.organisation_members).where(
            m.organisation_id == organisation_id, m.account_id == account_id
        )
        if role != _OWNER:  # a demotion: not of the last owner
            query = query.where(or_(m.role != _OWNER, _another_owner(organisation_id, account_id)))
        return self.conn.execute(query.values(role=role)).rowcount == 1

    def remove_member(self, organisation_id: str, account_id: str) -> bool:
        m = t.organisation_members.c
        result = self.conn.execute(
            delete(t.organisation_members).where(
                m.organisation_id == organisation_id,
                m.account_id == account_id,
                or_(m.role != _OWNER, _another_owner(organisation_id, account_id)),
            )
        )
        return result.rowcount == 1

    def add_invitation(self, invitation: OrganisationInvitation) -> None:
        values = {**vars(invitation), "role": invitation.role.value}
        self.conn.execute(insert(t.organisation_invitations).values(**values))

    def open_invitation(
        self, organisation_id: str, account_id: str, now: datetime
    ) -> OrganisationInvitation | None:
        i = t.organisation_invitations.c
        row = self.conn.execute(
            select(t.organisation_invitations)
            .where(
                i.organisation_id == organisation_id,
                i.account_id == account_id,
                i.answered_at.is_(None),
                i.expires_at > now,
            )
            .order_by(i.created_at.desc())
        ).first()
        return _invitation(row) if row else None

    def invitations_for(
        self, account_id: str, now: datetime
    ) -> list[tuple[OrganisationInvitation, Organisation]]:
        i, o = t.organisation_invitations, t.organisations
        rows = self.conn.execute(
            select(i, *(column.label(f"org_{column.name}") for column in o.c))
            .join(o, o.c.id == i.c.organisation_id)
            .where(i.c.account_id == account_id, i.c.answered_at.is_(None), i.c.expires_at > now)
            .order_by(i.c.created_at.desc(), i.c.id)
        )
        found = []
        for row in rows:
            data = _row(row)
            organisation = Organisation(**{key: data[f"org_{key}"] for key in _names(o)})
            invitation = OrganisationInvitation(**{key: data[key] for key in _names(i)})
            invitation.role = OrganisationRole(invitation.role)
            found.append((invitation, organisation))
        return found

    def get_invitation(self, invitation_id: str) -> OrganisationInvitation | None:
        i = t.organisation_invitations.c
        row = self.conn.execute(select(t.organisation_invitations).where(i.id == invitation_id)).first()
        return _invitation(row) if row else None

    def answer_invitation(self, invitation_id: str, account_id: str, *, accepted: bool, at: datetime) -> bool:
        i = t.organisation_invitations.c
        result = self.conn.execute(
            update(t.organisation_invitations)
            .where(
                i.id == invitation_id, i.account_id == account_id, i.answered_at.is_(None), i.expires_at > at
            )
            .values(answered_at=at, accepted=accepted)
        )
        return result.rowcount == 1
