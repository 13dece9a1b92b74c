"""Fixtures that build on each other: store -> deps -> account -> account with TOTP -> backup codes.

Databases are real: SQLite in a temporary directory, and PostgreSQL (a fresh database per
test session) where ``SPAREKEY_TEST_POSTGRES_URL`` or 127.0.0.1:5432 answers.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import hypothesis
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sparekey import bootstrap
from sparekey.core.clock import FrozenClock
from sparekey.core.crypto import new_key_string
from sparekey.core.delivery import Senders
from sparekey.core.deps import Deps
from sparekey.core.factors.password import Argon2Parameters
from sparekey.settings import Settings
from sparekey.store.database import make_engine, sqlite_url
from sparekey.store.migrate import upgrade

POSTGRES_ADMIN_URL = os.environ.get(
    "SPAREKEY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("SPAREKEY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
FAST_ARGON2 = Argon2Parameters(time_cost=1, memory_cost=64, parallelism=1)
TEST_KEYS = new_key_string("t1")
UNUSED_DATA_DIR = Path("/nonexistent/sparekey-test-data")

# Hypothesis's default 200 ms deadline per example is a hidden timing assertion: a slow or
# busy machine (argon2id, two cores, server processes) would fail tests that are correct.
hypothesis.settings.register_profile("sparekey", deadline=None)
hypothesis.settings.load_profile("sparekey")


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose service (PostgreSQL, Redis) is not there, and say why; or fail it
    when ``SPAREKEY_TEST_REQUIRE_SERVICES`` is set to anything but 0 (scripts/test sets it
    under CI), where a skipped race test would make a green run that tested nothing."""
    if os.environ.get("SPAREKEY_TEST_REQUIRE_SERVICES", "") not in ("", "0"):
        pytest.fail(f"{reason} (SPAREKEY_TEST_REQUIRE_SERVICES is set)", pytrace=False)
    pytest.skip(reason)


def _postgres_available() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as error:  # noqa: BLE001 - any failure means "not here"
        where = make_url(POSTGRES_ADMIN_URL).render_as_string()
        return f"PostgreSQL not reachable at {where}: {type(error).__name__}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped afterwards."""
    reason = _postgres_available()
    if reason:
        unavailable(reason)
    name = f"sparekey_test_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
        upgrade(make_engine(url))
        return url
    url: str = request.getfixturevalue("postgres_url")
    _truncate(url)
    return url


def _truncate(url: str) -> None:
    """Every table emptied (the session's database is shared by its tests)."""
    from sparekey.store.tables import metadata

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(t.name for t in metadata.sorted_tables)} CASCADE"))
    engine.dispose()


@pytest.fixture
def sqlite_database(tmp_path: Path) -> str:
    url = sqlite_url(tmp_path)
    upgrade(make_engine(url))
    return url


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def test_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings as an operator would give them, with argon2 made fast for the tests."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "argon2_time_cost": FAST_ARGON2.time_cost,
        "argon2_memory_cost": FAST_ARGON2.memory_cost,
        "argon2_parallelism": FAST_ARGON2.parallelism,
        "encryption_keys": TEST_KEYS,
        # Tests move a frozen clock and run the jobs themselves (core/flows/jobs.py): the
        # server's own reminders and forgetting would otherwise race them once a minute.
        "jobs_interval_seconds": 3600,
    }
    values.update(overrides)
    return Settings(**values)


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def build_deps(url: str, clock: FrozenClock, *, senders: Senders | None = None, **settings: Any) -> Deps:
    """The use cases on the database at ``url``, built by the application's own factory.

    The data directory is never used: the database is named and the keys are given."""
    settings_ = test_settings(UNUSED_DATA_DIR, database_url=url, **settings)
    return bootstrap.build_deps(settings_, clock, senders=senders)


@pytest.fixture
def deps(sqlite_database: str, clock: FrozenClock) -> Deps:
    """Use cases on a real SQLite database (the core suite; the store suite adds PostgreSQL)."""
    return build_deps(sqlite_database, clock)


@dataclass
class Person:
    """A test account and what its owner knows."""

    username: str
    password: str
    id: str = ""
    totp_secret: str | None = None
    authenticator_id: str | None = None
    backup_codes: list[str] | None = None


def current_for(deps: Deps, person: Person) -> object:
    """Sign in (password only, or password + TOTP) and return the ``Current`` of that session."""
    from sparekey.core.flows import sessions, sign_in
    from sparekey.core.models import Client

    result = sign_in.start(
        deps, username=person.username, password=person.password, client=Client("127.0.0.1")
    )
    if isinstance(result, sign_in.SecondFactorRequired):
        clock: FrozenClock = deps.clock  # type: ignore[assignment]
        clock.advance(30)
        result = sign_in.submit_code(
            deps, flow_id=result.flow.id, code=totp_now(deps, person), client=Client("127.0.0.1")
        )
    return sessions.authenticate(deps, result.session_token)


def totp_now(deps: Deps, person: Person, *, offset_seconds: int = 0) -> str:
    import pyotp

    assert person.totp_secret is not None
    return pyotp.TOTP(person.totp_secret).at(deps.clock.now().timestamp() + offset_seconds)


@pytest.fixture
def person(deps: Deps) -> Person:
    from sparekey.core.flows import accounts

    someone = Person(username="alice", password="correct horse battery staple")
    someone.id = accounts.register(deps, username=someone.username, password=someone.password).id
    return someone


@pytest.fixture
def person_with_totp(deps: Deps, person: Person, clock: FrozenClock) -> Person:
    """``person`` with one confirmed authenticator app, and so 2FA on and backup-code set #1."""
    from sparekey.core.flows import totp_enrolment
    from sparekey.core.models import Client

    current = current_for(deps, person)
    enrolment = totp_enrolment.begin(deps, current, name="iPhone")  # type: ignore[arg-type]
    person.totp_secret = enrolment.secret
    person.authenticator_id = enrolment.authenticator.id
    confirmed = totp_enrolment.confirm(
        deps,
        current,
        enrolment.authenticator.id,
        code=totp_now(deps, person),
        client=Client("127.0.0.1"),  # type: ignore[arg-type]
    )
    assert confirmed.backup_codes is not None
    person.backup_codes = confirmed.backup_codes.codes
    clock.advance(30)
    return person


# Counting real argon2 runs ------------------------------------------------------------------

ARGON2_C_FUNCTIONS = frozenset({"argon2_hash", "argon2_verify", "argon2_ctx", "argon2_verify_ctx"})
"""The functions of argon2-cffi's C binding that run the argon2 computation (the slow part)."""


class Argon2Runs:
    """How many argon2 computations ran, by name of the C function called.

    ``argon2_hash`` (or ``argon2_ctx``) is one derivation: hashing a new password, or deriving
    a typed backup code. ``argon2_verify`` (or ``argon2_verify_ctx``) is one password check.
    Python wrappers (``PasswordHasher.verify_dummy``, ``CodeHasher.derive``...) are not what
    is counted, so a test cannot be fooled by a second run hidden behind another call path.
    """

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()  # runs counted from many threads at once must all count

    def count(self, name: str) -> None:
        with self._lock:
            self.calls[name] = self.calls.get(name, 0) + 1

    def reset(self) -> None:
        self.calls.clear()

    def take(self) -> dict[str, int]:
        """The runs since the last ``reset``/``take`` as ``{c_function: count}``; resets."""
        taken = dict(self.calls)
        self.calls.clear()
        return taken


class _CountingLib:
    """Stands in for ``argon2.low_level.lib``: forwards every attribute, counts the runs."""

    def __init__(self, real: object, runs: Argon2Runs) -> None:
        self._real = real
        self._runs = runs

    def __getattr__(self, name: str) -> object:
        value = getattr(self._real, name)
        if name not in ARGON2_C_FUNCTIONS:
            return value
        runs = self._runs

        def counted(*args: object) -> object:
            runs.count(name)
            return value(*args)

        return counted


@pytest.fixture
def argon2_runs(monkeypatch: pytest.MonkeyPatch) -> Argon2Runs:
    """Counts real argon2 computations by wrapping argon2-cffi's C binding (``lib``).

    Fixtures that ran before this one (registration, sign-in) may have been counted or not,
    depending on fixture order: call ``reset()`` right before the step you measure.
    """
    import argon2.low_level

    runs = Argon2Runs()
    monkeypatch.setattr(argon2.low_level, "lib", _CountingLib(argon2.low_level.lib, runs))
    return runs
