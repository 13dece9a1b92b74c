"""The requester's recovery pages, driven as a browser without JavaScript would: start for a
username (a real and an unknown one read the same), prove with the phone's code or the
password, the wait and its date; a wrong code; Japanese; the links that lead there."""

from __future__ import annotations

import re

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
    assert 'data-state="ready"' in ready and "enrolling a new way in" in ready


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
    assert 'data-state="denied"' in page and "not enough proof arrived in time" in page
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
