"""The recovery contacts page, driven as two browsers without JavaScript would (one per person):
naming, accepting, the ask and its answer in English and Japanese, the same thanks whatever
the answer, naming oneself and the limit explained, sudo while two-step verification is on."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from tests.web.conftest import CLIENT_IP
from tests.web.test_page_journeys import PASSWORD, Browser

PAGE = "/security/recovery-contacts"


def browser(client: TestClient, clock: FrozenClock, username: str, lang: str = "en") -> Browser:
    """Its own cookies, on the same application."""
    http = TestClient(client.app, headers={"Accept-Language": lang}, client=(CLIENT_IP, 50001))
    person = Browser(http, clock)
    person.register(username)
    return person


@pytest.fixture
def alice(client: TestClient, clock: FrozenClock) -> Browser:
    return browser(client, clock, "alice")


def main(page: str) -> str:
    return page.split("<main>")[1].split("</main>")[0]


def action(page: str, pattern: str) -> str:
    found = re.search(rf'action="({pattern})"', page)
    assert found, page
    return found.group(1)


def recover(client: TestClient, username: str = "alice") -> str:
    response = client.post("/api/v1/recovery", json={"username": username})
    assert response.status_code == 202
    return str(response.json()["request_id"])


def named_and_accepted(alice: Browser, bob: Browser) -> None:
    alice.get(PAGE)
    alice.post(PAGE, username="bob")
    bob.get(PAGE)
    bob.post(action(bob.page, r"/security/recovery-contact-of/\w+/accept"))


@pytest.mark.parametrize(
    ("lang", "texts"),
    [
        (
            "en",
            (
                "Recovery contacts",
                "Your recovery contacts",
                "People who named you",
                "Name as a recovery contact",
            ),
        ),
        ("ja", ("復旧の連絡先", "あなたの復旧の連絡先", "あなたを指定した人", "復旧の連絡先に指定する")),
    ],
)
def test_the_page_and_its_link_in_both_languages(
    client: TestClient, clock: FrozenClock, lang: str, texts: tuple[str, ...]
) -> None:
    someone = browser(client, clock, "alice", lang)
    assert f'href="{PAGE}"' in someone.get("/security")
    page = someone.get(PAGE)
    assert f'lang="{lang}"' in page and all(text in page for text in texts)
    assert 'id="named-me-none"' in page and 'name="username"' in page


def test_not_signed_in_goes_to_sign_in(client: TestClient) -> None:
    response = client.get(PAGE, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"


def test_naming_accepting_asking_and_confirming(
    alice: Browser, client: TestClient, clock: FrozenClock
) -> None:
    bob = browser(client, clock, "bob")
    alice.get(PAGE)
    alice.post(PAGE, username="bob")
    assert "Done. If this person has an account here" in alice.page
    assert "<strong>bob</strong> <small>waiting for them to accept</small>" in alice.page

    page = bob.get(PAGE)
    assert "alice named you as a recovery contact." in page
    bob.post(action(page, r"/security/recovery-contact-of/\w+/accept"))
    assert "You accepted." in bob.page and "You are a recovery contact of alice." in bob.page
    assert "<strong>bob</strong> <small>accepted</small>" in alice.get(PAGE)

    request_id = recover(client)
    page = bob.get(PAGE)
    assert "Is the person recovering alice&#39;s account really them?" in page
    assert "Only confirm if they asked you themselves, by a way you trust" in page
    assert "Confirm it is them" in page and "No, or I don&#39;t know" in page
    assert request_id not in page and "collecting" not in page
    bob.post(action(page, r"/security/recovery-contact-asks/\w+"), answer="confirmed")
    assert "Thank you. Your answer was recorded." in bob.page and 'id="asks"' not in bob.page
    assert client.get(f"/api/v1/recovery/{request_id}").json()["state"] == "waiting"


def test_the_same_thanks_whatever_the_answer_and_in_japanese(
    alice: Browser, client: TestClient, clock: FrozenClock
) -> None:
    bob = browser(client, clock, "bob", "ja")
    named_and_accepted(alice, bob)
    pages = []
    for answer in ("declined", "confirmed"):
        recover(client)
        page = bob.get(PAGE)
        assert "alice さんのアカウントを復旧しようとしているのは、本当に本人ですか？" in page
        assert "本人だと確認する" in page and "いいえ、またはわからない" in page
        bob.post(action(page, r"/security/recovery-contact-asks/\w+"), answer=answer)
        pages.append(main(bob.page))
    assert pages[0] == pages[1] and "ありがとうございます。回答を記録しました。" in pages[0]


def test_declining_a_naming_and_stopping(alice: Browser, client: TestClient, clock: FrozenClock) -> None:
    bob, carol = browser(client, clock, "bob"), browser(client, clock, "carol")
    named_and_accepted(alice, bob)
    alice.post(PAGE, username="carol")
    carol.get(PAGE)
    carol.post(action(carol.page, r"/security/recovery-contact-of/\w+/decline"))
    assert "Removed." in carol.page and 'id="named-me-none"' in carol.page
    bob.get(PAGE)
    bob.post(action(bob.page, r"/security/recovery-contact-of/\w+/stop"))
    assert 'id="named-me-none"' in bob.page
    assert "<strong>" not in main(alice.get(PAGE)).split('id="my-contacts"')[1]


def test_oneself_and_the_limit_are_explained(alice: Browser, client: TestClient, clock: FrozenClock) -> None:
    for username in ("bob", "carol"):
        browser(client, clock, username)
    alice.get(PAGE)
    alice.post(PAGE, 422, username="alice")
    assert "You cannot be your own recovery contact: name someone else." in alice.page
    alice.post(PAGE, username="bob")
    alice.post(PAGE, username="nobody-by-this-name")  # the same answer as for a real name
    assert "Done. If this person has an account here" in alice.page
    alice.post(PAGE, username="carol")
    assert 'id="contacts-full"' in alice.page and 'id="name-contact"' not in alice.page
    alice.post(action(alice.page, r"/security/recovery-contacts/\w+/remove"))
    assert "Removed." in alice.page and 'id="name-contact"' in alice.page


def test_naming_asks_for_sudo_while_two_step_verification_is_on(alice: Browser) -> None:
    alice.enable_totp()
    alice.get(PAGE)
    alice.post(PAGE, username="bob")
    assert 'action="/security/sudo"' in alice.page and f'value="{PAGE}"' in alice.page
    alice.post("/security/sudo", password=PASSWORD, code=alice.codes[0], next=PAGE)
    assert "Your recovery contacts" in alice.page
    alice.post(PAGE, username="bob")
    assert "Done. If this person has an account here" in alice.page


def test_a_form_without_its_token_is_refused(alice: Browser) -> None:
    alice.get(PAGE)
    refused = alice.http.post(PAGE, data={"csrf_token": "forged", "username": "bob"})
    assert refused.status_code == 403
