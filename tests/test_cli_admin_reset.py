"""``sparekey admin reset-2fa USER --reason`` and ``sparekey admin org-create``, run as the
operator runs them: a separate process on the same data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pyotp

from sparekey.bootstrap import build_deps
from sparekey.core.clock import SystemClock
from sparekey.core.deps import Deps
from sparekey.core.events import EventType
from sparekey.core.flows import accounts, delivery, history, organisations, sign_in, totp_enrolment
from sparekey.core.flows.sessions import authenticate
from sparekey.core.models import Client, Contact
from sparekey.settings import Settings
from tests.test_cli import run

PASSWORD = "correct horse battery staple"
FAST = {"SPAREKEY_ARGON2_MEMORY_COST": "64", "SPAREKEY_ARGON2_TIME_COST": "1"}


def deps_of(tmp_path: Path) -> Deps:
    settings = Settings(data_dir=tmp_path / "data", argon2_time_cost=1, argon2_memory_cost=64)
    return build_deps(settings, SystemClock())


def alice_with_two_factor(deps: Deps) -> str:
    """alice, with an authenticator app, a verified e-mail address and a session; her id."""
    account_id = accounts.register(deps, username="alice", password=PASSWORD).id
    with deps.store.transaction() as tx:
        now = deps.clock.now()
        tx.contacts.add(
            Contact(id="c1", account_id=account_id, kind="email", address="alice@example.org", created_at=now)
        )
        tx.contacts.mark_verified("c1", now)
    done = sign_in.start(deps, username="alice", password=PASSWORD, client=Client())
    assert isinstance(done, sign_in.Authenticated)
    current = authenticate(deps, done.session_token)
    enrolment = totp_enrolment.begin(deps, current, name="phone")
    code = pyotp.TOTP(enrolment.secret).now()
    totp_enrolment.confirm(deps, current, enrolment.authenticator.id, code=code, client=Client())
    return account_id


def test_reset_2fa_resets_tells_and_records_by_the_operator(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    deps = deps_of(tmp_path)
    account_id = alice_with_two_factor(deps)

    result = run(
        tmp_path,
        "admin",
        "reset-2fa",
        "alice",
        "--reason",
        "Called the help desk, ID checked",
        SPAREKEY_ISSUER="Example Corp",
        **FAST,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"username": "alice", "reset": True}

    with deps.store.transaction() as tx:
        account = tx.accounts.get(account_id)
        assert account is not None and not account.two_factor_enabled
        assert tx.authenticators.for_account(account_id) == []
        assert tx.sessions.for_account(account_id) == []
        kept = tx.messages.kept_by_outbox(limit=50)
    [event] = history.recent_events(deps, account_id, types=[EventType.TWO_FACTOR_RESET])
    assert (event.data["by"], event.data["organisation"]) == ("operator", "Example Corp")
    assert event.data["reason"] == "Called the help desk, ID checked"
    told = [delivery.opened(deps, m) for m in kept if m.kind == "notice" and m.to == "alice@example.org"]
    texts = [body.text for body in told]
    assert any(
        "An administrator of Example Corp reset the two-step verification of your account alice" in text
        and "Called the help desk, ID checked" in text
        for text in texts
    ), texts
    # The password alone signs alice in now.
    assert isinstance(
        sign_in.start(deps, username="alice", password=PASSWORD, client=Client()), sign_in.Authenticated
    )


def test_reset_2fa_refuses_an_unknown_user_and_a_missing_reason(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    unknown = run(tmp_path, "admin", "reset-2fa", "nobody", "--reason", "x", **FAST)
    assert unknown.returncode == 1 and "no account named 'nobody'" in unknown.stderr and unknown.stdout == ""
    blank = run(tmp_path, "admin", "reset-2fa", "nobody", "--reason", "   ", **FAST)
    assert blank.returncode == 1 and "--reason" in blank.stderr
    missing = run(tmp_path, "admin", "reset-2fa", "nobody", **FAST)
    assert missing.returncode == 2 and "--reason" in missing.stderr


def test_org_create_makes_an_owner(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    deps = deps_of(tmp_path)
    account_id = accounts.register(deps, username="alice", password=PASSWORD).id
    result = run(tmp_path, "admin", "org-create", "Acme", "--owner", "alice", **FAST)
    assert result.returncode == 0, result.stderr
    made = json.loads(result.stdout)
    assert made["name"] == "Acme" and made["owner"] == "alice"
    [membership] = organisations.list_for(deps, account_id)
    assert (membership.organisation.id, membership.role.value) == (made["id"], "owner")
    unknown = run(tmp_path, "admin", "org-create", "Acme", "--owner", "nobody", **FAST)
    assert unknown.returncode == 1 and "no account named 'nobody'" in unknown.stderr
