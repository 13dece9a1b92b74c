"""Organisations through the JSON API: creating, inviting, answering, roles; what a stranger
learns (nothing); the two-step policy with its grace period, enforced on the session made at
sign-in and lifted by enrolling; an admin's reset of a member's second factors, told on every
channel through a real SMTP server and a local SMS provider."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from sparekey.web.app import create_app
from tests.conftest import test_settings
from tests.delivery.conftest import (
    HOST,
    Provider,
    start_mail_server,
    start_provider,
)
from tests.delivery.test_twilio import FROM, SID, TOKEN, FakeTwilio
from tests.web.conftest import CLIENT_IP, ApiUser
from tests.web.test_notifications import outbox

__all__ = ["start_mail_server", "start_provider"]  # fixtures, used by name

DAY = 86400
PHONE = "+819012345678"


def member_named(http: TestClient, clock: FrozenClock, name: str) -> ApiUser:
    person = ApiUser(http, clock, name).register()
    person.login()
    return person


def sign_in(person: ApiUser) -> None:
    """Password, and the app's code when the account has two-step verification."""
    body = person.login()
    if body["status"] == "second_factor_required":
        person.clock.advance(30)
        done = person.http.post(f"/api/v1/login/{body['flow_id']}/code", json={"code": person.totp()})
        assert done.status_code == 200, done.text
        person.token = done.json()["session_token"]


def create_org(owner: ApiUser, name: str = "Acme") -> str:
    made = owner.http.post("/api/v1/orgs", json={"name": name}, headers=owner.auth)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def join(owner: ApiUser, org_id: str, person: ApiUser, role: str = "member") -> None:
    invited = owner.http.post(
        f"/api/v1/orgs/{org_id}/invitations",
        json={"username": person.username, "role": role},
        headers=owner.auth,
    )
    assert invited.status_code == 202, invited.text
    [invitation] = person.http.get("/api/v1/me/invitations", headers=person.auth).json()["invitations"]
    answered = person.http.post(
        f"/api/v1/me/invitations/{invitation['id']}", json={"accept": True}, headers=person.auth
    )
    assert answered.status_code == 200 and answered.json()["accepted"], answered.text


def require_two_factor(owner: ApiUser, org_id: str, grace_days: int) -> dict[str, Any]:
    policy = owner.http.put(
        f"/api/v1/orgs/{org_id}/policy",
        json={"require_two_factor": True, "grace_days": grace_days},
        headers=owner.auth,
    )
    assert policy.status_code == 200, policy.text
    body: dict[str, Any] = policy.json()
    return body


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


@pytest.fixture
def alice(user: ApiUser) -> ApiUser:
    user.login()
    return user


@pytest.fixture
def org(alice: ApiUser) -> str:
    return create_org(alice)


@pytest.fixture
def bob(client: TestClient, clock: FrozenClock) -> ApiUser:
    return member_named(client, clock, "bob")


@pytest.fixture
def mallory(client: TestClient, clock: FrozenClock) -> ApiUser:
    return member_named(client, clock, "mallory")


# Creating, inviting, answering ------------------------------------------------------------


def test_the_creator_is_owner_and_sees_the_members(alice: ApiUser) -> None:
    made = alice.http.post("/api/v1/orgs", json={"name": "  Acme   Inc  "}, headers=alice.auth)
    assert made.status_code == 201
    body = made.json()
    assert body["name"] == "Acme Inc" and body["role"] == "owner"
    assert body["policy"] == {"require_two_factor": False, "grace_days": 7, "required_since": None}
    listed = alice.http.get("/api/v1/orgs", headers=alice.auth).json()["organisations"]
    assert [(o["id"], o["role"]) for o in listed] == [(body["id"], "owner")]
    seen = alice.http.get(f"/api/v1/orgs/{body['id']}", headers=alice.auth).json()
    assert seen["members"] == [
        {
            "username": "alice",
            "role": "owner",
            "joined_at": seen["members"][0]["joined_at"],
            "two_factor": False,
        }
    ]


def test_a_name_is_needed(alice: ApiUser) -> None:
    for name in ("", "   ", "x" * 65, "a\u200bb"):
        answer = alice.http.post("/api/v1/orgs", json={"name": name}, headers=alice.auth)
        assert answer.status_code == 422 and answer.json()["error"]["field"] == "name", name
    assert alice.http.post("/api/v1/orgs", json={"name": "Acme"}).status_code == 401


def test_an_invitation_is_accepted_by_the_invitee_only(
    alice: ApiUser, org: str, bob: ApiUser, mallory: ApiUser
) -> None:
    invited = alice.http.post(
        f"/api/v1/orgs/{org}/invitations", json={"username": "BOB", "role": "admin"}, headers=alice.auth
    )
    assert invited.status_code == 202 and invited.json() == {"invited": True}
    [invitation] = bob.http.get("/api/v1/me/invitations", headers=bob.auth).json()["invitations"]
    assert invitation["organisation"] == {"id": org, "name": "Acme"} and invitation["role"] == "admin"
    assert mallory.http.get("/api/v1/me/invitations", headers=mallory.auth).json() == {"invitations": []}
    stolen = mallory.http.post(
        f"/api/v1/me/invitations/{invitation['id']}", json={"accept": True}, headers=mallory.auth
    )
    assert stolen.status_code == 404 and error_code(stolen) == "not_found"

    accepted = bob.http.post(
        f"/api/v1/me/invitations/{invitation['id']}", json={"accept": True}, headers=bob.auth
    )
    assert accepted.status_code == 200
    assert accepted.json()["organisation"]["role"] == "admin"
    again = bob.http.post(
        f"/api/v1/me/invitations/{invitation['id']}", json={"accept": False}, headers=bob.auth
    )
    assert again.status_code == 404  # answered once
    members = alice.http.get(f"/api/v1/orgs/{org}", headers=alice.auth).json()["members"]
    assert [(m["username"], m["role"]) for m in members] == [("alice", "owner"), ("bob", "admin")]
    events = bob.http.get("/api/v1/me/events?type=organisation_joined", headers=bob.auth).json()
    assert [(e["organisation"], e["role"]) for e in events] == [("Acme", "admin")]


def test_a_declined_or_expired_invitation_joins_nobody(
    alice: ApiUser, org: str, bob: ApiUser, clock: FrozenClock
) -> None:
    alice.http.post(f"/api/v1/orgs/{org}/invitations", json={"username": "bob"}, headers=alice.auth)
    [first] = bob.http.get("/api/v1/me/invitations", headers=bob.auth).json()["invitations"]
    declined = bob.http.post(
        f"/api/v1/me/invitations/{first['id']}", json={"accept": False}, headers=bob.auth
    )
    assert declined.json() == {"accepted": False}
    assert bob.http.get(f"/api/v1/orgs/{org}", headers=bob.auth).status_code == 404

    alice.http.post(f"/api/v1/orgs/{org}/invitations", json={"username": "bob"}, headers=alice.auth)
    [second] = bob.http.get("/api/v1/me/invitations", headers=bob.auth).json()["invitations"]
    clock.advance(7 * DAY + 1)
    bob.login()  # the week outlived the session
    assert bob.http.get("/api/v1/me/invitations", headers=bob.auth).json() == {"invitations": []}
    late = bob.http.post(f"/api/v1/me/invitations/{second['id']}", json={"accept": True}, headers=bob.auth)
    assert late.status_code == 404
    assert bob.http.get("/api/v1/orgs", headers=bob.auth).json() == {"organisations": []}


def test_an_unknown_username_gets_the_same_answer(alice: ApiUser, org: str, bob: ApiUser) -> None:
    answers = [
        alice.http.post(f"/api/v1/orgs/{org}/invitations", json={"username": name}, headers=alice.auth)
        for name in ("bob", "nobody-by-this-name", "alice", "\u0000bad")
    ]
    assert [a.status_code for a in answers[:3]] == [202, 202, 202]
    assert answers[0].json() == answers[1].json() == answers[2].json()
    assert answers[3].status_code == 422  # a NUL is not a username anybody could have


# What a stranger learns -----------------------------------------------------------------


def test_a_non_member_gets_not_found_like_an_id_that_names_nothing(
    alice: ApiUser, org: str, mallory: ApiUser
) -> None:
    h = mallory.auth
    for missing in (org, "0" * 24, "x" * 300, "%00"):
        calls = [
            mallory.http.get(f"/api/v1/orgs/{missing}", headers=h),
            mallory.http.post(f"/api/v1/orgs/{missing}/invitations", json={"username": "mallory"}, headers=h),
            mallory.http.put(f"/api/v1/orgs/{missing}/policy", json={"require_two_factor": False}, headers=h),
            mallory.http.patch(f"/api/v1/orgs/{missing}/members/alice", json={"role": "member"}, headers=h),
            mallory.http.delete(f"/api/v1/orgs/{missing}/members/alice", headers=h),
            mallory.http.post(
                f"/api/v1/orgs/{missing}/members/alice/reset-2fa", json={"reason": "x"}, headers=h
            ),
        ]
        assert {(c.status_code, error_code(c)) for c in calls} == {(404, "not_found")}, missing
    assert mallory.http.get("/api/v1/orgs", headers=h).json() == {"organisations": []}
    assert [
        m["username"] for m in alice.http.get(f"/api/v1/orgs/{org}", headers=alice.auth).json()["members"]
    ] == ["alice"]


# Roles -------------------------------------------------------------------------------------


def test_what_each_role_may_do(alice: ApiUser, org: str, bob: ApiUser, mallory: ApiUser) -> None:
    join(alice, org, bob, "admin")
    join(alice, org, mallory, "member")
    # A member reads, may not manage.
    assert mallory.http.get(f"/api/v1/orgs/{org}", headers=mallory.auth).json()["role"] == "member"
    denied = mallory.http.post(
        f"/api/v1/orgs/{org}/invitations", json={"username": "x"}, headers=mallory.auth
    )
    assert denied.status_code == 403 and error_code(denied) == "org_role_required"
    assert denied.json()["error"]["role"] == "admin"
    policy = mallory.http.put(
        f"/api/v1/orgs/{org}/policy", json={"require_two_factor": True}, headers=mallory.auth
    )
    assert error_code(policy) == "org_role_required"
    kick = mallory.http.delete(f"/api/v1/orgs/{org}/members/bob", headers=mallory.auth)
    assert kick.status_code == 403
    # An admin invites members and admins, not owners; changes no role; removes no owner.
    owner_invite = bob.http.post(
        f"/api/v1/orgs/{org}/invitations", json={"username": "carol", "role": "owner"}, headers=bob.auth
    )
    assert owner_invite.status_code == 403 and owner_invite.json()["error"]["role"] == "owner"
    promote = bob.http.patch(f"/api/v1/orgs/{org}/members/mallory", json={"role": "admin"}, headers=bob.auth)
    assert promote.status_code == 403 and error_code(promote) == "org_role_required"
    assert bob.http.delete(f"/api/v1/orgs/{org}/members/alice", headers=bob.auth).status_code == 403
    # The owner changes roles.
    changed = alice.http.patch(
        f"/api/v1/orgs/{org}/members/mallory", json={"role": "admin"}, headers=alice.auth
    )
    assert changed.status_code == 200 and changed.json()["role"] == "admin"
    bad = alice.http.patch(f"/api/v1/orgs/{org}/members/mallory", json={"role": "boss"}, headers=alice.auth)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "role"
    # An admin removes an admin; the removed member's history says so.
    assert bob.http.delete(f"/api/v1/orgs/{org}/members/mallory", headers=bob.auth).status_code == 204
    left = mallory.http.get("/api/v1/me/events?type=organisation_left", headers=mallory.auth).json()
    assert [(e["organisation"], e["by"]) for e in left] == [("Acme", "bob")]
    assert mallory.http.get(f"/api/v1/orgs/{org}", headers=mallory.auth).status_code == 404


def test_an_organisation_always_keeps_an_owner(alice: ApiUser, org: str, bob: ApiUser) -> None:
    join(alice, org, bob)
    demote = alice.http.patch(f"/api/v1/orgs/{org}/members/alice", json={"role": "admin"}, headers=alice.auth)
    assert demote.status_code == 409 and error_code(demote) == "org_needs_owner"
    leave = alice.http.delete(f"/api/v1/orgs/{org}/members/alice", headers=alice.auth)
    assert leave.status_code == 409 and error_code(leave) == "org_needs_owner"
    promote = alice.http.patch(f"/api/v1/orgs/{org}/members/bob", json={"role": "owner"}, headers=alice.auth)
    assert promote.status_code == 200
    assert alice.http.delete(f"/api/v1/orgs/{org}/members/alice", headers=alice.auth).status_code == 204
    members = bob.http.get(f"/api/v1/orgs/{org}", headers=bob.auth).json()["members"]
    assert [(m["username"], m["role"]) for m in members] == [("bob", "owner")]
    left = alice.http.get("/api/v1/me/events?type=organisation_left", headers=alice.auth).json()
    assert [e["organisation"] for e in left] == ["Acme"] and "by" not in left[0]


def test_a_member_leaves_on_their_own(alice: ApiUser, org: str, bob: ApiUser) -> None:
    join(alice, org, bob)
    assert bob.http.delete(f"/api/v1/orgs/{org}/members/bob", headers=bob.auth).status_code == 204
    assert bob.http.get("/api/v1/orgs", headers=bob.auth).json() == {"organisations": []}


# The policy and its enforcement -----------------------------------------------------------


def test_policy_values(alice: ApiUser, org: str, clock: FrozenClock) -> None:
    turned_on = require_two_factor(alice, org, 14)
    assert turned_on["require_two_factor"] and turned_on["grace_days"] == 14
    since = turned_on["required_since"]
    assert since == clock.now().isoformat()
    clock.advance(DAY)
    alice.login()
    assert require_two_factor(alice, org, 3)["required_since"] == since  # kept while it stays on
    for days in (-1, 91, "7"):
        bad = alice.http.put(
            f"/api/v1/orgs/{org}/policy",
            json={"require_two_factor": True, "grace_days": days},
            headers=alice.auth,
        )
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "grace_days", days
    off = alice.http.put(f"/api/v1/orgs/{org}/policy", json={"require_two_factor": False}, headers=alice.auth)
    assert off.json() == {"require_two_factor": False, "grace_days": 7, "required_since": None}


def test_organisation_enforcement_grace_then_restriction_then_enrolment_lifts_it(
    alice: ApiUser, org: str, bob: ApiUser, clock: FrozenClock
) -> None:
    join(alice, org, bob)
    require_two_factor(alice, org, 3)
    enforced_from = (clock.now() + timedelta(days=3)).isoformat()

    # During the grace period: a notice in /me, nothing restricted.
    bob.login()
    me = bob.http.get("/api/v1/me", headers=bob.auth).json()
    assert me["organisation_requirements"] == [
        {"organisation": "Acme", "organisation_id": org, "enforced_from": enforced_from}
    ]
    assert bob.http.get("/api/v1/me/sessions", headers=bob.auth).status_code == 200

    # After it: the sign-in still succeeds, but the session may only set up a second factor.
    clock.advance(3 * DAY + 1)
    assert bob.login()["status"] == "authenticated"
    for method, path in (
        ("GET", "/api/v1/me/sessions"),
        ("GET", "/api/v1/me/events"),
        ("GET", "/api/v1/orgs"),
        ("GET", f"/api/v1/orgs/{org}"),
        ("DELETE", "/api/v1/me/sessions"),
        ("PUT", "/api/v1/me/preferences"),
    ):
        refused = bob.http.request(method, path, headers=bob.auth, json={})
        assert refused.status_code == 403, (method, path, refused.text)
        error = refused.json()["error"]
        assert error["code"] == "two_factor_required" and error["enrol_url"] == "/security"
        assert error["organisations"] == ["Acme"]
        assert "two-step verification" in error["message"]
    assert bob.http.get("/api/v1/me", headers=bob.auth).status_code == 200
    # Enrolment works from the restricted session, and the first factor lifts the restriction.
    bob.enable_totp()
    assert bob.http.get("/api/v1/me/sessions", headers=bob.auth).status_code == 200
    assert bob.http.get("/api/v1/me", headers=bob.auth).json()["organisation_requirements"] == []
    # The next sign-in asks for the second factor as usual and is not restricted.
    sign_in(bob)
    assert bob.http.get("/api/v1/me/events", headers=bob.auth).status_code == 200


def test_a_member_who_joins_later_gets_their_own_grace_period(
    alice: ApiUser, org: str, bob: ApiUser, clock: FrozenClock
) -> None:
    alice.enable_totp()
    require_two_factor(alice, org, 2)
    clock.advance(10 * DAY)
    sign_in(alice)
    bob.login()
    join(alice, org, bob)
    bob.login()
    assert bob.http.get("/api/v1/me/sessions", headers=bob.auth).status_code == 200
    clock.advance(2 * DAY + 1)
    bob.login()
    assert error_code(bob.http.get("/api/v1/me/sessions", headers=bob.auth)) == "two_factor_required"


def test_the_restriction_goes_with_the_requirement(
    alice: ApiUser, org: str, bob: ApiUser, clock: FrozenClock
) -> None:
    join(alice, org, bob)
    require_two_factor(alice, org, 0)
    bob.login()
    assert bob.http.get("/api/v1/me/sessions", headers=bob.auth).status_code == 403
    alice.http.put(f"/api/v1/orgs/{org}/policy", json={"require_two_factor": False}, headers=alice.auth)
    assert bob.http.get("/api/v1/me/sessions", headers=bob.auth).status_code == 200


def test_logout_and_phone_enrolment_work_while_restricted(
    alice: ApiUser, org: str, bob: ApiUser, clock: FrozenClock
) -> None:
    join(alice, org, bob)
    require_two_factor(alice, org, 0)
    bob.login()
    added = bob.http.post(
        "/api/v1/me/contacts",
        json={"kind": "phone", "address": "090-1234-5678", "region": "JP"},
        headers=bob.auth,
    )
    assert added.status_code == 201, added.text
    [(_m, body)] = [(m, b) for m, b in outbox(bob.http, PHONE) if m.kind == "contact_code"]
    code = re.search(r"\b\d{6}\b", body.text).group(0)  # type: ignore[union-attr]
    verified = bob.http.post(
        f"/api/v1/me/contacts/{added.json()['id']}/verify", json={"code": code}, headers=bob.auth
    )
    assert verified.status_code == 200, verified.text
    assert bob.http.get("/api/v1/me/sessions", headers=bob.auth).status_code == 200
    assert bob.http.post("/api/v1/logout", headers=bob.auth).status_code == 204


def test_a_member_with_two_factor_is_never_restricted(
    alice: ApiUser, org: str, bob: ApiUser, clock: FrozenClock
) -> None:
    bob.enable_totp()
    join(alice, org, bob)
    require_two_factor(alice, org, 0)
    sign_in(bob)
    assert bob.http.get("/api/v1/me/sessions", headers=bob.auth).status_code == 200
    assert bob.http.get("/api/v1/me", headers=bob.auth).json()["organisation_requirements"] == []
    seen = alice.http.get(f"/api/v1/orgs/{org}", headers=alice.auth).json()["members"]
    assert {m["username"]: m["two_factor"] for m in seen} == {"alice": False, "bob": True}


# The admin's reset -------------------------------------------------------------------------


def test_admin_reset_needs_a_role_sudo_and_a_reason(
    alice: ApiUser, org: str, bob: ApiUser, mallory: ApiUser
) -> None:
    join(alice, org, bob, "admin")
    join(alice, org, mallory)
    mallory.enable_totp()
    url = f"/api/v1/orgs/{org}"
    by_member = mallory.http.post(f"{url}/members/bob/reset-2fa", json={"reason": "x"}, headers=mallory.auth)
    assert by_member.status_code == 403 and error_code(by_member) == "org_role_required"
    on_owner = bob.http.post(f"{url}/members/alice/reset-2fa", json={"reason": "lost"}, headers=bob.auth)
    assert on_owner.status_code == 403 and error_code(on_owner) == "org_role_required"
    no_sudo = bob.http.post(f"{url}/members/mallory/reset-2fa", json={"reason": "lost"}, headers=bob.auth)
    assert no_sudo.status_code == 403 and error_code(no_sudo) == "sudo_required"
    stranger = bob.http.post(f"{url}/members/nobody/reset-2fa", json={"reason": "lost"}, headers=bob.auth)
    assert stranger.status_code == 404
    bob.sudo()
    for reason in ("", "   ", "x" * 501):
        bad = bob.http.post(f"{url}/members/mallory/reset-2fa", json={"reason": reason}, headers=bob.auth)
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "reason", reason
    own = bob.http.post(f"{url}/members/bob/reset-2fa", json={"reason": "mine"}, headers=bob.auth)
    assert own.status_code == 422
    assert mallory.http.get("/api/v1/me", headers=mallory.auth).json()["two_factor_enabled"]


@pytest.fixture
def twilio(start_provider: Any) -> tuple[FakeTwilio, Provider]:  # noqa: F811 - the fixture is used
    fake = FakeTwilio()
    return fake, start_provider(fake)


def test_admin_reset_removes_every_factor_ends_sessions_and_tells_every_channel(
    tmp_path: Path,
    clock: FrozenClock,
    start_mail_server: Any,  # noqa: F811 - the fixture imported above
    twilio: tuple[FakeTwilio, Provider],
) -> None:
    fake, provider = twilio
    mail = start_mail_server()
    settings = {
        "mail_sender": "smtp",
        "smtp_host": HOST,
        "smtp_port": mail.port,
        "smtp_security": "none",
        "mail_from": "sparekey@example.org",
        "phone_sender": "twilio",
        "twilio_account_sid": SID,
        "twilio_auth_token": TOKEN,
        "twilio_from": FROM,
        "twilio_api_base": provider.url,
    }
    app = create_app(test_settings(tmp_path, **settings), clock=clock, migrate=True)
    with TestClient(app, headers={"Accept-Language": "en"}, client=(CLIENT_IP, 50000)) as http:
        alice = member_named(http, clock, "alice")
        bob = member_named(http, clock, "bob")
        # bob: an e-mail address (read on the mail server), a phone (read at the provider), an app.
        added = http.post(
            "/api/v1/me/contacts", json={"kind": "email", "address": "bob@example.org"}, headers=bob.auth
        )
        text = mail.handler.mails()[-1].get_body(preferencelist=("plain",)).get_content()
        code = re.search(r"\b\d{6}\b", text).group(0)  # type: ignore[union-attr]
        http.post(f"/api/v1/me/contacts/{added.json()['id']}/verify", json={"code": code}, headers=bob.auth)
        bob.enable_totp()
        bob.sudo()
        phone = http.post(
            "/api/v1/me/contacts",
            json={"kind": "phone", "address": "090-1234-5678", "region": "JP"},
            headers=bob.auth,
        )
        code = re.search(r"\b\d{6}\b", fake.accepted[-1]["Body"]).group(0)  # type: ignore[union-attr]
        http.post(f"/api/v1/me/contacts/{phone.json()['id']}/verify", json={"code": code}, headers=bob.auth)
        other_session = ApiUser(http, clock, "bob")
        other_session.secret = bob.secret
        sign_in(other_session)

        org = create_org(alice, "Acme")
        join(alice, org, bob)
        alice.sudo()
        mails_before, sms_before = len(mail.handler.mails()), len(fake.accepted)
        reset = http.post(
            f"/api/v1/orgs/{org}/members/bob/reset-2fa",
            json={"reason": "Lost his phone on the train"},
            headers=alice.auth,
        )
        assert reset.status_code == 200 and reset.json() == {"reset": True}  # nothing about bob's factors

        # Told at once, on every channel, with who and why.
        [told] = [
            m for m in mail.handler.mails()[mails_before:] if "Acme" in m.get_body(("plain",)).get_content()
        ]
        assert told["To"] == "bob@example.org"
        mail_text = told.get_body(preferencelist=("plain",)).get_content()
        assert "An administrator of Acme reset the two-step verification of your account bob" in mail_text
        assert "Lost his phone on the train" in mail_text
        [sms] = [s for s in fake.accepted[sms_before:] if "verification was reset" in s["Body"]]
        assert sms["To"] == PHONE and sms["resource"] == "Messages"  # one short segment: what, and what to do
        assert (
            "sparekey: your two-step verification was reset" in sms["Body"]
            and "/security/secure" in sms["Body"]
        )
        assert not re.search(r"\b\d{6}\b", sms["Body"])

        # Every session ended; the password alone signs bob in now; every factor is gone.
        assert http.get("/api/v1/me", headers=bob.auth).status_code == 401
        assert http.get("/api/v1/me", headers=other_session.auth).status_code == 401
        assert bob.login()["status"] == "authenticated"
        me = http.get("/api/v1/me", headers=bob.auth).json()
        assert me["two_factor_enabled"] is False and me["backup_codes"] is None
        contacts = http.get("/api/v1/me/contacts", headers=bob.auth).json()
        assert all(c["kind"] != "phone" for c in contacts)
        # Recorded, with the actor and the reason.
        [event] = http.get("/api/v1/me/events?type=two_factor_reset", headers=bob.auth).json()
        assert (event["by"], event["organisation"], event["reason"]) == (
            "alice",
            "Acme",
            "Lost his phone on the train",
        )
        # The admin's view says only that 2FA is off now.
        members = http.get(f"/api/v1/orgs/{org}", headers=alice.auth).json()["members"]
        assert {m["username"]: m["two_factor"] for m in members} == {"alice": False, "bob": False}
        assert "secret" not in reset.text and str(bob.secret) not in reset.text
