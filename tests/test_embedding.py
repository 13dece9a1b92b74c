"""The embedding API (``from sparekey import Sparekey``, docs/embedding.md) on real databases.

The page's ``python`` blocks run as written, in order, in one namespace, on a fresh SQLite
file and on PostgreSQL; the focused tests move a frozen clock instead of waiting.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

import sparekey
from sparekey import (
    Authenticated,
    Client,
    CodeAlreadyUsed,
    CodeFromReplacedSet,
    ConfigError,
    InvalidCode,
    NotAuthenticated,
    NotFound,
    SecondFactorRequired,
    Sparekey,
    SudoRequired,
)
from sparekey import embedded as embedded_module
from sparekey.core import errors as core_errors
from sparekey.core.clock import FrozenClock
from sparekey.core.factors import totp
from sparekey.core.flows import sign_in as core_sign_in
from sparekey.store.database import sqlite_url
from sparekey.web.app import create_app
from tests.conftest import FAST_ARGON2, TEST_KEYS, _truncate, test_settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "embedding.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
PASSWORD = "correct horse battery staple"
BROWSER = Client(ip="198.51.100.4", user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0")
FAST: dict[str, Any] = {
    "argon2_time_cost": FAST_ARGON2.time_cost,
    "argon2_memory_cost": FAST_ARGON2.memory_cost,
    "argon2_parallelism": FAST_ARGON2.parallelism,
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite: a file that does not exist yet (``open`` creates and migrates it).
    PostgreSQL: the session's database, migrated, emptied."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "myapp")
    url: str = request.getfixturevalue("postgres_url")
    _truncate(url)
    return url


def documented_blocks() -> list[str]:
    return [str(block) for block in PYTHON_BLOCK.findall(DOC.read_text(encoding="utf-8"))]


def test_the_documented_example_runs_as_written(
    empty_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = documented_blocks()
    assert len(blocks) >= 8 and "Sparekey.open(" in blocks[1], "the worked example was not found"
    monkeypatch.chdir(tmp_path)  # no sparekey-data/sparekey.toml of the checkout is read
    monkeypatch.setenv("MYAPP_DATABASE_URL", empty_database)
    monkeypatch.setenv("MYAPP_SPAREKEY_KEYS", TEST_KEYS)
    for name, value in FAST.items():  # settings not given to open() come from the environment
        monkeypatch.setenv(f"SPAREKEY_{name.upper()}", str(value))

    namespace: dict[str, object] = {"__name__": "embedding_example"}
    for number, block in enumerate(blocks, start=1):
        code = compile(block, f"{DOC.name}, python block {number}", "exec")
        exec(code, namespace)  # noqa: S102 - the documentation's own example, run as a reader would

    printed = capsys.readouterr().out
    assert "backup_code [{'code': 'backup_code_used', 'remaining': 9}]" in printed
    assert "invalid_credentials 401" in printed
    assert "code_from_replaced_set 1" in printed
    assert "malformed_code 400" in printed
    assert "not_authenticated" in printed

    # What the example left in the database, read by another core over the same URL.
    new_sheet = namespace["new_sheet"]
    with Sparekey.open(empty_database, encryption_keys=TEST_KEYS, migrate=False, **FAST) as again:
        result = again.sign_in("alice", PASSWORD)
        assert isinstance(result, SecondFactorRequired)
        signed_in = again.submit_code(result.flow.id, new_sheet.codes[5])  # type: ignore[attr-defined]
        status = again.backup_codes(again.session(signed_in.session_token))
        assert status is not None
        assert (status.set_number, status.remaining) == (2, 8)
        assert [a.name for a in again.authenticators(again.session(signed_in.session_token))] == ["Phone"]
        assert "issuer=My%20App" in namespace["enrolment"].otpauth_uri  # type: ignore[attr-defined]


# Focused tests: a frozen clock on a migrated database ---------------------------------------------


@pytest.fixture
def core(database_url: str, clock: FrozenClock) -> Iterator[Sparekey]:
    with Sparekey.open(database_url, encryption_keys=TEST_KEYS, clock=clock, **FAST) as opened:
        yield opened


class Owner:
    """alice, signed in, with an authenticator app confirmed (so 2FA on and set #1)."""

    def __init__(self, core: Sparekey, clock: FrozenClock) -> None:
        self.core = core
        self.clock = clock
        core.register("alice", PASSWORD)
        first = core.sign_in("alice", PASSWORD, client=BROWSER)
        assert isinstance(first, Authenticated)
        self.token = first.session_token
        self.current = core.session(self.token)
        enrolment = core.begin_totp(self.current, name="Phone")
        self.phone = pyotp.TOTP(enrolment.secret)
        confirmed = core.confirm_totp(self.current, enrolment.authenticator.id, self.code(), client=BROWSER)
        assert confirmed.backup_codes is not None
        self.codes = confirmed.backup_codes.codes
        clock.advance(30)

    def code(self) -> str:
        return self.phone.at(self.clock.now())

    def flow(self) -> str:
        result = self.core.sign_in("alice", PASSWORD, client=BROWSER)
        assert isinstance(result, SecondFactorRequired)
        return result.flow.id


@pytest.fixture
def owner(core: Sparekey, clock: FrozenClock) -> Owner:
    return Owner(core, clock)


def a_code_matching_no_step_near(phone: pyotp.TOTP, clock: FrozenClock) -> str:
    """Six digits that are the app's code at no step within the drift diagnosis (±10 minutes)."""
    near = {
        phone.at(clock.now() + timedelta(seconds=totp.PERIOD * steps))
        for steps in range(-totp.DRIFT_DIAGNOSIS_STEPS - 1, totp.DRIFT_DIAGNOSIS_STEPS + 2)
    }
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in near)


def test_a_wrong_code_is_refused_with_the_cores_error_and_the_right_one_then_signs_in(
    owner: Owner, core: Sparekey, clock: FrozenClock
) -> None:
    flow_id = owner.flow()
    with pytest.raises(InvalidCode) as refused:
        core.submit_code(flow_id, a_code_matching_no_step_near(owner.phone, clock), client=BROWSER)
    assert type(refused.value) is core_errors.InvalidCode
    assert (refused.value.code, refused.value.status) == ("invalid_code", 401)

    signed_in = core.submit_code(flow_id, owner.code(), client=BROWSER)
    assert isinstance(signed_in, core_sign_in.Authenticated)
    assert signed_in.method_used == "totp"
    assert core.session(signed_in.session_token).account.username == "alice"


def test_a_backup_code_signs_in_once(owner: Owner, core: Sparekey, clock: FrozenClock) -> None:
    used_at = clock.now()
    signed_in = core.submit_code(owner.flow(), owner.codes[3].lower().replace("-", " "), client=BROWSER)
    assert (signed_in.method_used, signed_in.notices) == (
        "backup_code",
        [{"code": "backup_code_used", "remaining": 9}],
    )

    clock.advance(5)
    with pytest.raises(CodeAlreadyUsed) as refused:
        core.submit_code(owner.flow(), owner.codes[3], client=BROWSER)
    assert refused.value.details["used_at"] == used_at

    status = core.backup_codes(core.session(signed_in.session_token))
    assert status is not None
    assert (status.remaining, [u.position for u in status.used], status.used[0].ip) == (9, [4], BROWSER.ip)


def test_a_new_sheet_needs_sudo_mode_and_ends_the_old_one(owner: Owner, core: Sparekey) -> None:
    current = core.session(owner.token)  # as of now: two-step verification on
    with pytest.raises(SudoRequired):
        core.regenerate_backup_codes(current, client=BROWSER)

    core.enter_sudo(current, password=PASSWORD, code=owner.codes[0], client=BROWSER)
    new_sheet = core.regenerate_backup_codes(current, client=BROWSER)
    assert (new_sheet.set_number, len(new_sheet.codes)) == (2, 10)

    with pytest.raises(CodeFromReplacedSet) as refused:
        core.submit_code(owner.flow(), owner.codes[1], client=BROWSER)
    assert refused.value.details["set_number"] == 1
    assert core.submit_code(owner.flow(), new_sheet.codes[0], client=BROWSER).method_used == "backup_code"


def test_sessions_are_listed_and_revoked_one_by_one(owner: Owner, core: Sparekey) -> None:
    other = core.submit_code(owner.flow(), owner.code(), client=BROWSER)
    listed = {session.id: is_current for session, is_current in core.sessions(owner.current)}
    other_id = core.session(other.session_token).session.id
    assert listed == {owner.current.session.id: True, other_id: False}

    with pytest.raises(NotFound):
        core.revoke_session(owner.current, "not-a-session-of-alice", client=BROWSER)
    core.revoke_session(owner.current, other_id, client=BROWSER)
    with pytest.raises(NotAuthenticated):
        core.session(other.session_token)
    assert [s.id for s, _ in core.sessions(owner.current)] == [owner.current.session.id]


def test_the_jobs_take_each_notification_once(owner: Owner, core: Sparekey) -> None:
    core.submit_code(owner.flow(), owner.codes[0], client=BROWSER)  # backup_code_used calls for one
    first = core.run_jobs()
    assert set(first) == {"notified", "reminded", "forgotten", "redispatched", "delivered"}
    assert first["notified"] >= 1
    assert core.run_jobs()["notified"] == 0


def test_the_server_and_an_embedding_program_share_one_core(
    owner: Owner, database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    """alice enrolled through the embedding API signs in through the JSON API, whose core is
    built by the same ``Sparekey.from_settings``."""
    app = create_app(test_settings(tmp_path, database_url=database_url), clock=clock)
    with TestClient(app, client=("203.0.113.50", 50000)) as http:
        started = http.post("/api/v1/login", json={"username": "alice", "password": PASSWORD})
        assert started.json()["status"] == "second_factor_required"
        answer = http.post(f"/api/v1/login/{started.json()['flow_id']}/code", json={"code": owner.codes[7]})
    assert answer.status_code == 200, answer.text
    assert owner.core.session(answer.json()["session_token"]).account.username == "alice"
    with pytest.raises(CodeAlreadyUsed):
        owner.core.submit_code(owner.flow(), owner.codes[7])


def test_open_migrates_a_new_database_or_refuses_one_that_is_not_current(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "fresh")
    with pytest.raises(ConfigError, match="not up to date"):
        Sparekey.open(url, encryption_keys=TEST_KEYS, migrate=False, **FAST)
    with Sparekey.open(url, encryption_keys=TEST_KEYS, **FAST) as migrated:
        migrated.register("bob", PASSWORD)
    with Sparekey.open(url, encryption_keys=TEST_KEYS, migrate=False, **FAST) as reopened:
        assert isinstance(reopened.sign_in("bob", PASSWORD), Authenticated)


def test_settings_are_checked_by_their_names(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "fresh")
    with pytest.raises(ConfigError, match="SPAREKEY_BOGUS: unknown setting"):
        Sparekey.open(url, encryption_keys=TEST_KEYS, bogus=1)
    with pytest.raises(ConfigError, match="SPAREKEY_ENCRYPTION_KEYS"):
        Sparekey.open(url, encryption_keys="k1:too-short")
    with Sparekey.open(url, encryption_keys=TEST_KEYS, sudo_minutes=3, **FAST) as opened:
        assert opened.deps.policy.sudo_seconds == 180


def test_the_public_names_are_the_cores_own() -> None:
    assert set(sparekey.__all__) == {*embedded_module.__all__, "__version__"}
    for name in embedded_module.__all__:
        assert getattr(sparekey, name) is getattr(embedded_module, name)
    assert sparekey.InvalidCode is core_errors.InvalidCode
    assert sparekey.Authenticated is core_sign_in.Authenticated
    assert issubclass(sparekey.CodeAlreadyUsed, sparekey.SparekeyError)
    with pytest.raises(AttributeError):
        sparekey.NoSuchName  # noqa: B018


def test_the_core_loads_without_the_database_layer() -> None:
    """``import sparekey.core...`` must not pull SQLAlchemy in through the package's exports."""
    probe = (
        "import sys, sparekey.core.errors;"
        "print(sorted({'sqlalchemy', 'sparekey.embedded'} & set(sys.modules)))"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "[]"
