"""The whole self-service recovery through HTTP, with messages through a real SMTP server
(STARTTLS and a login) and a local server that speaks Twilio's API, and the injected clock:
request, proof by the e-mail link and the SMS code, the wait, completion with a new
authenticator app and password, everything old revoked, the owner told on every channel.
Then the attacker who knows only the password: the longest wait, the owner told, and the
owner's one-click cancel ends it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from sparekey.core.flows import jobs
from tests.delivery.conftest import Account, Provider, TlsFiles
from tests.delivery.test_notifications_smtp import smtp_settings
from tests.delivery.test_round_trips import MAILBOX, PASSWORD, app_client, code_in, twilio_settings
from tests.delivery.test_twilio import FakeTwilio

PHONE = "+819012345678"
WAIT = timedelta(seconds=259200)
NEW_PASSWORD = "a new and long enough passphrase"
Wired = tuple[TestClient, Any, FakeTwilio]  # the application, the mail server, the SMS provider


@pytest.fixture
def twilio(start_provider: Any) -> tuple[FakeTwilio, Provider]:
    fake = FakeTwilio()
    return fake, start_provider(fake)


@pytest.fixture
def wired(
    tmp_path: Path,
    clock: FrozenClock,
    mail: tuple[Any, Account],
    tls_files: TlsFiles,
    twilio: tuple[FakeTwilio, Provider],
) -> Iterator[Wired]:
    """The application sending through the real SMTP server and the local SMS provider."""
    server, login = mail
    fake, provider = twilio
    settings = {**smtp_settings(server, login, tls_files), **twilio_settings(provider)}
    with app_client(tmp_path, clock, **settings) as http:  # Japanese
        yield http, server, fake


def texts(server: Any) -> list[tuple[str, str]]:
    return [
        (m["Subject"], m.get_body(preferencelist=("plain",)).get_content()) for m in server.handler.mails()
    ]


def owner_with_everything(
    http: TestClient, server: Any, fake: FakeTwilio, clock: FrozenClock
) -> dict[str, Any]:
    """taro: a verified e-mail address, a verified phone, an authenticator app, a sheet."""
    http.post("/api/v1/accounts", json={"username": "taro", "password": PASSWORD})
    token = http.post("/api/v1/login", json={"username": "taro", "password": PASSWORD}).json()[
        "session_token"
    ]
    auth = {"Authorization": f"Bearer {token}"}
    enrolment = http.post("/api/v1/me/totp", json={"name": "old phone"}, headers=auth).json()
    confirmed = http.post(
        f"/api/v1/me/totp/{enrolment['authenticator_id']}/confirm",
        json={"code": pyotp.TOTP(enrolment["secret"]).at(clock.now())},
        headers=auth,
    )
    sheet = confirmed.json()["backup_codes"]["codes"]
    clock.advance(30)
    sudo = http.post(
        "/api/v1/me/sudo",
        json={"password": PASSWORD, "code": pyotp.TOTP(enrolment["secret"]).at(clock.now())},
        headers=auth,
    )
    assert sudo.status_code == 200, sudo.text
    email = http.post("/api/v1/me/contacts", json={"kind": "email", "address": MAILBOX}, headers=auth).json()
    verified = http.post(
        f"/api/v1/me/contacts/{email['id']}/verify",
        json={"code": code_in(texts(server)[-1][1])},
        headers=auth,
    )
    assert verified.status_code == 200, verified.text
    phone = http.post(
        "/api/v1/me/contacts",
        json={"kind": "phone", "address": "090-1234-5678", "region": "JP"},
        headers=auth,
    ).json()
    verified = http.post(
        f"/api/v1/me/contacts/{phone['id']}/verify",
        json={"code": code_in(fake.accepted[-1]["Body"])},
        headers=auth,
    )
    assert verified.status_code == 200, verified.text
    return {"auth": auth, "sheet": sheet, "old_secret": enrolment["secret"]}


def test_the_whole_self_service_journey(
    wired: tuple[TestClient, Any, FakeTwilio], clock: FrozenClock
) -> None:
    http, server, fake = wired
    before = owner_with_everything(http, server, fake, clock)
    clock.advance(3600)

    # Everything is lost. The request; its proofs arrive by mail and by SMS.
    asked = http.post("/api/v1/recovery", json={"username": "taro"})
    assert asked.status_code == 202, asked.text
    request_id = asked.json()["request_id"]
    subject, mail_text = texts(server)[-1]
    assert "復旧" in subject
    link = re.search(rf"/recovery/{request_id}/email/([A-Za-z0-9_-]+)", mail_text)
    assert link, mail_text
    assert "/recovery/cancel/" in mail_text  # the one-click cancel for an owner who did not ask
    sms = fake.accepted[-1]
    assert sms["To"] == PHONE and "/recovery/cancel/" in sms["Body"]
    by_mail = http.post(f"/api/v1/recovery/{request_id}/evidence", json={"email_token": link.group(1)})
    assert by_mail.json() == {"state": "collecting"}, by_mail.text
    by_sms = http.post(f"/api/v1/recovery/{request_id}/evidence", json={"code": code_in(sms["Body"])})
    assert by_sms.status_code == 200 and by_sms.json()["state"] == "waiting", by_sms.text
    ready_at = by_sms.json()["ready_at"]
    assert ready_at == (clock.now() + WAIT / 2).isoformat()  # the e-mail and the phone: half

    # The wait: nothing can be completed before it ends; the old ways in still work.
    early = http.post(f"/api/v1/recovery/{request_id}/completion")
    assert early.status_code == 409 and early.json()["error"]["code"] == "recovery_not_ready"
    assert http.get("/api/v1/me", headers=before["auth"]).status_code == 200
    clock.advance(int((WAIT / 2).total_seconds()))
    status = http.get(f"/api/v1/recovery/{request_id}").json()
    assert status["state"] == "ready"
    assert set(status) == {"state", "ready_at"}  # exactly API.md's shape

    # Completion: a new app, a new password, a new sheet; a session for the owner.
    started = http.post(f"/api/v1/recovery/{request_id}/completion")
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["complete_by"] == (clock.now() + timedelta(days=1)).isoformat()
    assert body["totp"]["otpauth_uri"].startswith("otpauth://totp/") and body["totp"]["qr_svg"].startswith(
        "<svg"
    )
    new_app = pyotp.TOTP(body["totp"]["secret"])
    wrong = http.post(
        f"/api/v1/recovery/{request_id}/complete",
        json={"completion_token": body["completion_token"], "code": "000000"},
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_code"
    done = http.post(
        f"/api/v1/recovery/{request_id}/complete",
        json={
            "completion_token": body["completion_token"],
            "code": new_app.at(clock.now()),
            "new_password": NEW_PASSWORD,
        },
    )
    assert done.status_code == 200, done.text
    result = done.json()
    assert result["state"] == "completed" and len(result["backup_codes"]["codes"]) == 10
    assert result["backup_codes"]["set_number"] == 2
    new_auth = {"Authorization": f"Bearer {result['session_token']}"}
    assert http.get("/api/v1/me", headers=new_auth).json()["username"] == "taro"

    # Single use.
    again = http.post(
        f"/api/v1/recovery/{request_id}/complete",
        json={
            "completion_token": body["completion_token"],
            "code": new_app.at(clock.now() + timedelta(seconds=30)),
        },
    )
    assert again.status_code == 409 and again.json()["error"]["state"] == "completed"
    assert http.get(f"/api/v1/recovery/{request_id}").json() == {"state": "completed"}

    # Everything old is revoked: the old session, the old password, app, phone and sheet.
    assert http.get("/api/v1/me", headers=before["auth"]).status_code == 401
    old = http.post("/api/v1/login", json={"username": "taro", "password": PASSWORD})
    assert old.status_code == 401
    clock.advance(61)
    flow = http.post("/api/v1/login", json={"username": "taro", "password": NEW_PASSWORD}).json()
    assert [m["type"] for m in flow["methods"]] == ["totp", "email", "backup_code"]  # no phone
    old_code = http.post(f"/api/v1/login/{flow['flow_id']}/code", json={"code": before["sheet"][0]})
    assert old_code.status_code == 401
    old_app = http.post(
        f"/api/v1/login/{flow['flow_id']}/code",
        json={"code": pyotp.TOTP(before["old_secret"]).at(clock.now())},
    )
    assert old_app.status_code == 401
    signed = http.post(f"/api/v1/login/{flow['flow_id']}/code", json={"code": new_app.at(clock.now())})
    assert signed.status_code == 200 and signed.json()["method_used"] == "totp", signed.text

    # Told on every channel, the phone too (before it was removed), in the account's language.
    told = [subject for subject, _ in texts(server) if "アカウントが復旧されました" in subject]
    assert len(told) == 1
    assert any("アカウントが復旧されました" in sms["Body"] for sms in fake.accepted if sms["To"] == PHONE)
    jobs.run(http.app.state.deps)  # type: ignore[attr-defined]
    history = http.get("/api/v1/me/events", headers=new_auth).json()
    types = [event["type"] for event in history]
    for expected in (
        "recovery_requested",
        "recovery_evidence_added",
        "recovery_completed",
        "factor_removed",
    ):
        assert expected in types, types


def test_an_attacker_with_only_the_password_waits_longest_and_the_owner_cancels(
    wired: tuple[TestClient, Any, FakeTwilio], clock: FrozenClock
) -> None:
    http, server, fake = wired
    owner_with_everything(http, server, fake, clock)
    attacker = TestClient(http.app, headers={"Accept-Language": "en"})
    request_id = attacker.post("/api/v1/recovery", json={"username": "taro"}).json()["request_id"]
    proved = attacker.post(f"/api/v1/recovery/{request_id}/evidence", json={"password": PASSWORD})
    assert proved.json() == {"state": "waiting", "ready_at": (clock.now() + WAIT).isoformat()}

    # The owner hears of it at once, by mail and SMS, each with the cancel link.
    _subject, mail_text = texts(server)[-1]
    cancel = re.search(r"/recovery/cancel/([A-Za-z0-9_-]+)", mail_text)
    assert cancel, mail_text
    assert cancel.group(1) in fake.accepted[-1]["Body"]
    cancelled = http.post("/api/v1/recovery/cancel", json={"token": cancel.group(1)})
    assert cancelled.json() == {"state": "cancelled"}

    clock.advance(int(WAIT.total_seconds()))
    assert attacker.get(f"/api/v1/recovery/{request_id}").json() == {"state": "cancelled"}
    refused = attacker.post(f"/api/v1/recovery/{request_id}/completion")
    assert refused.status_code == 409 and refused.json()["error"]["state"] == "cancelled"


def test_the_completion_ends_a_day_after_the_wait(
    wired: tuple[TestClient, Any, FakeTwilio], clock: FrozenClock
) -> None:
    http, server, fake = wired
    owner_with_everything(http, server, fake, clock)
    request_id = http.post("/api/v1/recovery", json={"username": "taro"}).json()["request_id"]
    http.post(f"/api/v1/recovery/{request_id}/evidence", json={"password": PASSWORD})
    clock.advance(int(WAIT.total_seconds()))
    started = http.post(f"/api/v1/recovery/{request_id}/completion").json()
    clock.advance(86400)
    late = http.post(
        f"/api/v1/recovery/{request_id}/complete",
        json={
            "completion_token": started["completion_token"],
            "code": pyotp.TOTP(started["totp"]["secret"]).at(clock.now()),
        },
    )
    assert late.status_code == 409 and late.json()["error"]["state"] == "denied"
    assert http.get(f"/api/v1/recovery/{request_id}").json() == {"state": "denied"}


def test_a_new_start_replaces_the_token_and_the_key(
    wired: tuple[TestClient, Any, FakeTwilio], clock: FrozenClock
) -> None:
    """A lost completion page is not a dead end; the older token no longer works."""
    http, server, fake = wired
    owner_with_everything(http, server, fake, clock)
    request_id = http.post("/api/v1/recovery", json={"username": "taro"}).json()["request_id"]
    http.post(f"/api/v1/recovery/{request_id}/evidence", json={"password": PASSWORD})
    clock.advance(int(WAIT.total_seconds()))
    first = http.post(f"/api/v1/recovery/{request_id}/completion").json()
    second = http.post(f"/api/v1/recovery/{request_id}/completion").json()
    assert first["totp"]["secret"] != second["totp"]["secret"]
    stale = http.post(
        f"/api/v1/recovery/{request_id}/complete",
        json={
            "completion_token": first["completion_token"],
            "code": pyotp.TOTP(first["totp"]["secret"]).at(clock.now()),
        },
    )
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "invalid_code"
    fresh = http.post(
        f"/api/v1/recovery/{request_id}/complete",
        json={
            "completion_token": second["completion_token"],
            "code": pyotp.TOTP(second["totp"]["secret"]).at(clock.now()),
        },
    )
    assert fresh.status_code == 200, fresh.text
