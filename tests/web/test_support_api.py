"""The support console through HTTP (docs/api.md, "Support console"): the requester's
statement; the queue and one request for staff; approval (then the wait, then ready),
denial, a question and its answer, internal notes, each in the audit trail with the staff
member, the time and the reason; 403 ``staff_only`` for anyone else whatever they ask
(also staff signed in with one factor); 409 ``request_closed``; no secret in any staff
view; and the console's pages in both languages."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from sparekey.core.flows import support
from sparekey.web.cookies import Cookie
from tests.web.conftest import ApiUser
from tests.web.test_notifications import OTHER_BROWSER, deps_of, notices, outbox
from tests.web.test_page_journeys import csrf
from tests.web.test_recovery_api import PHONE, cancel_token, email_token, owner, recovery_messages

__all__ = ["owner"]  # the fixture, used by name

WAIT = timedelta(seconds=259200)
STATEMENT = "I lost my phone and my laptop in a fire. I made the account in March 2024."
FIELDS = {
    "id", "username", "state", "created_at", "evidence", "score", "support_requested_at", "statement",
    "question", "risk", "actions_count",
}  # fmt: skip


@pytest.fixture
def staff(client: TestClient, clock: FrozenClock) -> ApiUser:
    """sam: the role support (granted as the operator's CLI does), signed in with password and app."""
    sam = ApiUser(client, clock, "sam").register().enable_totp()
    support.grant_role(deps_of(client), "sam", "support")
    sign_in_with_code(sam)
    return sam


def sign_in_with_code(user: ApiUser) -> None:
    flow_id = user.flow()
    signed = user.http.post(f"/api/v1/login/{flow_id}/code", json={"code": user.totp()})
    assert signed.status_code == 200, signed.text
    user.token = signed.json()["session_token"]
    user.clock.advance(30)


def start(http: TestClient, username: str = "alice", **headers: str) -> str:
    response = http.post("/api/v1/recovery", json={"username": username}, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["request_id"])


def ask_support(http: TestClient, request_id: str, statement: str = STATEMENT) -> Any:
    return http.post(f"/api/v1/recovery/{request_id}/support", json={"statement": statement})


def staff_get(staff: ApiUser, path: str = "") -> Any:
    response = staff.http.get(f"/api/v1/support/requests{path}", headers=staff.auth)
    assert response.status_code == 200, response.text
    return response.json()


def decide(staff: ApiUser, request_id: str, action: str, **body: str) -> Any:
    return staff.http.post(f"/api/v1/support/requests/{request_id}/{action}", json=body, headers=staff.auth)


def requester_state(http: TestClient, request_id: str) -> dict[str, Any]:
    body: dict[str, Any] = http.get(f"/api/v1/recovery/{request_id}").json()
    return body


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def test_approval_then_the_wait_then_ready(owner: ApiUser, staff: ApiUser, clock: FrozenClock) -> None:
    request_id = start(owner.http, **{"User-Agent": OTHER_BROWSER})
    asked = ask_support(owner.http, request_id)
    assert asked.status_code == 202 and asked.json() == {"state": "collecting"}
    asked_at = clock.now()

    [item] = staff_get(staff)
    assert set(item) == FIELDS
    assert item["id"] == request_id and item["username"] == "alice" and item["state"] == "collecting"
    assert item["evidence"] == {} and item["score"] == 0 and item["statement"] == STATEMENT
    assert item["support_requested_at"] == asked_at.isoformat() and item["question"] is None
    assert item["risk"] == ["new_device"] and item["actions_count"] == 1

    clock.advance(300)
    approved = decide(staff, request_id, "approve", reason="Video call: she showed the contract.")
    assert approved.status_code == 200, approved.text
    ready_at = clock.now() + WAIT / 2  # support's approval shortens the wait; it still runs
    assert approved.json()["state"] == "waiting" and approved.json()["ready_at"] == ready_at.isoformat()
    assert approved.json()["evidence"] == {"support": clock.now().isoformat()}
    assert requester_state(owner.http, request_id) == {"state": "waiting", "ready_at": ready_at.isoformat()}

    trail = staff_get(staff, f"/{request_id}")["actions"]
    assert trail == [
        {"at": asked_at.isoformat(), "action": "support_requested", "actor": None, "text": STATEMENT},
        {
            "at": clock.now().isoformat(),
            "action": "approved",
            "actor": "sam",
            "text": "Video call: she showed the contract.",
        },
    ]
    # The owner's history says support approved; never who, nor why.
    history = owner.http.get("/api/v1/me/events?type=recovery_approved", headers=owner.auth)
    assert history.status_code == 200, history.text
    assert "sam" not in history.text and "Video call" not in history.text
    assert "support" in history.text
    # ...and tells the owner at once: the wait has a date now; not the staff member, nor why.
    [approval] = [body for _m, body in notices(owner.http) if "support approved" in body.subject]
    assert "alice" in approval.text and "sam" not in approval.text and "Video call" not in approval.text

    clock.advance((WAIT / 2).total_seconds() - 1)
    assert requester_state(owner.http, request_id)["state"] == "waiting"
    clock.advance(1)
    assert requester_state(owner.http, request_id)["state"] == "ready"
    sign_in_with_code(staff)  # a day and a half later: a new session
    assert staff_get(staff) == []  # no longer open
    [closed] = staff.http.get("/api/v1/support/requests?state=all", headers=staff.auth).json()
    assert closed["state"] == "ready"


def test_denial_with_the_audit_trail_and_a_closed_request_409(
    owner: ApiUser, staff: ApiUser, clock: FrozenClock
) -> None:
    request_id = start(owner.http)
    ask_support(owner.http, request_id)
    denied = decide(staff, request_id, "deny", reason="She could not name the sign-up month.")
    assert denied.status_code == 200 and denied.json()["state"] == "denied"
    assert requester_state(owner.http, request_id) == {"state": "denied"}
    [_asked, entry] = denied.json()["actions"]
    assert entry["action"] == "denied" and entry["actor"] == "sam"
    assert entry["text"] == "She could not name the sign-up month."
    for action, body in (
        ("approve", {"reason": "ok"}),
        ("deny", {"reason": "again"}),
        ("ask", {"question": "?"}),
    ):
        closed = decide(staff, request_id, action, **body)
        assert closed.status_code == 409 and error_code(closed) == "request_closed"
        assert closed.json()["error"]["message"]
    again = ask_support(owner.http, request_id)
    assert again.status_code == 409 and error_code(again) == "request_closed"
    # A request the owner cancelled is closed too.
    clock.advance(60)  # its messages come after the first one's
    cancelled = start(owner.http)
    token = cancel_token(recovery_messages(owner.http, PHONE)[-1])
    assert owner.http.post("/api/v1/recovery/cancel", json={"token": token}).json() == {"state": "cancelled"}
    refused = decide(staff, cancelled, "approve", reason="fine")
    assert refused.status_code == 409 and error_code(refused) == "request_closed"
    # Notes are still possible, and counted.
    noted = decide(staff, request_id, "notes", text="Closed after the call.")
    assert noted.status_code == 201 and noted.json()["actions_count"] == 3


def test_a_question_and_the_requesters_answer(owner: ApiUser, staff: ApiUser) -> None:
    request_id = start(owner.http)
    ask_support(owner.http, request_id)
    asked = decide(staff, request_id, "ask", question="Which city did you sign up from?")
    assert asked.status_code == 200 and asked.json()["question"] == "Which city did you sign up from?"
    answered = ask_support(owner.http, request_id, "Osaka.")
    assert answered.status_code == 202 and answered.json() == {"state": "collecting"}
    detail = staff_get(staff, f"/{request_id}")
    assert detail["question"] is None and detail["statement"] == "Osaka."
    assert [(a["action"], a["actor"], a["text"]) for a in detail["actions"]] == [
        ("support_requested", None, STATEMENT),
        ("asked", "sam", "Which city did you sign up from?"),
        ("support_requested", None, "Osaka."),
    ]
    third = ask_support(owner.http, request_id, "Also: my cat is called Mochi.")
    assert third.status_code == 202
    limited = ask_support(owner.http, request_id, "One more thing.")
    assert limited.status_code == 429 and error_code(limited) == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0


def test_notes_never_reach_the_requester_or_the_owner(owner: ApiUser, staff: ApiUser) -> None:
    request_id = start(owner.http)
    ask_support(owner.http, request_id)
    note = "INTERNAL-NOTE: the voice did not match the last call."
    assert decide(staff, request_id, "notes", text=note).status_code == 201
    assert decide(staff, request_id, "approve", reason="INTERNAL-REASON checked").status_code == 200
    seen = [
        owner.http.get(f"/api/v1/recovery/{request_id}").text,
        owner.http.get(f"/recovery/{request_id}").text,
        owner.http.get("/api/v1/me/events", headers=owner.auth).text,
    ]
    seen += [body.text for _message, body in outbox(owner.http)]
    assert all("INTERNAL" not in text for text in seen)


def test_the_requester_statement_is_checked_and_an_unknown_id_is_not_found(owner: ApiUser) -> None:
    request_id = start(owner.http)
    for body in ({}, {"statement": ""}, {"statement": "   "}, {"statement": "x" * 4001}, {"statement": 7}):
        invalid = owner.http.post(f"/api/v1/recovery/{request_id}/support", json=body)
        assert invalid.status_code == 422 and error_code(invalid) == "validation_error", body
    for unknown in ("x" * 32, "nope"):
        missing = ask_support(owner.http, unknown)
        assert missing.status_code == 404 and error_code(missing) == "not_found"
    # An unknown username's request answers the same, and reads to staff as no such account.
    nobody = start(owner.http, "nobody-by-this-name")
    assert ask_support(owner.http, nobody).json() == ask_support(owner.http, request_id).json()


def test_an_unknown_account_is_shown_as_such_and_can_only_be_denied(owner: ApiUser, staff: ApiUser) -> None:
    nobody = start(owner.http, "nobody-by-this-name")
    ask_support(owner.http, nobody)
    [item] = staff_get(staff)
    assert item["username"] is None and item["risk"] == ["unknown_account"]
    refused = decide(staff, nobody, "approve", reason="fine")
    assert refused.status_code == 409 and refused.json()["error"]["reason"] == "unknown_account"
    assert decide(staff, nobody, "deny", reason="No such account.").json()["state"] == "denied"


def test_anyone_but_staff_gets_403_staff_only_whatever_they_ask(
    owner: ApiUser, staff: ApiUser, client: TestClient, clock: FrozenClock
) -> None:
    request_id = start(owner.http)
    ask_support(owner.http, request_id)
    pat = ApiUser(client, clock, "pat").register()  # staff, but signed in with the password only
    support.grant_role(deps_of(client), "pat", "support")
    pat.login()
    mallory = ApiUser(client, clock, "mallory").register().enable_totp()  # two factors, not staff
    sign_in_with_code(mallory)
    calls = []
    for target in (request_id, "x" * 32, "nope"):
        calls += [
            ("GET", f"/api/v1/support/requests/{target}", None),
            ("POST", f"/api/v1/support/requests/{target}/approve", {"reason": "ok"}),
            ("POST", f"/api/v1/support/requests/{target}/deny", {"reason": "no"}),
            ("POST", f"/api/v1/support/requests/{target}/ask", {"question": "?"}),
            ("POST", f"/api/v1/support/requests/{target}/notes", {"text": "n"}),
            ("POST", f"/api/v1/support/requests/{target}/approve", {}),  # even an invalid body
        ]
    calls += [("GET", "/api/v1/support/requests", None), ("GET", "/api/v1/support/requests?state=all", None)]
    for caller in (owner, pat, mallory):
        answers = set()
        for method, path, body in calls:
            response = client.request(method, path, json=body, headers=caller.auth)
            assert response.status_code == 403, (caller.username, path, response.text)
            answers.add(response.text)
        assert len(answers) == 1  # the same answer whatever the id
        assert error_code(response) == "staff_only"
    anonymous = client.get("/api/v1/support/requests")
    assert anonymous.status_code == 401 and error_code(anonymous) == "not_authenticated"
    assert requester_state(owner.http, request_id) == {"state": "collecting"}
    assert staff_get(staff, f"/{request_id}")["actions_count"] == 1  # nothing was done
    # A revoked role ends access at once.
    support.revoke_role(deps_of(client), "sam", "support")
    revoked = client.get("/api/v1/support/requests", headers=staff.auth)
    assert revoked.status_code == 403 and error_code(revoked) == "staff_only"


def test_unknown_ids_and_bad_bodies_for_staff(staff: ApiUser) -> None:
    for target in ("x" * 32, "nope"):
        missing = staff.http.get(f"/api/v1/support/requests/{target}", headers=staff.auth)
        assert missing.status_code == 404 and error_code(missing) == "not_found"
        missing = decide(staff, target, "approve", reason="ok")
        assert missing.status_code == 404 and error_code(missing) == "not_found"
    for body in ({}, {"reason": ""}, {"reason": " \n "}, {"reason": "x" * 4001}):
        invalid = decide(staff, "x" * 32, "approve", **body)
        assert invalid.status_code == 422 and error_code(invalid) == "validation_error"
    bad_filter = staff.http.get("/api/v1/support/requests?state=mine", headers=staff.auth)
    assert bad_filter.status_code == 422 and error_code(bad_filter) == "validation_error"


def test_no_secret_anywhere_in_staff_views(owner: ApiUser, staff: ApiUser, client: TestClient) -> None:
    request_id = start(owner.http)
    ask_support(owner.http, request_id)
    [sms] = recovery_messages(owner.http, PHONE)
    secrets = [
        email_token(owner.http, request_id),
        re.search(r"\b\d{6}\b", sms.text).group(0),  # type: ignore[union-attr]
        cancel_token(sms),
        owner.password,
        owner.token or "",
        staff.token or "",
        staff.secret or "",
    ]
    with deps_of(client).store.transaction() as tx:
        stored = tx.recovery_requests.get(request_id)
        account = tx.accounts.by_username("alice")
    assert stored is not None and account is not None
    secrets += [stored.email_token_hash or "", stored.code_hash or "", stored.cancel_token_hash or ""]
    secrets += [account.password_hash]
    assert all(secrets)
    decide(staff, request_id, "notes", text="Looked at it.")
    client.cookies.set(Cookie.SESSION.value, staff.token or "")
    views = [
        client.get("/api/v1/support/requests", headers=staff.auth).text,
        client.get("/api/v1/support/requests?state=all", headers=staff.auth).text,
        client.get(f"/api/v1/support/requests/{request_id}", headers=staff.auth).text,
        decide(staff, request_id, "approve", reason="ok").text,
        client.get("/support").text,
        client.get(f"/support/requests/{request_id}").text,
    ]
    for view in views:
        assert request_id in view
        for secret in secrets:
            assert secret not in view


# The pages ----------------------------------------------------------------------------------


def as_browser(client: TestClient, user: ApiUser) -> None:
    client.cookies.set(Cookie.SESSION.value, user.token or "")


def test_the_console_pages_approve_with_a_reason(owner: ApiUser, staff: ApiUser, client: TestClient) -> None:
    request_id = start(owner.http, **{"User-Agent": OTHER_BROWSER})
    ask_support(owner.http, request_id)
    as_browser(client, staff)
    queue = client.get("/support")
    assert queue.status_code == 200 and "Support: account recoveries" in queue.text
    assert f'href="/support/requests/{request_id}"' in queue.text and "alice" in queue.text
    assert "New device: the owner never signed in from this kind of device." in queue.text
    page = client.get(f"/support/requests/{request_id}")
    assert STATEMENT in page.text and 'id="approve-form"' in page.text
    # A decision needs its reason.
    empty = client.post(
        f"/support/requests/{request_id}/approve", data={"csrf_token": csrf(page.text), "reason": " "}
    )
    assert empty.status_code == 422 and 'id="error"' in empty.text
    assert requester_state(owner.http, request_id) == {"state": "collecting"}
    forged = client.post(f"/support/requests/{request_id}/approve", data={"csrf_token": "x", "reason": "ok"})
    assert forged.status_code == 403
    approved = client.post(
        f"/support/requests/{request_id}/approve",
        data={"csrf_token": csrf(page.text), "reason": "Checked her passport on a video call."},
        follow_redirects=False,
    )
    assert approved.status_code == 303
    assert approved.headers["location"] == f"/support/requests/{request_id}?done=approved"
    done = client.get(approved.headers["location"])
    assert "Approved. The waiting period still runs" in done.text
    assert 'data-state="waiting"' in done.text and 'id="approve-form"' not in done.text
    assert "Checked her passport on a video call." in done.text and "sam" in done.text
    assert requester_state(owner.http, request_id)["state"] == "waiting"
    japanese = client.get(f"/support/requests/{request_id}?lang=ja")
    assert "監査記録" in japanese.text and "承認" in japanese.text and "新しい端末" in japanese.text


def test_the_console_pages_deny_ask_and_note(owner: ApiUser, staff: ApiUser, client: TestClient) -> None:
    request_id = start(owner.http)
    ask_support(owner.http, request_id)
    as_browser(client, staff)
    page = client.get(f"/support/requests/{request_id}").text
    for action, field, text, done in (
        ("ask", "question", "What was your first device?", "asked"),
        ("notes", "text", "Internal: second call tomorrow.", "note"),
        ("deny", "reason", "No answer after two days.", "denied"),
    ):
        posted = client.post(
            f"/support/requests/{request_id}/{action}", data={"csrf_token": csrf(page), field: text}
        )
        assert posted.status_code == 200 and posted.url.path == f"/support/requests/{request_id}"
        page = posted.text
        assert text in page and f"done={done}" in str(posted.url)
    assert 'data-state="denied"' in page and 'id="deny-form"' not in page
    closed = client.post(
        f"/support/requests/{request_id}/approve", data={"csrf_token": csrf(page), "reason": "late"}
    )
    assert closed.status_code == 409 and "This recovery request is closed" in closed.text
    assert client.get("/support").text.count("/support/requests/") == 0
    assert f"/support/requests/{request_id}" in client.get("/support?state=all").text


def test_the_console_pages_refuse_anyone_else(owner: ApiUser, client: TestClient) -> None:
    request_id = start(owner.http)
    ask_support(owner.http, request_id)
    client.cookies.delete(Cookie.SESSION.value)
    to_sign_in = client.get("/support", follow_redirects=False)
    assert to_sign_in.status_code == 303 and to_sign_in.headers["location"] == "/login"
    as_browser(client, owner)
    pages = set()
    for path in ("/support", f"/support/requests/{request_id}", "/support/requests/" + "x" * 32):
        refused = client.get(path)
        assert refused.status_code == 403 and "Only support staff" in refused.text
        pages.add(re.sub(r'name="csrf_token" value="[^"]+"', "", refused.text.replace(path, "PATH")))
    assert len(pages) == 1  # the same page whatever was asked for
    page = client.get("/security").text
    refused = client.post(
        f"/support/requests/{request_id}/approve", data={"csrf_token": csrf(page), "reason": "mine"}
    )
    assert refused.status_code == 403 and requester_state(owner.http, request_id) == {"state": "collecting"}
    japanese = client.get("/support?lang=ja")
    assert japanese.status_code == 403 and "サポートスタッフだけ" in japanese.text


def test_the_requesters_form_asks_support_and_answers_on_the_status_page(
    owner: ApiUser, staff: ApiUser, client: TestClient
) -> None:
    request_id = start(owner.http)
    client.cookies.delete(Cookie.SESSION.value)
    page = client.get(f"/recovery/{request_id}").text
    assert "Ask our support team to review" in page and 'id="support-form"' in page
    sent = client.post(
        f"/recovery/{request_id}/support",
        data={"csrf_token": csrf(page), "statement": STATEMENT},
        follow_redirects=False,
    )
    assert sent.status_code == 303 and sent.headers["location"] == f"/recovery/{request_id}"
    page = client.get(f"/recovery/{request_id}").text
    assert "Support was asked on" in page and 'id="support-form"' not in page
    empty = client.post(f"/recovery/{request_id}/support", data={"csrf_token": csrf(page), "statement": ""})
    assert empty.status_code == 422 and 'id="error"' in empty.text and 'data-state="collecting"' in empty.text
    # Support asks; the page shows the question and takes the answer.
    decide(staff, request_id, "ask", question="Which city did you sign up from?")
    client.cookies.delete(Cookie.SESSION.value)
    page = client.get(f"/recovery/{request_id}").text
    assert "Support has a question" in page and "Which city did you sign up from?" in page
    assert "サポートからの質問" in client.get(f"/recovery/{request_id}?lang=ja").text
    page = client.get(f"/recovery/{request_id}?lang=en").text
    answered = client.post(
        f"/recovery/{request_id}/support", data={"csrf_token": csrf(page), "statement": "Osaka."}
    )
    assert answered.status_code == 200 and "Which city" not in answered.text
    assert staff_get(staff, f"/{request_id}")["statement"] == "Osaka."
    # Closed: the page says so (no form), and a late post is refused on the page.
    token = csrf(page)
    decide(staff, request_id, "deny", reason="No.")
    page = client.get(f"/recovery/{request_id}").text
    assert 'data-state="denied"' in page and 'id="support-form"' not in page
    late = client.post(f"/recovery/{request_id}/support", data={"csrf_token": token, "statement": "wait"})
    assert late.status_code == 409 and "This recovery request is closed" in late.text
    unknown = client.post("/recovery/" + "x" * 32 + "/support", data={"csrf_token": token, "statement": "hi"})
    assert unknown.status_code == 404
    with deps_of(client).store.transaction() as tx:
        assert tx.recovery_actions.count(request_id, action="support_requested") == 2
