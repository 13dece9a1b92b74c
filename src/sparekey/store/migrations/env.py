"""Alembic environment: the engine comes from ``sparekey.store.migrate``.

On SQLite, a migration that changes a column rebuilds its table (copy, drop, rename). With
foreign keys on, dropping the old table would cascade into the rows that point at it, so
foreign keys are off while the migrations run (SQLite's documented procedure for altering
a table), and every reference is checked before the migration commits.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from sparekey.store.tables import metadata

engine = context.config.attributes["engine"]


def _set_sqlite_foreign_keys(connection: Connection, on: bool) -> None:
    cursor = connection.connection.cursor()  # the driver's own: no transaction is begun
    cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    cursor.close()


with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _set_sqlite_foreign_keys(connection, on=False)
    try:
        with connection.begin():
            context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(
                        f"a migration left {len(broken)} broken references; nothing was changed"
                    )
    finally:
        if sqlite:
            _set_sqlite_foreign_keys(connection, on=True)
