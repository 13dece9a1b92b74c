"""Engines: embedded SQLite (WAL, immediate write transactions) or PostgreSQL.

The data directory and the embedded database hold password hashes, addresses and browser
names: the directory is created for its owner alone (0700) and the database with its WAL
and shared-memory files are readable by their owner alone (0600), whatever the umask.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600
_SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'sparekey.db').resolve()}"


def private_directory(path: Path) -> None:
    """Create ``path`` for its owner alone, or take group and others' access from it."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIRECTORY)
    if path.stat().st_mode & 0o077:
        path.chmod(PRIVATE_DIRECTORY)


@contextlib.contextmanager
def _private_umask() -> Iterator[None]:
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def _private_sqlite_files(database: Path) -> None:
    """The database file exists and is 0600 before SQLite opens it (SQLite gives its WAL and
    shared-memory files the database file's mode); files from an older start are tightened."""
    private_directory(database.parent)
    with _private_umask():
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    for suffix in _SQLITE_COMPANIONS:
        companion = database.with_name(database.name + suffix)
        if companion.exists() and companion.stat().st_mode & 0o077:
            companion.chmod(PRIVATE_FILE)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_sqlite_files(Path(parsed.database))
        return _sqlite_engine(url)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # The driver's own transaction handling is switched off so that every transaction
        # starts with BEGIN IMMEDIATE below: writers queue on the busy timeout instead of
        # failing with "database is locked" when two processes race.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        with _private_umask():  # the WAL and shared-memory files may be created here
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
