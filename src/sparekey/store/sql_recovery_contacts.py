"""Repository of recovery contacts and the asks made of them (core/flows/recovery_contacts.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from sparekey.core.models import RecoveryContact, RecoveryContactAsk
from sparekey.store import tables as t
from sparekey.store.repo import _Repo, _row


class SqlRecoveryContacts(_Repo):
    def add(self, contact: RecoveryContact) -> bool:
        # The pair is unique: naming someone twice (or twice at once) adds one row.
        return self._insert_new(t.recovery_contacts, vars(contact))

    def get(self, contact_id: str) -> RecoveryContact | None:
        c = t.recovery_contacts.c
        row = self.conn.execute(select(t.recovery_contacts).where(c.id == contact_id)).first()
        return RecoveryContact(**_row(row)) if row else None

    def _with_username(self, *, mine: Any, other: Any, account_id: str) -> list[tuple[RecoveryContact, str]]:
        c, a = t.recovery_contacts.c, t.accounts.c
        query = (
            select(t.recovery_contacts, a.username.label("other_username"))
            .join(t.accounts, a.id == other)
            .where(mine == account_id)
            .order_by(c.created_at, a.username)
        )
        found = []
        for row in self.conn.execute(query):
            data = _row(row)
            username = data.pop("other_username")
            found.append((RecoveryContact(**data), str(username)))
        return found

    def for_owner(self, account_id: str) -> list[tuple[RecoveryContact, str]]:
        c = t.recovery_contacts.c
        return self._with_username(mine=c.account_id, other=c.contact_account_id, account_id=account_id)

    def naming(self, contact_account_id: str) -> list[tuple[RecoveryContact, str]]:
        c = t.recovery_contacts.c
        return self._with_username(
            mine=c.contact_account_id, other=c.account_id, account_id=contact_account_id
        )

    def accept(self, contact_id: str, at: datetime) -> bool:
        c = t.recovery_contacts.c
        result = self.conn.execute(
            update(t.recovery_contacts)
            .where(c.id == contact_id, c.accepted_at.is_(None))
            .values(accepted_at=at)
        )
        return result.rowcount == 1

    def delete(self, contact_id: str) -> bool:
        c = t.recovery_contacts.c
        # Its asks go with it (ON DELETE CASCADE; SQLite runs with foreign_keys=ON).
        return self.conn.execute(delete(t.recovery_contacts).where(c.id == contact_id)).rowcount == 1

    def add_ask(self, ask: RecoveryContactAsk) -> None:
        self.conn.execute(t.recovery_contact_asks.insert().values(**vars(ask)))

    def get_ask(self, ask_id: str) -> RecoveryContactAsk | None:
        c = t.recovery_contact_asks.c
        row = self.conn.execute(select(t.recovery_contact_asks).where(c.id == ask_id)).first()
        return RecoveryContactAsk(**_row(row)) if row else None

    def unanswered_asks(self, contact_account_id: str) -> list[RecoveryContactAsk]:
        c = t.recovery_contact_asks.c
        query = (
            select(t.recovery_contact_asks)
            .where(c.contact_account_id == contact_account_id, c.answer.is_(None))
            .order_by(c.asked_at, c.id)
        )
        return [RecoveryContactAsk(**_row(row)) for row in self.conn.execute(query)]

    def answer(self, ask_id: str, *, contact_account_id: str, answer: str, at: datetime) -> bool:
        c = t.recovery_contact_asks.c
        result = self.conn.execute(
            update(t.recovery_contact_asks)
            .where(c.id == ask_id, c.contact_account_id == contact_account_id, c.answer.is_(None))
            .values(answer=answer, answered_at=at)
        )
        return result.rowcount == 1

    def asks_for_request(self, request_id: str) -> list[RecoveryContactAsk]:
        c = t.recovery_contact_asks.c
        query = select(t.recovery_contact_asks).where(c.request_id == request_id).order_by(c.asked_at, c.id)
        return [RecoveryContactAsk(**_row(row)) for row in self.conn.execute(query)]
