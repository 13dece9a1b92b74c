"""The requester's recovery pages, driven as a browser without JavaScript would: start for a
username (a real and an unknown one read the same), prove with the phone's code or the
password, the wait and its date; a wrong code; Japanese; the links that lead there."""

from __future__ import annotations

import re

import pyotp
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from tests.web.conftest import ApiUser
from tests.web.test_page_journeys import csrf
from tests.web.test_recovery_api import PHONE, WAIT, _six_digits, owner, recovery_messages, state_of

__all__ = ["owner"]  # the fixture, used by name


def start_page(http: TestClient, username: str, **headers: str) -> tuple[str, str]:
    """The request id and the status page the start form leads to."""
    form = http.get("/recovery", headers=headers)
    assert form.status_code == 200 and 'id="recovery-start-form"' in form.text
    started = http.post(
        "/recovery", data={"csrf_token": csrf(form.text), "username": username}, headers=headers
    )
    assert started.status_code == 200, started.text
    found = re.fullmatch(r"/recovery/([A-Za-z0-9_-]+)", started.url.path)
    assert found, started.url
    return found.group(1), started.text


def prove(http: TestClient, request_id: str, page: str, expect: int = 200, **proof: str) -> str:
    response = http.post(f"/recovery/{request_id}/evidence", data={"csrf_token": csrf(page), **proof})
    assert response.status_code == expect, response.text
    return response.text


def test_the_start_page_explains_and_asks_for_the_username(client: TestClient) -> None:
    page = client.get("/recovery").text
    assert "<h1>Lost every way in?</h1>" in page
    assert "waits 3 days" in page and "Every e-mail address and phone number" in page
    assert "cancel the recovery with one click" in page
    assert 'name="username"' in page and 'autocomplete="username"' in page


def test_a_real_and_an_unknown_username_read_the_same(owner: ApiUser) -> None:
    pages = []
    for username in ("alice", "nobody-by-this-name"):
        request_id, page = start_page(owner.http, username)
        assert state_of(owner.http, request_id) == {"state": "collecting"}
        pages.append(page.replace(request_id, "ID").replace(csrf(page), "CSRF"))
    assert pages[0] == pages[1]
    page = pages[0]
    assert 'data-state="collecting"' in page and 'action="/recovery/ID/evidence"' in page
    assert 'autocomplete="one-time-code"' in page and 'autocomplete="current-password"' in page
    assert len(recovery_messages(owner.http, PHONE)) == 1  # only the real account's phone was told


def test_the_phone_code_and_then_the_password_start_the_wait(owner: ApiUser, clock: FrozenClock) -> None:
    request_id, page = start_page(owner.http, "alice")
    [sms] = recovery_messages(owner.http, PHONE)
    page = prove(owner.http, request_id, page, code=_six_digits(sms.text))
    assert 'id="recovery-accepted"' in page and 'data-state="collecting"' in page  # one proof is not enough
    clock.advance(60)
    page = prove(owner.http, request_id, page, password=owner.password)
    ready_at = (clock.now() + WAIT).isoformat()  # without the e-mail: the full wait
    assert state_of(owner.http, request_id) == {"state": "waiting", "ready_at": ready_at}
    assert 'data-state="waiting"' in page and f'<time datetime="{ready_at}">' in page
    again = owner.http.get(f"/recovery/{request_id}").text
    assert 'data-state="waiting"' in again and f'<time datetime="{ready_at}">' in again
    assert 'id="recovery-evidence-form"' not in again


def test_the_password_alone_waits_then_the_request_reads_ready(owner: ApiUser, clock: FrozenClock) -> None:
    request_id, page = start_page(owner.http, "alice")
    page = prove(owner.http, request_id, page, password=owner.password)
    ready_at = (clock.now() + WAIT).isoformat()
    assert 'data-state="waiting"' in page and f'<time datetime="{ready_at}">' in page
    clock.advance(seconds=WAIT.total_seconds())
    ready = owner.http.get(f"/recovery/{request_id}").text
    assert 'data-state="ready"' in ready and "Set up a new way in" in ready


def test_a_wrong_code_shows_an_error_and_the_form_again(owner: ApiUser) -> None:
    for username in ("alice", "nobody-by-this-name"):
        request_id, page = start_page(owner.http, username)
        right = _six_digits(recovery_messages(owner.http, PHONE)[-1].text)
        wrong = "000000" if right != "000000" else "111111"
        page = prove(owner.http, request_id, page, expect=401, code=wrong)
        assert 'role="alert"' in page and "That code did not work" in page
        assert 'data-state="collecting"' in page and 'id="recovery-evidence-form"' in page
        assert state_of(owner.http, request_id) == {"state": "collecting"}
        page = prove(owner.http, request_id, page, expect=422)  # nothing given
        assert 'role="alert"' in page


def test_cancelled_and_denied_requests_say_so(owner: ApiUser, clock: FrozenClock) -> None:
    request_id, _page = start_page(owner.http, "alice")
    cancelled = owner.http.post("/api/v1/recovery/cancel", json={"token": _cancel_token(owner)})
    assert cancelled.status_code == 200
    page = owner.http.get(f"/recovery/{request_id}").text
    assert 'data-state="cancelled"' in page and 'href="/recovery"' in page
    other, _page = start_page(owner.http, "nobody-by-this-name")
    clock.advance(days=1)
    page = owner.http.get(f"/recovery/{other}").text
    assert 'data-state="denied"' in page and "the time to finish it ran out" in page
    missing = owner.http.get("/recovery/no-such-request")
    assert missing.status_code == 404 and 'role="alert"' in missing.text


def _cancel_token(owner: ApiUser) -> str:
    found = re.search(r"/recovery/cancel/([A-Za-z0-9_-]+)", recovery_messages(owner.http, PHONE)[-1].text)
    assert found
    return found.group(1)


def test_the_pages_speak_japanese(owner: ApiUser, clock: FrozenClock) -> None:
    ja = {"Accept-Language": "ja"}
    assert "どの方法でもサインインできなくなりましたか？" in owner.http.get("/recovery", headers=ja).text
    request_id, page = start_page(owner.http, "alice", **ja)
    assert "アカウントの電話番号に送った 6 桁のコード" in page and "確認情報を送信" in page
    done = owner.http.post(
        f"/recovery/{request_id}/evidence",
        data={"csrf_token": csrf(page), "password": owner.password},
        headers=ja,
    )
    assert "安全のため、復旧は" in done.text and "<time" in done.text


def test_the_login_and_code_pages_link_to_recovery(owner: ApiUser) -> None:
    login = owner.http.get("/login").text
    assert re.search(r'<a href="/recovery"[^>]*>Lost every way in\?</a>', login)
    signed = owner.http.post(
        "/login", data={"csrf_token": csrf(login), "username": "alice", "password": owner.password}
    )
    assert signed.status_code == 200 and signed.url.path == "/login/code", signed.url
    assert re.search(r'<a href="/recovery"[^>]*>I can(&#39;|\')t use any of these</a>', signed.text)


def _html_text(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', page)
    assert found, element_id
    return found.group(1).strip()


def _ready_page(owner: ApiUser, clock: FrozenClock, **headers: str) -> tuple[str, str]:
    request_id, page = start_page(owner.http, "alice", **headers)
    prove(owner.http, request_id, page, password=owner.password)
    clock.advance(seconds=WAIT.total_seconds())
    return request_id, owner.http.get(f"/recovery/{request_id}", headers=headers).text


def test_the_completion_pages_lead_to_the_new_sheet_signed_in(owner: ApiUser, clock: FrozenClock) -> None:
    old_token = owner.token
    request_id, page = _ready_page(owner, clock)
    assert 'id="recovery-completion-form"' in page and "Set up a new way in" in page
    enrol = owner.http.post(f"/recovery/{request_id}/completion", data={"csrf_token": csrf(page)})
    assert enrol.status_code == 200 and 'class="qr"' in enrol.text and "<svg" in enrol.text
    secret = _html_text(enrol.text, "totp-secret")
    token = re.search(r'name="completion_token" value="([^"]+)"', enrol.text).group(1)  # type: ignore[union-attr]

    # A wrong code: the same page again, the same key, and a plain error.
    form = {"csrf_token": csrf(enrol.text), "completion_token": token}
    wrong = owner.http.post(f"/recovery/{request_id}/complete", data={**form, "code": "000000"})
    assert wrong.status_code == 400 and 'role="alert"' in wrong.text
    assert _html_text(wrong.text, "totp-secret") == secret

    done = owner.http.post(
        f"/recovery/{request_id}/complete", data={**form, "code": pyotp.TOTP(secret).at(clock.now())}
    )
    assert done.status_code == 200, done.text
    assert "<h1>Your account is recovered</h1>" in done.text
    codes = re.search(r'<textarea id="codes-text"[^>]*>([^<]*)</textarea>', done.text).group(1).split()  # type: ignore[union-attr]
    assert len(codes) == 10
    # Signed in by the completion: the sheet's own forms work in the new session.
    download = owner.http.post(
        "/security/backup-codes/sheet.txt", data={"csrf_token": csrf(done.text), "codes": codes}
    )
    assert download.status_code == 200 and codes[0] in download.text
    assert owner.http.get("/security").status_code == 200
    assert owner.http.get("/api/v1/me", headers={"Authorization": f"Bearer {old_token}"}).status_code == 401
    assert 'data-state="completed"' in owner.http.get(f"/recovery/{request_id}").text


def test_the_completion_pages_in_japanese(owner: ApiUser, clock: FrozenClock) -> None:
    ja = {"Accept-Language": "ja"}
    request_id, page = _ready_page(owner, clock, **ja)
    assert "新しいサインイン方法を設定する" in page
    enrol = owner.http.post(f"/recovery/{request_id}/completion", data={"csrf_token": csrf(page)}, headers=ja)
    assert "復旧を完了する" in enrol.text and "新しいパスワード（任意）" in enrol.text
    secret = _html_text(enrol.text, "totp-secret")
    token = re.search(r'name="completion_token" value="([^"]+)"', enrol.text).group(1)  # type: ignore[union-attr]
    done = owner.http.post(
        f"/recovery/{request_id}/complete",
        data={
            "csrf_token": csrf(enrol.text),
            "completion_token": token,
            "code": pyotp.TOTP(secret).at(clock.now()),
        },
        headers=ja,
    )
    assert "<h1>アカウントが復旧されました</h1>" in done.text


def test_a_forged_completion_token_shows_the_state_not_a_key(owner: ApiUser, clock: FrozenClock) -> None:
    request_id, page = _ready_page(owner, clock)
    forged = owner.http.post(
        f"/recovery/{request_id}/complete",
        data={"csrf_token": csrf(page), "completion_token": "forged", "code": "123456"},
    )
    assert forged.status_code == 401 and 'id="totp-secret"' not in forged.text
    assert 'data-state="ready"' in forged.text  # the request is untouched
