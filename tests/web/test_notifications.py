"""Notifications through the outbox: what each says, in the account's language and time zone,
who gets them (every verified e-mail address; SMS for the critical ones when there is none),
muting (informational only), new-device detection, and the periodic reminder, sent once even
when two processes run the jobs."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.core.flows import delivery, jobs
from sparekey.core.models import QueuedMessage
from tests.conftest import build_deps
from tests.web.conftest import ApiUser

MAILBOX = "alice@example.org"
OTHER_BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def deps_of(http: TestClient) -> Deps:
    deps: Deps = http.app.state.deps  # type: ignore[attr-defined]
    return deps


def outbox(http: TestClient, to: str | None = None) -> list[tuple[QueuedMessage, Any]]:
    """What the outbox kept (oldest first), opened."""
    deps = deps_of(http)
    with deps.store.transaction() as tx:
        kept = tx.messages.kept_by_outbox(limit=200)
    return [(m, delivery.opened(deps, m)) for m in reversed(kept) if to is None or m.to == to]


def notices(http: TestClient, to: str = MAILBOX) -> list[tuple[QueuedMessage, Any]]:
    jobs.run(deps_of(http))
    return [(m, body) for m, body in outbox(http, to) if m.kind == "notice"]


def verify_email(user: ApiUser, address: str = MAILBOX) -> None:
    added = user.http.post(
        "/api/v1/me/contacts", json={"kind": "email", "address": address}, headers=user.auth
    )
    assert added.status_code == 201, added.text
    [(_m, body)] = [(m, b) for m, b in outbox(user.http, address) if m.kind == "contact_code"][-1:]
    code = re.search(r"\b\d{6}\b", body.text).group(0)  # type: ignore[union-attr]
    verified = user.http.post(
        f"/api/v1/me/contacts/{added.json()['id']}/verify", json={"code": code}, headers=user.auth
    )
    assert verified.status_code == 200, verified.text


@pytest.fixture
def owner(user: ApiUser) -> ApiUser:
    """alice, signed in, with a verified e-mail address and an authenticator app."""
    user.login()
    verify_email(user)
    user.enable_totp()
    return user


def test_a_password_change_is_told_with_what_when_where_and_what_to_do(owner: ApiUser) -> None:
    owner.sudo()
    owner.http.post(
        "/api/v1/me/password", json={"new_password": "a brand new passphrase"}, headers=owner.auth
    )
    [(message, body)] = [n for n in notices(owner.http) if "password" in n[1].subject]
    assert message.to == MAILBOX and body.subject == "sparekey: your password was changed"
    text = body.text
    assert "The password of your account alice was changed" in text
    assert "When: " in text and "UTC" in text
    assert "Address: 203.0.113.50" in text and "Device: " in text
    assert "http://localhost:8000/security/secure" in text
    assert "Choose which of these messages" not in text  # critical: cannot be muted
    assert not re.search(r"\b\d{6}\b", text)  # never a code
    assert "<p" in body.html and "alice" in body.html


def test_every_listed_change_is_told(owner: ApiUser) -> None:
    """factor_added (the app), backup_codes_generated (set #1 and #2), backup_code_used,
    factor_removed, two_factor_disabled: one message each, none twice."""
    owner.sudo()
    owner.http.post("/api/v1/me/backup-codes/regenerate", headers=owner.auth)
    flow_id = owner.flow()
    codes = owner.http.post("/api/v1/me/backup-codes/regenerate", headers=owner.auth)
    used = owner.http.post(f"/api/v1/login/{flow_id}/code", json={"code": codes.json()["codes"][0]})
    assert used.status_code == 200, used.text
    owner.http.delete("/api/v1/me/two-factor", headers=owner.auth)
    subjects = [body.subject for _m, body in notices(owner.http)]
    assert subjects.count("sparekey: a way to sign in was added") == 1
    assert subjects.count("sparekey: new backup codes were made") == 3
    assert subjects.count("sparekey: a backup code was used") == 1
    assert "sparekey: a way to sign in was removed" in subjects
    assert subjects.count("sparekey: two-step verification was turned off") == 1
    assert notices(owner.http) == notices(owner.http)  # nothing more, nothing twice
    used_text = next(b.text for _m, b in notices(owner.http) if b.subject.endswith("was used"))
    assert "Backup code #1 of sheet #3" in used_text and "9 codes are left" in used_text


def test_a_new_device_is_told_and_a_known_one_is_not(owner: ApiUser, clock: FrozenClock) -> None:
    first = owner.http.post(
        "/api/v1/login", json={"username": "alice", "password": owner.password, "client_token": None}
    )
    clock.advance(30)
    done = owner.http.post(
        f"/api/v1/login/{first.json()['flow_id']}/code",
        json={"code": owner.totp()},
        headers={"User-Agent": OTHER_BROWSER},
    )
    client_token = done.json()["client_token"]
    told = [b for _m, b in notices(owner.http) if "new device" in b.subject]
    assert len(told) == 1 and "Firefox on Linux" in told[0].text
    clock.advance(30)
    again = owner.http.post(
        "/api/v1/login", json={"username": "alice", "password": owner.password, "client_token": client_token}
    )
    owner.http.post(f"/api/v1/login/{again.json()['flow_id']}/code", json={"code": owner.totp()})
    assert len([b for _m, b in notices(owner.http) if "new device" in b.subject]) == 1


def test_informational_ones_can_be_muted_and_critical_ones_cannot(owner: ApiUser) -> None:
    answer = owner.http.get("/api/v1/me/notifications", headers=owner.auth).json()
    assert answer["muted"] == [] and "password_changed" in answer["critical"]
    refused = owner.http.put(
        "/api/v1/me/notifications", json={"muted": ["factor_added", "password_changed"]}, headers=owner.auth
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "cannot_mute"
    unknown = owner.http.put("/api/v1/me/notifications", json={"muted": ["nope"]}, headers=owner.auth)
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "validation_error"
    muted = owner.http.put("/api/v1/me/notifications", json={"muted": ["factor_added"]}, headers=owner.auth)
    assert muted.json()["muted"] == ["factor_added"]
    before = len(notices(owner.http))
    owner.sudo()
    begun = owner.http.post("/api/v1/me/totp", json={"name": "Tablet"}, headers=owner.auth).json()
    import pyotp

    owner.http.post(
        f"/api/v1/me/totp/{begun['authenticator_id']}/confirm",
        json={"code": pyotp.TOTP(begun["secret"]).at(owner.clock.now())},
        headers=owner.auth,
    )
    owner.http.delete(f"/api/v1/me/totp/{begun['authenticator_id']}", headers=owner.auth)
    after = [b.subject for _m, b in notices(owner.http)][before:]
    assert after == ["sparekey: a way to sign in was removed"]  # added: muted; removed: critical


def test_the_accounts_language_and_time_zone(owner: ApiUser) -> None:
    owner.http.put(
        "/api/v1/me/preferences", json={"language": "ja", "time_zone": "Asia/Tokyo"}, headers=owner.auth
    )
    bad = owner.http.put("/api/v1/me/preferences", json={"time_zone": "Mars/Olympus"}, headers=owner.auth)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "time_zone"
    owner.sudo()
    owner.http.post(
        "/api/v1/me/password", json={"new_password": "a brand new passphrase"}, headers=owner.auth
    )
    [body] = [b for _m, b in notices(owner.http) if b.subject == "sparekey: パスワードが変更されました"]
    assert "JST (Asia/Tokyo)" in body.text and "アカウント alice のパスワード" in body.text


def test_the_language_of_the_latest_sign_in_unless_one_was_chosen(owner: ApiUser, clock: FrozenClock) -> None:
    flow = owner.http.post(
        "/api/v1/login",
        json={"username": "alice", "password": owner.password},
        headers={"Accept-Language": "ja"},
    ).json()
    clock.advance(30)
    owner.http.post(
        f"/api/v1/login/{flow['flow_id']}/code",
        json={"code": owner.totp()},
        headers={"Accept-Language": "ja"},
    )
    owner.sudo()
    owner.http.post("/api/v1/me/backup-codes/regenerate", headers=owner.auth)
    subjects = [b.subject for _m, b in notices(owner.http)]
    assert "sparekey: 新しいバックアップコードが作られました" in subjects
    assert all(not s.startswith("sparekey: new") for s in subjects)  # the account's language when sent


def test_critical_ones_go_by_sms_when_no_email_is_verified(user: ApiUser) -> None:
    user.login()
    added = user.http.post(
        "/api/v1/me/contacts",
        json={"kind": "phone", "address": "090-1234-5678", "region": "JP"},
        headers=user.auth,
    )
    code = re.search(r"\b\d{6}\b", outbox(user.http, "+819012345678")[-1][1].text).group(0)  # type: ignore[union-attr]
    # The first verified phone turns 2FA on: factor_added (informational) and
    # backup_codes_generated (critical); with no e-mail address, only the critical one is texted.
    user.http.post(f"/api/v1/me/contacts/{added.json()['id']}/verify", json={"code": code}, headers=user.auth)
    sms = [b for m, b in notices(user.http, "+819012345678")]
    assert [b.subject for b in sms] == ["sparekey: new backup codes were made"]  # not factor_added
    assert "Not you? Secure your account: http://localhost:8000/security/secure" in sms[0].text


def test_the_reminder_comes_every_half_year_once_even_with_two_processes(
    owner: ApiUser, clock: FrozenClock, tmp_path: Path
) -> None:
    http = owner.http
    deps = deps_of(http)
    jobs.run(deps)
    assert [m for m, _b in outbox(http) if m.kind == "reminder"] == []
    clock.advance(183 * 86400)
    second = build_deps(str(deps.store.engine.url), clock)  # type: ignore[attr-defined]  # another process
    barrier = threading.Barrier(2)

    def run(of: Deps) -> None:
        barrier.wait()
        jobs.run(of)

    threads = [threading.Thread(target=run, args=(d,)) for d in (deps, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reminders = [b for m, b in outbox(http) if m.kind == "reminder"]
    assert len(reminders) == 1
    text = reminders[0].text
    assert "Your backup-code sheet #1" in text and "10 codes left" in text
    jobs.run(deps)
    assert len([m for m, _b in outbox(http) if m.kind == "reminder"]) == 1
    clock.advance(183 * 86400)
    jobs.run(deps)
    assert len([m for m, _b in outbox(http) if m.kind == "reminder"]) == 2
