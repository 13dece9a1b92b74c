"""The console command: migrate, version, configuration errors, key rotation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect

from sparekey.bootstrap import build_deps
from sparekey.core import events
from sparekey.core.clock import FrozenClock
from sparekey.core.crypto import new_key_string, parse_keys
from sparekey.core.events import EventType
from sparekey.core.flows import accounts, sign_in, totp_enrolment
from sparekey.core.flows.sessions import authenticate
from sparekey.core.models import Client, Contact
from sparekey.settings import Settings
from sparekey.store.database import make_engine, sqlite_url


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPAREKEY_")}
    environment.update({"SPAREKEY_DATA_DIR": str(tmp_path / "data"), **env})
    return subprocess.run(
        [sys.executable, "-m", "sparekey", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def test_version(tmp_path: Path) -> None:
    result = run(tmp_path, "version")
    assert result.returncode == 0 and result.stdout.strip() == "0.1.0"


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    result = run(tmp_path, "migrate")
    assert result.returncode == 0, result.stderr
    tables = set(inspect(make_engine(sqlite_url(tmp_path / "data"))).get_table_names())
    assert {
        "accounts",
        "authenticators",
        "sessions",
        "login_flows",
        "events",
        "backup_code_sets",
        "backup_codes",
        "throttles",
        "alembic_version",
    } <= tables
    assert run(tmp_path, "migrate").returncode == 0  # idempotent


def test_bad_configuration_is_one_line_per_problem(tmp_path: Path) -> None:
    result = run(tmp_path, "migrate", SPAREKEY_SUDO_MINUTES="0", SPAREKEY_ENVIRONMENT="staging")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(
        line.startswith("sparekey: configuration error: SPAREKEY_") for line in lines
    )
    assert "Traceback" not in result.stderr


def test_key_rotation_keeps_secrets_readable(tmp_path: Path) -> None:
    old_key, new_key = new_key_string("k1"), new_key_string("k2")
    data = tmp_path / "data"
    assert run(tmp_path, "migrate").returncode == 0
    from sparekey.bootstrap import build_deps

    settings = Settings(data_dir=data, encryption_keys=old_key, argon2_time_cost=1, argon2_memory_cost=64)
    deps = build_deps(settings, FrozenClock())
    accounts.register(deps, username="alice", password="correct horse battery staple")
    done = sign_in.start(deps, username="alice", password="correct horse battery staple", client=Client())
    assert isinstance(done, sign_in.Authenticated)
    enrolment = totp_enrolment.begin(deps, authenticate(deps, done.session_token), name="phone")
    # Rotate: the new key first, the old one still listed.
    result = run(
        tmp_path,
        "reencrypt",
        SPAREKEY_ENCRYPTION_KEYS=f"{new_key},{old_key}",
        SPAREKEY_ARGON2_MEMORY_COST="64",
        SPAREKEY_ARGON2_TIME_COST="1",
    )
    assert result.returncode == 0, result.stderr
    assert "1 secret(s) re-encrypted" in result.stderr
    # Now the new key alone reads the secret.
    rotated = build_deps(
        Settings(data_dir=data, encryption_keys=new_key, argon2_time_cost=1, argon2_memory_cost=64),
        FrozenClock(),
    )
    with rotated.store.transaction() as tx:
        (authenticator,) = tx.authenticators.for_account(enrolment.authenticator.account_id)
    assert authenticator.secret_enc.startswith("k2:")
    assert (
        rotated.box.decrypt(authenticator.secret_enc, aad=authenticator.id.encode()).decode()
        == enrolment.secret
    )
    assert parse_keys(new_key)


def test_jobs_runs_once_for_cron_and_tells_what_it_did(tmp_path: Path) -> None:
    """A password change with a verified e-mail address: the run queues its notification (kept
    by the outbox); a second run finds nothing more to do."""
    assert run(tmp_path, "migrate").returncode == 0
    settings = Settings(data_dir=tmp_path / "data")
    deps = build_deps(settings)
    accounts.register(deps, username="alice", password="correct horse battery staple")
    with deps.store.transaction() as tx:
        account = tx.accounts.by_username("alice")
        assert account is not None
        tx.contacts.add(
            Contact(
                id="c1",
                account_id=account.id,
                kind="email",
                address="alice@example.org",
                created_at=deps.clock.now(),
                verified_at=deps.clock.now(),
            )
        )
        events.record(tx, deps.clock, account.id, EventType.PASSWORD_CHANGED, Client("127.0.0.1"))
    first = run(tmp_path, "jobs")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {
        "notified": 1,
        "reminded": 0,
        "forgotten": 0,
        "redispatched": 0,
        "delivered": 0,
    }
    again = run(tmp_path, "jobs")
    assert json.loads(again.stdout)["notified"] == 0
    listed = json.loads(run(tmp_path, "outbox", "--json").stdout)
    assert [m["subject"] for m in listed] == ["sparekey: your password was changed"]
