"""Nobody can lock the owner out (API.md): a client that signed in before keeps its own count.

Over the API the client keeps ``client_token`` from a sign-in answer and sends it back; the
pages keep it in a long-lived ``HttpOnly`` cookie.
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.web.conftest import ApiUser

ATTACKER = {"User-Agent": "curl/8"}


def attack(client: TestClient, username: str, times: int) -> list[int]:
    """Wrong passwords for a known username, from a client without the account's token."""
    statuses = []
    for n in range(times):
        response = client.post(
            "/api/v1/login", json={"username": username, "password": f"guess {n} for you"}, headers=ATTACKER
        )
        statuses.append(response.status_code)
    return statuses


def test_the_owners_api_client_gets_in_while_strangers_are_locked_out(
    client: TestClient, user: ApiUser
) -> None:
    first = client.post("/api/v1/login", json={"username": user.username, "password": user.password}).json()
    token = first["client_token"]
    assert isinstance(token, str) and len(token) > 40

    assert attack(client, user.username, 12) == [401] * 10 + [429] * 2
    locked = client.post("/api/v1/login", json={"username": user.username, "password": user.password})
    assert locked.status_code == 429  # a client without the token waits, even with the password

    body = {"username": user.username, "password": user.password, "client_token": token}
    response = client.post("/api/v1/login", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "authenticated" and response.json()["client_token"] == token


def test_the_token_is_carried_through_the_second_step(client: TestClient, user_2fa: ApiUser) -> None:
    user_2fa.clock.advance(30)
    flow = client.post("/api/v1/login", json={"username": user_2fa.username, "password": user_2fa.password})
    done = client.post(f"/api/v1/login/{flow.json()['flow_id']}/code", json={"code": user_2fa.totp()}).json()
    token = done["client_token"]
    assert attack(client, user_2fa.username, 11)[-1] == 429
    user_2fa.clock.advance(30)
    body = {"username": user_2fa.username, "password": user_2fa.password, "client_token": token}
    started = client.post("/api/v1/login", json=body)
    assert (
        started.status_code == 200 and started.json()["status"] == "second_factor_required"
    )  # no step skipped
    finished = client.post(f"/api/v1/login/{started.json()['flow_id']}/code", json={"code": user_2fa.totp()})
    assert finished.status_code == 200 and finished.json()["client_token"] == token


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def sign_in_page(http: TestClient, username: str, password: str) -> int:
    page = http.get("/login").text
    response = http.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf(page)}
    )
    return response.status_code


def test_the_owners_browser_gets_in_while_strangers_are_locked_out(client: TestClient, user: ApiUser) -> None:
    page = client.get("/login").text
    response = client.post(
        "/login",
        data={"username": user.username, "password": user.password, "csrf_token": csrf(page)},
        follow_redirects=False,
    )
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("sparekey_clients="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "max-age", "path", "samesite"} <= attributes, cookie
    assert int(re.search(r"Max-Age=(\d+)", cookie).group(1)) >= 365 * 86400  # type: ignore[union-attr]
    client.post("/logout", data={"csrf_token": csrf(client.get("/security").text)})

    assert attack(client, user.username, 11)[-1] == 429
    with TestClient(client.app) as strangers_browser:  # a browser the account has never seen
        assert sign_in_page(strangers_browser, user.username, user.password) == 429
    assert sign_in_page(client, user.username, user.password) == 200
    assert "/logout" in client.get("/security").text
