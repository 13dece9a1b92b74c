"""The security page as an overview: readiness first, times with their zone, signing out
every other session, history by kind with a CSV link, the choice of messages and of the
time zone. Both languages."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from tests.web.test_page_journeys import PASSWORD, Browser


@pytest.fixture
def pages(client: TestClient, clock: FrozenClock) -> Browser:
    client.headers.pop("Accept-Language", None)
    return Browser(client, clock)


def test_readiness_comes_first_and_each_missing_item_links_to_its_fix(pages: Browser) -> None:
    pages.register()
    page = pages.get("/security")
    assert page.index('id="readiness"') < page.index('id="two-step"')
    assert "If you lost your phone today, could you get back in?" in page and "Not yet." in page
    for item in ("two_ways_in", "backup_codes_present", "recovery_email_verified"):
        found = re.search(rf'id="ready-{item}">.*?<a href="([^"]+)">Fix this</a>', page, re.S)
        assert found and found.group(1).startswith("/security"), item
    pages.enable_totp()
    page = pages.get("/security")
    assert (
        'class="ok" id="ready-two_ways_in"' in page
        and 'class="todo" id="ready-backup_codes_confirmed"' in page
    )
    assert 'href="/security/change-phone"' in page and 'href="/security/drill"' in page


def test_times_carry_their_zone_in_the_browsers_or_the_chosen_one(pages: Browser, client: TestClient) -> None:
    pages.register()
    page = pages.get("/security")
    stamp = re.search(r'<time datetime="([^"]+)">([^<]+)</time>', page)
    assert stamp and stamp.group(1).endswith("+00:00") and stamp.group(2).endswith("UTC")
    client.cookies.set("tz", "Asia/Tokyo")  # what static/sparekey.js sets from the browser
    assert re.search(r"<time datetime=\"[^\"]+\">[^<]+ \+0900 \(Asia/Tokyo\)</time>", pages.get("/security"))
    pages.post("/security/time-zone", time_zone="Europe/Berlin")
    assert "Times are now shown in the zone you chose." in pages.page
    assert re.search(r"<time datetime=\"[^\"]+\">[^<]+ \+0100 \(Europe/Berlin\)</time>", pages.page)
    pages.get("/security")
    pages.post("/security/time-zone", 422, time_zone="Mars/Olympus")
    client.cookies.set("tz", 'Not/A_Zone"<script>')
    assert "<script>" not in pages.get("/security").split("<main>")[1].split("</main>")[0].replace(
        "<script", ""
    )


def test_sign_out_everywhere_else(pages: Browser, client: TestClient) -> None:
    pages.register()
    other = client.post("/api/v1/login", json={"username": "alice", "password": PASSWORD}).json()
    page = pages.get("/security")
    assert page.count('action="/security/sessions/') >= 1 and "Sign out everywhere else" in page
    pages.post("/security/sessions/revoke-others")
    assert "Every other session was signed out." in pages.page
    gone = client.get("/api/v1/me", headers={"Authorization": f"Bearer {other['session_token']}"})
    assert gone.status_code == 401


def test_history_by_kind_and_as_csv(pages: Browser, client: TestClient) -> None:
    pages.register()
    client.post("/api/v1/login", json={"username": "alice", "password": "wrong password"})
    page = pages.get("/security?kind=sudo")
    history = page.split('id="history"')[1]
    assert "Sign-in" not in history.split("</form>")[1]  # filtered out
    assert 'href="/api/v1/me/events?format=csv&amp;type=sudo"' in history
    page = pages.get("/security?kind=sign_in")
    assert "wrong password" in page.split('id="history"')[1]
    csv = client.get("/api/v1/me/events?format=csv&type=sign_in")  # the link, with the page's cookie
    assert csv.status_code == 200 and csv.text.startswith("id,at,type")


def test_choosing_messages_keeps_the_critical_ones(pages: Browser, client: TestClient) -> None:
    pages.register()
    page = pages.get("/security")
    assert re.search(r'value="password_changed" checked disabled', page)
    pages.post("/security/notifications", wanted=["new_device_sign_in", "backup_code_used"])
    assert "Your choice of messages was saved." in pages.page
    muted = client.get("/api/v1/me/notifications").json()["muted"]
    assert muted == ["factor_added", "rate_limited"]


def test_the_overview_in_japanese(pages: Browser) -> None:
    pages.http.headers["Accept-Language"] = "ja"
    pages.register()
    page = pages.get("/security")
    assert "今日スマートフォンをなくしても、サインインできますか？" in page
    assert "アカウントに関するお知らせ" in page and "CSV でダウンロード" in page
    assert re.search(r"<time datetime=\"[^\"]+\">\d{4}/\d{2}/\d{2} [^<]+UTC</time>", page)
