"""Repositories of the support console: staff roles and the recovery audit trail, and the
console's reading of requests and of the clients an account's owner used."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select

from sparekey.core.events import EventType
from sparekey.core.models import RecoveryAction, RecoveryRequest
from sparekey.store import tables as t
from sparekey.store.repo import OPEN_RECOVERIES, _Repo, _row, recovery_request


class SqlRoles(_Repo):
    def grant(self, account_id: str, role: str, *, at: datetime) -> bool:
        return self._insert_new(t.account_roles, {"account_id": account_id, "role": role, "granted_at": at})

    def revoke(self, account_id: str, role: str) -> bool:
        c = t.account_roles.c
        result = self.conn.execute(delete(t.account_roles).where(c.account_id == account_id, c.role == role))
        return result.rowcount == 1

    def for_account(self, account_id: str) -> list[str]:
        c = t.account_roles.c
        rows = self.conn.execute(select(c.role).where(c.account_id == account_id).order_by(c.role))
        return [row[0] for row in rows]

    def has(self, account_id: str, role: str) -> bool:
        c = t.account_roles.c
        query = select(c.role).where(c.account_id == account_id, c.role == role)
        return self.conn.execute(query).first() is not None


class SqlRecoveryActions(_Repo):
    def add(self, action: RecoveryAction) -> None:
        values = {k: v for k, v in vars(action).items() if k != "id"}
        self.conn.execute(insert(t.recovery_actions).values(**values))

    def for_request(self, request_id: str) -> list[RecoveryAction]:
        c = t.recovery_actions.c
        rows = self.conn.execute(
            select(t.recovery_actions).where(c.request_id == request_id).order_by(c.at, c.id)
        )
        return [RecoveryAction(**_row(row)) for row in rows]

    def count(self, request_id: str, *, action: str) -> int:
        c = t.recovery_actions.c
        query = select(func.count()).where(c.request_id == request_id, c.action == action)
        return int(self.conn.execute(query).scalar_one())

    def queue(self, *, open_only: bool, limit: int) -> list[tuple[RecoveryRequest, str | None, int]]:
        r, a, actions = t.recovery_requests, t.accounts, t.recovery_actions
        count = (
            select(func.count())
            .where(actions.c.request_id == r.c.id)
            .correlate(r)
            .scalar_subquery()
            .label("actions_count")
        )
        query = (
            select(r, a.c.username.label("account_username"), count)
            .select_from(r.outerjoin(a, a.c.id == r.c.account_id))
            .where(r.c.support_requested_at.is_not(None))
            .order_by(r.c.created_at.desc(), r.c.id)
            .limit(limit)
        )
        if open_only:
            query = query.where(r.c.state.in_(OPEN_RECOVERIES))
        found = []
        for row in self.conn.execute(query):
            data = _row(row)
            username, actions_count = data.pop("account_username"), int(data.pop("actions_count"))
            found.append((recovery_request(data), username, actions_count))
        return found

    def username_of(self, request_id: str) -> str | None:
        r, a = t.recovery_requests, t.accounts
        query = (
            select(a.c.username).select_from(r.join(a, a.c.id == r.c.account_id)).where(r.c.id == request_id)
        )
        row = self.conn.execute(query).first()
        return row[0] if row else None

    def seen_clients(self, account_id: str, *, limit: int) -> tuple[set[str], set[str]]:
        addresses: set[str] = set()
        agents: set[str] = set()

        def keep(ip: Any, user_agent: Any) -> None:
            if isinstance(ip, str) and ip:
                addresses.add(ip)
            if isinstance(user_agent, str) and user_agent:
                agents.add(user_agent)

        for table in (t.sessions, t.trusted_devices):
            for ip, user_agent in self.conn.execute(
                select(table.c.ip, table.c.user_agent).where(table.c.account_id == account_id)
            ):
                keep(ip, user_agent)
        e = t.events.c
        sign_ins = (
            select(e.data)
            .where(e.account_id == account_id, e.type == EventType.SIGN_IN.value)
            .order_by(e.id.desc())
            .limit(limit)
        )
        for (data,) in self.conn.execute(sign_ins):
            if isinstance(data, dict) and data.get("result") == "success":
                keep(data.get("ip"), data.get("user_agent"))
        return addresses, agents
