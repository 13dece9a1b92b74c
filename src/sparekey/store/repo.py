"""The base of every SQL repository (``store/sql*.py``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection


def _row(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


class _Repo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @property
    def _dialect(self) -> str:
        return self.conn.dialect.name
