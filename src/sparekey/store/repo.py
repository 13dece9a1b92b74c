"""The base of every SQL repository (``store/sql*.py``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from sparekey.core.models import RecoveryRequest, RecoveryState


def _row(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


class _Repo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @property
    def _dialect(self) -> str:
        return self.conn.dialect.name

    def _insert_new(self, table: Table, values: dict[str, Any]) -> bool:
        """INSERT unless the row conflicts with one already there (its key or a unique pair);
        whether it was added. Read from RETURNING: psycopg reports -1 rows for this statement."""
        dialect_insert: Any = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        statement = (
            dialect_insert(table).values(**values).on_conflict_do_nothing().returning(*table.primary_key)
        )
        return self.conn.execute(statement).first() is not None


OPEN_RECOVERIES = (RecoveryState.COLLECTING.value, RecoveryState.WAITING.value)


def recovery_request(data: dict[str, Any]) -> RecoveryRequest:
    """A ``recovery_requests`` row (as ``_row`` gives it) as the model."""
    return RecoveryRequest(
        **{**data, "state": RecoveryState(data["state"]), "evidence": data["evidence"] or {}}
    )
