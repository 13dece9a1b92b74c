"""The organisation pages in a browser's place (TestClient with cookies and forms), in English
and Japanese: creating, inviting and joining; the banner and the redirect of a session that must
set up a second factor first, and enrolment lifting it; a reset after sudo."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from tests.web.test_page_journeys import PASSWORD, Browser


class Person(Browser):
    """A browser of its own (its own cookies), signed in as ``username``."""

    def __init__(self, app: object, clock: FrozenClock, username: str, lang: str) -> None:
        http = TestClient(app, headers={"Accept-Language": lang})  # type: ignore[arg-type]
        super().__init__(http, clock)
        self.username = username

    def sign_up(self) -> Person:
        self.register(self.username)
        return self

    def sign_in_again(self) -> None:
        self.get("/login")
        self.post("/login", username=self.username, password=PASSWORD)


@pytest.fixture(params=["en", "ja"])
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def people(client: TestClient, clock: FrozenClock, lang: str) -> Iterator[tuple[Person, Person]]:
    alice = Person(client.app, clock, "alice", lang).sign_up()
    bob = Person(client.app, clock, "bob", lang).sign_up()
    with alice.http, bob.http:
        yield alice, bob


TEXT = {
    "en": {
        "orgs": "Organisations",
        "created": "The organisation was created.",
        "invited": "the person is invited.",
        "joined": "You joined the organisation.",
        "banner": "Your organisation Acme requires two-step verification: set it up to continue.",
        "grace": "Your organisation Acme requires two-step verification from",
        "reset": "Two-step verification of the member was reset.",
    },
    "ja": {
        "orgs": "組織",
        "created": "組織を作成しました。",
        "invited": "そのユーザー名のアカウントがあれば、その人を招待しました。",
        "joined": "組織に参加しました。",
        "banner": "組織 Acme では 2 段階認証が必須です。続けるには設定してください。",
        "grace": "組織 Acme では",
        "reset": "メンバーの 2 段階認証をリセットしました。",
    },
}


def make_acme_with_bob(alice: Person, bob: Person, lang: str) -> str:
    """alice creates Acme on the pages and invites bob, who accepts; the organisation's path."""
    listing = alice.get("/security")
    assert 'href="/orgs"' in listing
    alice.get("/orgs")
    assert f"<h1>{TEXT[lang]['orgs']}</h1>" in alice.page
    alice.post("/orgs", name="Acme")
    assert TEXT[lang]["created"] in alice.page and "<h1>Acme</h1>" in alice.page
    path = re.search(r'action="(/orgs/\w+)/invitations"', alice.page).group(1)  # type: ignore[union-attr]
    alice.post(f"{path}/invitations", username="bob", role="member")
    assert TEXT[lang]["invited"] in alice.page
    bob.get("/orgs")
    answer = re.search(r'action="(/orgs/invitations/\w+)"', bob.page).group(1)  # type: ignore[union-attr]
    bob.post(answer, accept="yes")
    assert TEXT[lang]["joined"] in bob.page and "<h1>Acme</h1>" in bob.page
    assert 'class="username">bob<' in alice.get(path)
    return path


def test_create_invite_join_in_both_languages(people: tuple[Person, Person], lang: str) -> None:
    alice, bob = people
    path = make_acme_with_bob(alice, bob, lang)
    # A member sees the list, not the forms of admins.
    assert 'id="invite-form"' not in bob.get(path) and 'id="policy-form"' not in bob.page
    assert 'id="invite-form"' in alice.get(path) and 'id="policy-form"' in alice.page


def test_a_stranger_gets_nothing_from_an_organisation_page(
    people: tuple[Person, Person], client: TestClient, clock: FrozenClock, lang: str
) -> None:
    alice, bob = people
    path = make_acme_with_bob(alice, bob, lang)
    eve = Person(client.app, clock, "eve", lang).sign_up()
    with eve.http:
        page = eve.http.get(path)
        assert page.status_code == 404 and "Acme" not in page.text and "bob" not in page.text
        eve.get("/orgs")
        refused = eve.http.post(
            f"{path}/invitations", data={"csrf_token": csrf_of(eve.page), "username": "eve"}
        )
        assert refused.status_code == 404
    assert 'class="username">eve<' not in alice.get(path)


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def test_organisation_enforcement_on_the_pages(people: tuple[Person, Person], lang: str) -> None:
    alice, bob = people
    path = make_acme_with_bob(alice, bob, lang)
    alice.get(path)
    alice.post(f"{path}/policy", require_two_factor="yes", grace_days="2")
    assert 'id="policy-on"' in alice.page
    # During the grace period: a notice, nothing restricted.
    assert TEXT[lang]["grace"] in bob.get("/security") and 'id="org-required-' not in bob.page
    assert bob.get("/orgs")
    # After it, a new sign-in: every page leads to the security page, which says why.
    bob.clock.advance(2 * 86400 + 1)
    bob.sign_in_again()
    for page in ("/orgs", path, "/security/drill", "/security/secure"):
        answer = bob.http.get(page, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/security", page
    changed = bob.http.post(
        "/security/password", data={"csrf_token": csrf_of(bob.get("/security")), "new_password": "x" * 20}
    )
    assert changed.status_code == 200 and changed.url.path == "/security"
    still = bob.http.post("/api/v1/login", json={"username": "bob", "password": PASSWORD})
    assert still.status_code == 200  # the password was not changed
    assert TEXT[lang]["banner"] in bob.get("/security")
    # Enrolment works from there and lifts the restriction.
    bob.enable_totp()
    assert bob.get("/orgs") and "<h1>" in bob.page
    assert TEXT[lang]["banner"] not in bob.get("/security")


def test_a_reset_from_the_page_goes_through_sudo(people: tuple[Person, Person], lang: str) -> None:
    alice, bob = people
    path = make_acme_with_bob(alice, bob, lang)
    bob.enable_totp()
    alice.get(path)
    form = re.search(r'action="(/orgs/\w+/members/bob/reset)"', alice.page).group(1)  # type: ignore[union-attr]
    alice.post(form, reason="Lost phone")
    assert 'action="/security/sudo"' in alice.page and f'value="{path}"' in alice.page
    alice.post("/security/sudo", password=PASSWORD, next=path)
    assert "<h1>Acme</h1>" in alice.page
    alice.post(form, reason="Lost phone")
    assert TEXT[lang]["reset"] in alice.page
    row = alice.page.split('class="username">bob<')[1].split("</tr>")[0]
    assert ">Off<" in row or ">オフ<" in row
    assert bob.http.get("/security", follow_redirects=False).headers["location"] == "/login"
