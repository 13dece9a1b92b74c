"""Forward-auth's reads (core/flows/forward_auth.py): the groups the operator gives an account
(``account_groups``), the one statement that reads an account's organisations, own groups and
verified e-mail addresses together, and the snapshot of a signed-in session.

``session_snapshot`` runs on every request to every protected application, so it skips what a
unit of work costs: it reads on a pooled driver connection outside any transaction (on SQLite
no ``BEGIN IMMEDIATE``, so the checks neither queue for the write lock nor make writers queue
for them), with its two statements compiled once per dialect. It writes nothing: the flow hands
any session that needs a write (expired, idle, last seen a minute ago) to
``sessions.authenticate``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    Dialect,
    Engine,
    Select,
    bindparam,
    delete,
    literal_column,
    select,
    union_all,
)

from sparekey.core.models import Account, Session
from sparekey.core.ports import GroupFacts, SessionSnapshot
from sparekey.store import tables as t
from sparekey.store.repo import _Repo

_ORGANISATION, _GROUP, _EMAIL = "o", "g", "e"


def _facts_statement() -> CompoundSelect[tuple[str, str, datetime]]:
    """Three indexed reads by account id in one round trip: ``(kind, value, at)`` rows."""
    m, g, c = t.organisation_members.c, t.account_groups.c, t.contacts.c
    account: BindParameter[str] = bindparam("p_account")
    return union_all(
        select(
            literal_column(f"'{_ORGANISATION}'").label("kind"),
            m.organisation_id.label("value"),
            m.joined_at.label("at"),
        ).where(m.account_id == account),
        select(literal_column(f"'{_GROUP}'"), g.name, g.added_at).where(g.account_id == account),
        select(literal_column(f"'{_EMAIL}'"), c.address, c.verified_at).where(
            c.account_id == account, c.kind == "email", c.verified_at.is_not(None)
        ),
    )


_FACTS = _facts_statement()  # built once


def _facts(rows: Sequence[Sequence[Any]]) -> GroupFacts:
    found: dict[str, list[tuple[datetime, str]]] = {_ORGANISATION: [], _GROUP: [], _EMAIL: []}
    for kind, value, at in rows:
        found[kind].append((at, value))
    return GroupFacts(
        organisation_ids=tuple(sorted(value for _at, value in found[_ORGANISATION])),
        groups=tuple(sorted(value for _at, value in found[_GROUP])),
        verified_emails=tuple(value for _at, value in sorted(found[_EMAIL])),
    )


class SqlGroups(_Repo):
    def add(self, account_id: str, name: str, at: datetime) -> bool:
        return self._insert_new(t.account_groups, {"account_id": account_id, "name": name, "added_at": at})

    def remove(self, account_id: str, name: str) -> bool:
        g = t.account_groups.c
        result = self.conn.execute(delete(t.account_groups).where(g.account_id == account_id, g.name == name))
        return result.rowcount == 1

    def for_account(self, account_id: str) -> list[str]:
        g = t.account_groups.c
        rows = self.conn.execute(select(g.name).where(g.account_id == account_id).order_by(g.name))
        return [row.name for row in rows]

    def facts(self, account_id: str) -> GroupFacts:
        rows = self.conn.execute(_FACTS, {"p_account": account_id})
        return _facts([tuple(row) for row in rows])


# The snapshot: driver-level reads --------------------------------------------------------------

_SESSION_COLUMNS = [(f"s_{c.name}", c) for c in t.sessions.c]
_ACCOUNT_COLUMNS = [(f"a_{c.name}", c) for c in t.accounts.c]
_SIGNED_IN = (
    select(*(c.label(label) for label, c in _SESSION_COLUMNS + _ACCOUNT_COLUMNS))
    .join_from(t.sessions, t.accounts, t.accounts.c.id == t.sessions.c.account_id)
    .where(t.sessions.c.token_hash == bindparam("p_hash"))
)


class _Compiled:
    """A statement as the driver takes it: its SQL for one dialect, how to pass its
    parameters, and the conversion of each result column (aware datetimes, booleans)."""

    def __init__(self, statement: Select[Any] | CompoundSelect[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.order = list(compiled.positiontup or []) if compiled.positional else None
        self.fixed = dict(compiled.params)  # the statement's own literals ("email")
        processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        ]
        self.convert: list[tuple[int, Callable[[Any], Any]]] = [
            (index, processor) for index, processor in enumerate(processors) if processor is not None
        ]

    def run(self, cursor: Any, **given: Any) -> list[list[Any]]:
        values = {**self.fixed, **given}
        cursor.execute(
            self.sql, tuple(values[name] for name in self.order) if self.order is not None else values
        )
        rows = [list(row) for row in cursor.fetchall()]
        for row in rows:
            for index, convert in self.convert:
                row[index] = convert(row[index])
        return rows


_COMPILED: dict[str, tuple[_Compiled, _Compiled]] = {}


def session_snapshot(engine: Engine, token_hash: str) -> SessionSnapshot | None:
    statements = _COMPILED.get(engine.dialect.name)
    if statements is None:
        statements = _COMPILED[engine.dialect.name] = (
            _Compiled(_SIGNED_IN, engine.dialect),
            _Compiled(_FACTS, engine.dialect),
        )
    signed_in, facts = statements
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            rows = signed_in.run(cursor, p_hash=token_hash)
            if not rows:
                return None
            values = rows[0]
            session = Session(**{c.name: v for (_l, c), v in zip(_SESSION_COLUMNS, values, strict=False)})
            account_values = values[len(_SESSION_COLUMNS) :]
            account = Account(
                **{c.name: v for (_l, c), v in zip(_ACCOUNT_COLUMNS, account_values, strict=True)}
            )
            return SessionSnapshot(session, account, _facts(facts.run(cursor, p_account=session.account_id)))
        finally:
            cursor.close()
    finally:
        connection.close()  # back to the pool, which ends the driver's implicit read transaction
