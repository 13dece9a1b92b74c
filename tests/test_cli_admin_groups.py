"""``sparekey admin group-add``, ``group-remove`` and ``groups`` through the real console
command: one JSON object on stdout, the groups stored where forward-auth reads them, a note on
stderr when the account's organisations name its groups instead, and exit status 1 with a
message for an unknown account or a name that is no group's."""

from __future__ import annotations

import json
from pathlib import Path

from sparekey.bootstrap import build_deps
from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.core.flows import accounts, forward_auth
from sparekey.settings import Settings
from tests.test_cli import run


def _deps(tmp_path: Path) -> Deps:
    settings = Settings(data_dir=tmp_path / "data", argon2_time_cost=1, argon2_memory_cost=64)
    return build_deps(settings, FrozenClock())


def test_groups_are_added_listed_and_removed(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    deps = _deps(tmp_path)
    alice = accounts.register(deps, username="alice", password="correct horse battery staple")

    added = run(tmp_path, "admin", "group-add", "Alice", "Ops")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {
        "username": "alice",
        "groups": ["ops"],
        "forward_auth_groups": ["ops"],
    }
    run(tmp_path, "admin", "group-add", "alice", "wiki-editors")
    again = run(tmp_path, "admin", "group-add", "alice", "ops")
    assert json.loads(again.stdout)["groups"] == ["ops", "wiki-editors"]
    with deps.store.transaction() as tx:
        assert tx.groups.for_account(alice.id) == ["ops", "wiki-editors"]
    shown = run(tmp_path, "admin", "groups", "alice")
    assert json.loads(shown.stdout) == {
        "username": "alice",
        "groups": ["ops", "wiki-editors"],
        "forward_auth_groups": ["ops", "wiki-editors"],
    }
    removed = run(tmp_path, "admin", "group-remove", "alice", "ops")
    assert removed.returncode == 0 and json.loads(removed.stdout)["groups"] == ["wiki-editors"]
    assert forward_auth.account_groups(deps, "alice").groups == ("wiki-editors",)
    assert removed.stderr == ""


def test_an_account_in_an_organisation_is_told_about(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    accounts.register(_deps(tmp_path), username="alice", password="correct horse battery staple")
    made = run(tmp_path, "admin", "org-create", "Acme", "--owner", "alice")
    organisation = json.loads(made.stdout)["id"]
    added = run(tmp_path, "admin", "group-add", "alice", "ops")
    assert added.returncode == 0
    assert json.loads(added.stdout) == {
        "username": "alice",
        "groups": ["ops"],
        "forward_auth_groups": [f"org:{organisation}"],
    }
    assert "belongs to organisations" in added.stderr


def test_unknown_accounts_and_bad_names_are_refused(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    accounts.register(_deps(tmp_path), username="alice", password="correct horse battery staple")
    for args in (("group-add", "nobody", "ops"), ("group-remove", "nobody", "ops"), ("groups", "nobody")):
        refused = run(tmp_path, "admin", *args)
        assert refused.returncode == 1 and refused.stdout == ""
        assert refused.stderr.strip() == "sparekey: no account named 'nobody'"
    for bad in ("a,b", "org:x", "x y", ""):
        refused = run(tmp_path, "admin", "group-add", "alice", bad)
        assert refused.returncode == 1 and refused.stdout == "", bad
        assert "is not a group name" in refused.stderr and "Traceback" not in refused.stderr
