"""``sparekey admin grant-role`` and ``revoke-role`` through the real console command: one
JSON object on stdout, the events on the staff member's account, and exit status 1 with a
message on stderr for an unknown account or role."""

from __future__ import annotations

import json
from pathlib import Path

from sparekey.bootstrap import build_deps
from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.core.flows import accounts, history
from sparekey.settings import Settings
from tests.test_cli import run


def _deps(tmp_path: Path) -> Deps:
    settings = Settings(data_dir=tmp_path / "data", argon2_time_cost=1, argon2_memory_cost=64)
    return build_deps(settings, FrozenClock())


def test_a_role_is_granted_and_revoked(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    deps = _deps(tmp_path)
    sam = accounts.register(deps, username="sam", password="correct horse battery staple")

    granted = run(tmp_path, "admin", "grant-role", "Sam", "support")
    assert granted.returncode == 0, granted.stderr
    assert json.loads(granted.stdout) == {"username": "sam", "roles": ["support"]}
    again = run(tmp_path, "admin", "grant-role", "sam", "support")
    assert json.loads(again.stdout) == {"username": "sam", "roles": ["support"]}
    with deps.store.transaction() as tx:
        assert tx.roles.has(sam.id, "support")

    revoked = run(tmp_path, "admin", "revoke-role", "sam", "support")
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout) == {"username": "sam", "roles": []}
    with deps.store.transaction() as tx:
        assert not tx.roles.has(sam.id, "support")
    # One event each on sam's own history (granting twice changed nothing the second time).
    changes = history.recent_events(deps, sam.id, types=["role_granted", "role_revoked"])
    assert [(e.type, e.data) for e in changes] == [
        ("role_revoked", {"role": "support"}),
        ("role_granted", {"role": "support"}),
    ]


def test_an_unknown_account_or_role_is_refused(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    accounts.register(_deps(tmp_path), username="sam", password="correct horse battery staple")
    nobody = run(tmp_path, "admin", "grant-role", "nobody", "support")
    assert nobody.returncode == 1 and nobody.stdout == ""
    assert nobody.stderr.strip() == "sparekey: no account named 'nobody'"
    for command in ("grant-role", "revoke-role"):
        unknown = run(tmp_path, "admin", command, "sam", "root")
        assert unknown.returncode == 1 and unknown.stdout == ""
        assert unknown.stderr.strip() == "sparekey: unknown role 'root'; the roles are: support"
    assert "Traceback" not in nobody.stderr + unknown.stderr


def test_an_old_schema_is_refused_with_a_hint(tmp_path: Path) -> None:
    result = run(tmp_path, "admin", "grant-role", "sam", "support")
    assert result.returncode == 1 and "run `sparekey migrate`" in result.stderr
    assert "Traceback" not in result.stderr
