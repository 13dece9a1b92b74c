"""Files at rest: the data directory and the embedded database are the owner's alone."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sparekey.settings import Settings
from sparekey.web.app import create_app


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The usual umask of a shell (022): files would be world-readable unless made otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def first_start(data_dir: Path, username: str = "alice") -> None:
    """Start as ``sparekey serve`` does, with no configuration, and write something."""
    settings = Settings(data_dir=data_dir, argon2_time_cost=1, argon2_memory_cost=64)
    app = create_app(settings, migrate=True)
    with TestClient(app) as http:
        response = http.post(
            "/api/v1/accounts", json={"username": username, "password": "a fine long secret"}
        )
        assert response.status_code == 201
        db = data_dir / "sparekey.db"
        # While the server runs, SQLite keeps its WAL and shared-memory files beside the database.
        assert (data_dir / "sparekey.db-wal").exists() and (data_dir / "sparekey.db-shm").exists()
        assert {p.name: mode(p) for p in data_dir.iterdir()} == {
            "sparekey.db": 0o600,
            "sparekey.db-wal": 0o600,
            "sparekey.db-shm": 0o600,
            "encryption.key": 0o600,
        }
        assert mode(db) == 0o600
    app.state.deps.store.engine.dispose()


@pytest.mark.usefixtures("permissive_umask")
def test_a_first_start_makes_everything_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "sparekey-data"
    first_start(data_dir)
    assert mode(data_dir) == 0o700


@pytest.mark.usefixtures("permissive_umask")
def test_an_older_installation_is_tightened(tmp_path: Path) -> None:
    data_dir = tmp_path / "sparekey-data"
    first_start(data_dir)
    data_dir.chmod(0o755)
    for path in data_dir.iterdir():
        path.chmod(0o644)
    (data_dir / "encryption.key").chmod(0o600)  # the key was always written 0600
    first_start(data_dir, "bob")
    assert mode(data_dir) == 0o700
