"""Recovery contacts through HTTP, with every e-mail sent through a real SMTP server (aiosmtpd):
naming and accepting; a recovery request by the owner's username asks the accepted contact
by mail and the owner is told of the ask and of the answer; a confirmation shortens the wait,
a refusal proves nothing; the contact's answers look alike whatever they were; a contact
answering someone else's ask, or a stranger guessing ids, gets 404 and changes nothing; what
a contact sees of the owner's account is the username."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from sparekey.core.flows import jobs
from sparekey.web.app import create_app
from tests.delivery.conftest import HOST, MailHandler, free_port
from tests.web.conftest import CLIENT_IP, ApiUser, app_settings

WAIT = timedelta(seconds=259200)
ASK_KEYS = ["asked_at", "id", "username"]


class Smtp(MailHandler):
    """What a real SMTP server on this machine received: what people read."""

    port = 0


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    handler = Smtp()
    handler.port = free_port()
    controller = Controller(handler, hostname=HOST, port=handler.port)
    controller.start()
    yield handler
    controller.stop()


@pytest.fixture
def client(tmp_path: Path, clock: FrozenClock, smtp: Smtp) -> Iterator[TestClient]:
    settings = app_settings(
        tmp_path,
        mail_sender="smtp",
        smtp_host=HOST,
        smtp_port=smtp.port,
        smtp_security="none",
        mail_from="sparekey@example.org",
    )
    app = create_app(settings, clock=clock, migrate=True)
    with TestClient(app, headers={"Accept-Language": "en"}, client=(CLIENT_IP, 50000)) as http:
        yield http


def mails_to(smtp: MailHandler, address: str) -> list[EmailMessage]:
    return [m for m in smtp.mails() if m["To"] == address]


def plain(mail: EmailMessage) -> str:
    return str(mail.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]


def with_mailbox(user: ApiUser, smtp: MailHandler) -> ApiUser:
    """Signed in, with a verified e-mail address <username>@example.org (its code read from the mail)."""
    address = f"{user.username}@example.org"
    if user.token is None:
        user.login()
    added = user.http.post(
        "/api/v1/me/contacts", json={"kind": "email", "address": address}, headers=user.auth
    )
    assert added.status_code == 201, added.text
    code = re.search(r"\b\d{6}\b", plain(mails_to(smtp, address)[-1])).group(0)  # type: ignore[union-attr]
    verified = user.http.post(
        f"/api/v1/me/contacts/{added.json()['id']}/verify", json={"code": code}, headers=user.auth
    )
    assert verified.status_code == 200, verified.text
    return user


def person(http: TestClient, clock: FrozenClock, username: str, smtp: MailHandler) -> ApiUser:
    return with_mailbox(ApiUser(http, clock, username).register(), smtp)


def name(owner: ApiUser, username: str) -> Any:
    return owner.http.post("/api/v1/me/recovery-contacts", json={"username": username}, headers=owner.auth)


def accept_all(contact: ApiUser) -> None:
    for entry in contact.http.get("/api/v1/me/recovery-contact-of", headers=contact.auth).json():
        accepted = contact.http.post(
            f"/api/v1/me/recovery-contact-of/{entry['id']}", json={"accept": True}, headers=contact.auth
        )
        assert accepted.status_code == 200, accepted.text


def asks(contact: ApiUser) -> list[dict[str, Any]]:
    response = contact.http.get("/api/v1/me/recovery-contact-asks", headers=contact.auth)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def answer(contact: ApiUser, ask_id: str, what: str) -> Any:
    return contact.http.post(
        f"/api/v1/me/recovery-contact-asks/{ask_id}", json={"answer": what}, headers=contact.auth
    )


def start_recovery(http: TestClient, username: str = "alice") -> str:
    response = http.post("/api/v1/recovery", json={"username": username})
    assert response.status_code == 202, response.text
    return str(response.json()["request_id"])


def state_of(http: TestClient, request_id: str) -> dict[str, Any]:
    found: dict[str, Any] = http.get(f"/api/v1/recovery/{request_id}").json()
    return found


@pytest.fixture
def alice(user: ApiUser, smtp: MailHandler) -> ApiUser:
    return with_mailbox(user, smtp)


@pytest.fixture
def bob(client: TestClient, clock: FrozenClock, smtp: MailHandler, alice: ApiUser) -> ApiUser:
    """alice's accepted recovery contact, with his own verified mailbox."""
    bob = person(client, clock, "bob", smtp)
    assert name(alice, "bob").status_code == 202
    accept_all(bob)
    return bob


def test_naming_and_accepting(
    alice: ApiUser, client: TestClient, clock: FrozenClock, smtp: MailHandler
) -> None:
    bob = person(client, clock, "bob", smtp)
    named = name(alice, "bob")
    assert (named.status_code, named.json()) == (202, {"named": True})
    [mine] = client.get("/api/v1/me/recovery-contacts", headers=alice.auth).json()
    assert mine == {"id": mine["id"], "username": "bob", "accepted": False}
    [theirs] = client.get("/api/v1/me/recovery-contact-of", headers=bob.auth).json()
    assert theirs == {"id": mine["id"], "username": "alice", "accepted": False}
    accepted = client.post(
        f"/api/v1/me/recovery-contact-of/{mine['id']}", json={"accept": True}, headers=bob.auth
    )
    assert (accepted.status_code, accepted.json()) == (
        200,
        {"id": mine["id"], "username": "alice", "accepted": True},
    )
    assert client.get("/api/v1/me/recovery-contacts", headers=alice.auth).json()[0]["accepted"] is True
    events = client.get("/api/v1/me/events", headers=alice.auth).json()
    kinds = [e["type"] for e in events if e["type"].startswith("recovery_contact")]
    assert kinds == ["recovery_contact_accepted", "recovery_contact_added"]  # newest first


def test_naming_answers_the_same_whether_or_not_the_name_exists(
    alice: ApiUser, client: TestClient, clock: FrozenClock
) -> None:
    ApiUser(client, clock, "bob").register()
    real, unknown = name(alice, "bob"), name(alice, "nobody-by-this-name")
    assert (real.status_code, real.json()) == (unknown.status_code, unknown.json()) == (202, {"named": True})
    again = name(alice, "bob")
    assert (again.status_code, again.json()) == (202, {"named": True})


def test_never_oneself_at_most_two_and_sudo_while_two_step_is_on(
    alice: ApiUser, client: TestClient, clock: FrozenClock
) -> None:
    for username in ("bob", "carol", "dave"):
        ApiUser(client, clock, username).register()
    myself = name(alice, "alice")
    assert myself.status_code == 422 and myself.json()["error"]["code"] == "validation_error"
    assert myself.json()["error"]["reason"] == "self"
    assert name(alice, "bob").status_code == name(alice, "carol").status_code == 202
    full = name(alice, "dave")
    assert full.status_code == 409 and full.json()["error"]["code"] == "too_many_contacts"
    assert full.json()["error"] == {
        "code": "too_many_contacts",
        "message": "You already have 2 recovery contacts: remove one first.",
        "maximum": 2,
    }
    in_japanese = client.post(
        "/api/v1/me/recovery-contacts",
        json={"username": "dave"},
        headers={**alice.auth, "Accept-Language": "ja"},
    )
    assert "復旧の連絡先はすでに 2 人います" in in_japanese.json()["error"]["message"]
    erin = ApiUser(client, clock, "erin").register().enable_totp()
    refused = name(erin, "bob")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "sudo_required"
    erin.sudo()
    assert name(erin, "bob").status_code == 202


def test_a_recovery_asks_the_accepted_contact_by_mail_and_the_owner_hears_of_it(
    alice: ApiUser, bob: ApiUser, client: TestClient, clock: FrozenClock, smtp: MailHandler
) -> None:
    carol = person(client, clock, "carol", smtp)
    assert name(alice, "carol").status_code == 202  # carol never accepts: never asked
    request_id = start_recovery(client)

    [mail] = [m for m in mails_to(smtp, "bob@example.org") if "recover" in m["Subject"]]
    assert mail["Subject"] == "sparekey: alice is trying to recover their account"
    text = plain(mail)
    assert "alice named you as a recovery contact" in text
    assert re.findall(r"https?://\S+", text) == ["http://localhost:8000/security/recovery-contacts"]
    assert request_id not in text and not re.search(r"\b\d{6}\b", text)  # nothing that acts
    assert "alice@example.org" not in text and CLIENT_IP not in text  # nothing else of the account
    assert not [m for m in mails_to(smtp, "carol@example.org") if "recover" in m["Subject"]]
    assert asks(carol) == []

    [ask] = asks(bob)
    assert sorted(ask) == ASK_KEYS and ask["username"] == "alice"
    assert ask["asked_at"] == clock.now().isoformat()

    jobs.run(client.app.state.deps)  # type: ignore[attr-defined]
    told = {m["Subject"]: plain(m) for m in mails_to(smtp, "alice@example.org")}
    asked = told["sparekey: a recovery contact was asked about your account"]
    assert (
        "Your recovery contact bob was asked to confirm that the person recovering your account alice"
        in asked
    )
    assert "sparekey: a recovery contact answered" not in told

    assert answer(bob, ask["id"], "declined").json() == {"answered": True}
    jobs.run(client.app.state.deps)  # type: ignore[attr-defined]
    told = {m["Subject"]: plain(m) for m in mails_to(smtp, "alice@example.org")}
    assert "Your recovery contact bob answered" in told["sparekey: a recovery contact answered"]


def test_a_contacts_confirmation_shortens_the_wait_set_by_the_password(
    alice: ApiUser, bob: ApiUser, client: TestClient, clock: FrozenClock
) -> None:
    request_id = start_recovery(client)
    proved = client.post(f"/api/v1/recovery/{request_id}/evidence", json={"password": alice.password})
    assert proved.json() == {"state": "waiting", "ready_at": (clock.now() + WAIT).isoformat()}
    clock.advance(3600)
    [ask] = asks(bob)
    assert answer(bob, ask["id"], "confirmed").json() == {"answered": True}
    shorter = clock.now() + WAIT / 2
    assert state_of(client, request_id) == {"state": "waiting", "ready_at": shorter.isoformat()}
    assert shorter < clock.now() - timedelta(seconds=3600) + WAIT


def test_a_confirmation_alone_reaches_waiting(
    alice: ApiUser, bob: ApiUser, client: TestClient, clock: FrozenClock
) -> None:
    request_id = start_recovery(client)
    assert state_of(client, request_id) == {"state": "collecting"}
    [ask] = asks(bob)
    answer(bob, ask["id"], "confirmed")
    assert state_of(client, request_id) == {
        "state": "waiting",
        "ready_at": (clock.now() + WAIT / 2).isoformat(),
    }
    assert asks(bob) == []


def test_declining_proves_nothing(alice: ApiUser, bob: ApiUser, client: TestClient) -> None:
    request_id = start_recovery(client)
    [ask] = asks(bob)
    answer(bob, ask["id"], "declined")
    assert state_of(client, request_id) == {"state": "collecting"}
    again = answer(bob, ask["id"], "confirmed")  # answered once: the refusal stands
    assert again.json() == {"answered": True}
    assert state_of(client, request_id) == {"state": "collecting"}


def test_the_answers_look_alike_whatever_they_were(alice: ApiUser, bob: ApiUser, client: TestClient) -> None:
    answers = []
    for what in ("confirmed", "declined"):
        start_recovery(client)
        [ask] = asks(bob)
        answers.append(answer(bob, ask["id"], what))
        answers.append(answer(bob, ask["id"], what))  # twice
    start_recovery(client)
    [ask] = asks(bob)
    alice.login()  # the owner signs in normally: the request is cancelled
    assert asks(bob) == []
    answers.append(answer(bob, ask["id"], "confirmed"))
    seen = {(r.status_code, r.text, r.headers.get("content-type")) for r in answers}
    assert seen == {(200, '{"answered":true}', "application/json")}


def test_another_persons_ask_or_a_guessed_id_is_not_found_and_changes_nothing(
    alice: ApiUser, bob: ApiUser, client: TestClient, clock: FrozenClock, smtp: MailHandler
) -> None:
    carol = person(client, clock, "carol", smtp)
    request_id = start_recovery(client)
    [ask] = asks(bob)
    [naming] = client.get("/api/v1/me/recovery-contact-of", headers=bob.auth).json()
    made_up = answer(carol, "0" * 24, "confirmed")
    assert made_up.status_code == 404 and made_up.json()["error"]["code"] == "not_found"
    for who in (carol, alice):
        for what in ("confirmed", "declined"):
            stolen = answer(who, ask["id"], what)
            assert (stolen.status_code, stolen.json()) == (404, made_up.json())
        accepted = client.post(
            f"/api/v1/me/recovery-contact-of/{naming['id']}", json={"accept": True}, headers=who.auth
        )
        stopped = client.delete(f"/api/v1/me/recovery-contact-of/{naming['id']}", headers=who.auth)
        assert accepted.status_code == stopped.status_code == 404
    removed = client.delete(f"/api/v1/me/recovery-contacts/{naming['id']}", headers=carol.auth)
    assert removed.status_code == 404 and removed.json() == made_up.json()
    anonymous = client.post(f"/api/v1/me/recovery-contact-asks/{ask['id']}", json={"answer": "confirmed"})
    assert anonymous.status_code == 401
    assert state_of(client, request_id) == {"state": "collecting"}
    assert asks(bob) == [ask] and asks(carol) == []
    assert client.get("/api/v1/me/recovery-contacts", headers=alice.auth).json()[0]["accepted"] is True


def test_a_contact_sees_nothing_of_the_owners_account_but_the_username(
    alice: ApiUser, bob: ApiUser, client: TestClient
) -> None:
    request_id = start_recovery(client)
    client.post(f"/api/v1/recovery/{request_id}/evidence", json={"password": alice.password})
    views = [
        client.get("/api/v1/me/recovery-contact-of", headers=bob.auth).json(),
        asks(bob),
    ]
    assert [sorted(v[0]) for v in views] == [["accepted", "id", "username"], ASK_KEYS]
    text = str(views)
    for secret in (alice.password, "alice@example.org", request_id, "waiting", "password", CLIENT_IP):
        assert secret not in text


def test_removing_declining_and_stopping(
    alice: ApiUser, bob: ApiUser, client: TestClient, clock: FrozenClock, smtp: MailHandler
) -> None:
    carol = person(client, clock, "carol", smtp)
    name(alice, "carol")
    [pending] = client.get("/api/v1/me/recovery-contact-of", headers=carol.auth).json()
    declined = client.post(
        f"/api/v1/me/recovery-contact-of/{pending['id']}", json={"accept": False}, headers=carol.auth
    )
    assert declined.status_code == 204
    assert [c["username"] for c in client.get("/api/v1/me/recovery-contacts", headers=alice.auth).json()] == [
        "bob"
    ]
    start_recovery(client)
    [ask] = asks(bob)
    [mine] = client.get("/api/v1/me/recovery-contacts", headers=alice.auth).json()
    assert client.delete(f"/api/v1/me/recovery-contacts/{mine['id']}", headers=alice.auth).status_code == 204
    assert client.get("/api/v1/me/recovery-contact-of", headers=bob.auth).json() == []
    assert answer(bob, ask["id"], "confirmed").status_code == 404  # its asks went with it
    name(alice, "bob")
    accept_all(bob)
    [again] = client.get("/api/v1/me/recovery-contact-of", headers=bob.auth).json()
    assert client.delete(f"/api/v1/me/recovery-contact-of/{again['id']}", headers=bob.auth).status_code == 204
    assert client.get("/api/v1/me/recovery-contacts", headers=alice.auth).json() == []


def test_malformed_bodies_are_validation_errors(alice: ApiUser, bob: ApiUser, client: TestClient) -> None:
    start_recovery(client)
    [ask] = asks(bob)
    for body in ({"answer": "maybe"}, {"answer": True}, {}, {"answer": "confirmed\x00"}):
        refused = client.post(f"/api/v1/me/recovery-contact-asks/{ask['id']}", json=body, headers=bob.auth)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "validation_error"
    [naming] = client.get("/api/v1/me/recovery-contact-of", headers=bob.auth).json()
    for body in ({"accept": "yes"}, {}):
        refused = client.post(f"/api/v1/me/recovery-contact-of/{naming['id']}", json=body, headers=bob.auth)
        assert refused.status_code == 422
    for body in ({"username": "x" * 1001}, {"username": "a\x00b"}, {"username": 7}):
        assert name(alice, body["username"]).status_code == 422  # type: ignore[arg-type]
    assert asks(bob) == [ask]


@pytest.mark.parametrize("bad_id", ["%00", "x" * 5000, "%F0%9F%98%80", "..%2F..%2Fetc", "' OR 1=1 --"])
def test_hostile_ids_and_bodies_are_clear_4xx(
    alice: ApiUser, bob: ApiUser, client: TestClient, bad_id: str
) -> None:
    calls = [
        ("POST", f"/api/v1/me/recovery-contact-asks/{bad_id}", {"answer": "confirmed"}, bob),
        ("POST", f"/api/v1/me/recovery-contact-of/{bad_id}", {"accept": True}, bob),
        ("DELETE", f"/api/v1/me/recovery-contact-of/{bad_id}", None, bob),
        ("DELETE", f"/api/v1/me/recovery-contacts/{bad_id}", None, alice),
    ]
    for method, url, body, who in calls:
        response = client.request(method, url, json=body, headers=who.auth)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", url
    for raw in (b"{", b"[]", b'"confirmed"', b"\xff\xfe"):
        response = client.post(
            "/api/v1/me/recovery-contacts",
            content=raw,
            headers={**alice.auth, "Content-Type": "application/json"},
        )
        assert response.status_code in (400, 422) and "error" in response.json()
    assert client.get("/api/v1/me/recovery-contacts", headers=alice.auth).json()[0]["username"] == "bob"
