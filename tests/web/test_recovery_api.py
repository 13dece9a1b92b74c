"""Recovery through HTTP (API.md, "When everything is lost"): the same answer for a real and
an unknown username; proofs read from the outbox; the wait by the frozen clock; every
contact point told with a cancel link, and the page that cancels by POST; the owner's
normal sign-in cancelling; the 30-an-hour limit per client address; wrong answers limited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from sparekey.core.clock import FrozenClock
from sparekey.core.flows import recovery
from tests.web.conftest import ApiUser
from tests.web.test_notifications import MAILBOX, deps_of, notices, outbox, verify_email

PHONE = "+819012345678"
WAIT = timedelta(seconds=259200)


def add_phone(user: ApiUser) -> None:
    added = user.http.post(
        "/api/v1/me/contacts",
        json={"kind": "phone", "address": "090-1234-5678", "region": "JP"},
        headers=user.auth,
    )
    assert added.status_code == 201, added.text
    code = _six_digits([b for m, b in outbox(user.http, PHONE) if m.kind == "contact_code"][-1].text)
    verified = user.http.post(
        f"/api/v1/me/contacts/{added.json()['id']}/verify", json={"code": code}, headers=user.auth
    )
    assert verified.status_code == 200, verified.text


def _six_digits(text: str) -> str:
    return re.search(r"\b\d{6}\b", text).group(0)  # type: ignore[union-attr]


@pytest.fixture
def owner(user: ApiUser) -> ApiUser:
    """alice with a verified e-mail address and a verified phone (so two-step verification on)."""
    user.login()
    verify_email(user)
    add_phone(user)
    return user


def start(http: TestClient, username: str = "alice") -> str:
    response = http.post("/api/v1/recovery", json={"username": username})
    assert response.status_code == 202, response.text
    return str(response.json()["request_id"])


def recovery_messages(http: TestClient, to: str) -> list[Any]:
    return [body for m, body in outbox(http, to) if m.kind == "recovery"]


def email_token(http: TestClient, request_id: str) -> str:
    [mail] = recovery_messages(http, MAILBOX)[-1:]
    found = re.search(rf"/recovery/{re.escape(request_id)}/email/([A-Za-z0-9_-]+)", mail.text)
    assert found, mail.text
    return found.group(1)


def cancel_token(body: Any) -> str:
    found = re.search(r"/recovery/cancel/([A-Za-z0-9_-]+)", body.text)
    assert found, body.text
    return found.group(1)


def evidence(http: TestClient, request_id: str, **proof: str) -> Any:
    return http.post(f"/api/v1/recovery/{request_id}/evidence", json=proof)


def state_of(http: TestClient, request_id: str) -> dict[str, Any]:
    response = http.get(f"/api/v1/recovery/{request_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@contextmanager
def round_trips(http: TestClient) -> Iterator[list[str]]:
    engine = deps_of(http).store.engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_real_and_an_unknown_username_get_the_same_answer_after_the_same_work(
    owner: ApiUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What runs before the answer: the links and codes are written after it has gone.
    monkeypatch.setattr(recovery, "dispatch", lambda _deps, _id: None)
    answers, work = [], []
    for username in ("alice", "nobody-by-this-name"):
        with round_trips(owner.http) as statements:
            response = owner.http.post("/api/v1/recovery", json={"username": username})
        answers.append((response.status_code, sorted(response.json()), len(response.json()["request_id"])))
        work.append(len(statements))
    assert answers[0] == answers[1] == (202, ["request_id"], 32)
    assert work[0] == work[1]


def test_an_unknown_username_reads_like_a_real_one_and_proves_nothing(owner: ApiUser) -> None:
    request_id = start(owner.http, "nobody-by-this-name")
    assert state_of(owner.http, request_id) == {"state": "collecting"}
    wrong = evidence(owner.http, request_id, password=owner.password)
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_credentials"
    assert state_of(owner.http, request_id) == {"state": "collecting"}


def test_the_email_link_and_the_phone_code_start_the_shorter_wait(owner: ApiUser, clock: FrozenClock) -> None:
    request_id = start(owner.http)
    assert state_of(owner.http, request_id) == {"state": "collecting"}
    token = email_token(owner.http, request_id)
    by_mail = evidence(owner.http, request_id, email_token=token)
    assert by_mail.status_code == 200 and by_mail.json() == {"state": "collecting"}  # one proof is not enough
    [sms] = recovery_messages(owner.http, PHONE)
    clock.advance(60)
    by_phone = evidence(owner.http, request_id, code=_six_digits(sms.text))
    assert by_phone.status_code == 200, by_phone.text
    ready_at = clock.now() + WAIT / 2
    assert by_phone.json() == {"state": "waiting", "ready_at": ready_at.isoformat()}
    clock.advance(seconds=(WAIT / 2).total_seconds() - 1)
    assert state_of(owner.http, request_id)["state"] == "waiting"
    clock.advance(1)
    assert state_of(owner.http, request_id) == {"state": "ready", "ready_at": ready_at.isoformat()}


def test_the_password_alone_gives_the_full_wait(owner: ApiUser, clock: FrozenClock) -> None:
    request_id = start(owner.http)
    proved = evidence(owner.http, request_id, password=owner.password)
    assert proved.json() == {"state": "waiting", "ready_at": (clock.now() + WAIT).isoformat()}
    clock.advance(seconds=WAIT.total_seconds())
    assert state_of(owner.http, request_id)["state"] == "ready"


def test_every_contact_point_is_told_with_a_cancel_link_and_the_page_cancels(owner: ApiUser) -> None:
    request_id = start(owner.http)
    [mail] = recovery_messages(owner.http, MAILBOX)
    [sms] = recovery_messages(owner.http, PHONE)
    assert "someone asked to recover your account" in mail.subject and "alice" in mail.text
    assert not re.search(r"\b\d{6}\b", mail.text)  # the e-mail proves by its link
    token = cancel_token(mail)
    assert cancel_token(sms) == token

    page = owner.http.get(f"/recovery/cancel/{token}")
    assert page.status_code == 200 and 'id="recovery-cancel-form"' in page.text
    assert state_of(owner.http, request_id) == {"state": "collecting"}  # never on a GET
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    done = owner.http.post(f"/recovery/cancel/{token}", data={"csrf_token": csrf})
    assert done.status_code == 200 and 'id="recovery-cancelled"' in done.text
    assert state_of(owner.http, request_id) == {"state": "cancelled"}
    again = evidence(owner.http, request_id, password=owner.password)
    assert again.json() == {"state": "cancelled"}


def test_the_cancel_page_speaks_japanese(owner: ApiUser) -> None:
    start(owner.http)
    token = cancel_token(recovery_messages(owner.http, MAILBOX)[0])
    page = owner.http.get(f"/recovery/cancel/{token}", headers={"Accept-Language": "ja"})
    assert "アカウントの復旧を取り消す" in page.text


def test_the_api_cancels_by_token(owner: ApiUser) -> None:
    request_id = start(owner.http)
    token = cancel_token(recovery_messages(owner.http, PHONE)[0])
    cancelled = owner.http.post("/api/v1/recovery/cancel", json={"token": token})
    assert cancelled.status_code == 200 and cancelled.json() == {"state": "cancelled"}
    assert state_of(owner.http, request_id) == {"state": "cancelled"}
    unknown = owner.http.post("/api/v1/recovery/cancel", json={"token": "x" * 43})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


def test_the_owner_signing_in_cancels_collecting_and_waiting_requests(owner: ApiUser) -> None:
    collecting, waiting = start(owner.http), start(owner.http)
    evidence(owner.http, waiting, password=owner.password)
    assert state_of(owner.http, waiting)["state"] == "waiting"
    owner.login()  # a verified phone turned two-step on: a flow, then the code sent by SMS
    flow_id = owner.http.post(
        "/api/v1/login", json={"username": owner.username, "password": owner.password}
    ).json()["flow_id"]
    sent = owner.http.post(f"/api/v1/login/{flow_id}/send", json={"method": "sms"})
    assert sent.status_code == 202, sent.text
    code = _six_digits([b for m, b in outbox(owner.http, PHONE) if m.kind == "sign_in_code"][-1].text)
    signed = owner.http.post(f"/api/v1/login/{flow_id}/code", json={"code": code})
    assert signed.status_code == 200, signed.text
    assert state_of(owner.http, collecting) == {"state": "cancelled"}
    assert state_of(owner.http, waiting) == {"state": "cancelled"}


def test_a_client_address_may_start_30_requests_an_hour(client: TestClient, clock: FrozenClock) -> None:
    for _ in range(30):
        start(client, "nobody")
    refused = client.post("/api/v1/recovery", json={"username": "nobody"})
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert refused.json()["error"]["retry_after"] == 3600
    clock.advance(3600)
    start(client, "nobody")


def test_wrong_codes_are_limited(owner: ApiUser) -> None:
    request_id = start(owner.http)
    [sms] = recovery_messages(owner.http, PHONE)
    right = _six_digits(sms.text)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(recovery.MAX_WRONG_ANSWERS):
        refused = evidence(owner.http, request_id, code=wrong)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_code"
    limited = evidence(owner.http, request_id, code=right)
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert state_of(owner.http, request_id) == {"state": "collecting"}


def test_an_unknown_request_id_is_not_found(client: TestClient) -> None:
    response = client.get("/api/v1/recovery/no-such-request")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert evidence(client, "no-such-request", password="x").status_code == 404


def test_the_email_link_opens_a_page_that_proves_on_its_button(owner: ApiUser) -> None:
    request_id = start(owner.http)
    token = email_token(owner.http, request_id)
    page = owner.http.get(f"/recovery/{request_id}/email/{token}")
    assert page.status_code == 200 and 'id="recovery-email-form"' in page.text
    assert state_of(owner.http, request_id) == {"state": "collecting"}  # never on a GET
    japanese = owner.http.get(f"/recovery/{request_id}/email/{token}", headers={"Accept-Language": "ja"})
    assert "はい、アカウントの復旧を申請しました" in japanese.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    done = owner.http.post(f"/recovery/{request_id}/email/{token}", data={"csrf_token": csrf})
    assert done.status_code == 200 and 'id="recovery-proved"' in done.text
    assert "More proof is needed" in done.text  # the mail alone is not enough
    wrong = owner.http.post(f"/recovery/{request_id}/email/not-the-token", data={"csrf_token": csrf})
    assert wrong.status_code == 401 and 'role="alert"' in wrong.text


def test_the_owner_also_gets_the_critical_notification(owner: ApiUser) -> None:
    """Beside the recovery's own messages, the event calls for the critical notice, which
    cannot be muted."""
    owner.http.put("/api/v1/me/notifications", json={"muted": ["new_device_sign_in"]}, headers=owner.auth)
    start(owner.http)
    start(owner.http, username="nobody-at-all")  # an unknown name tells nobody anything
    notices(owner.http)
    told = [b for m, b in outbox(owner.http, MAILBOX) if m.kind == "notice"]
    subjects = [b.subject for b in told]
    assert subjects.count("sparekey: someone asked to recover your account") == 1
    notice = next(b for b in told if b.subject == "sparekey: someone asked to recover your account")
    assert "Someone asked to recover your account alice." in notice.text
    assert "/security/secure" in notice.text and "Choose which of these messages" not in notice.text
