"""``GET /api/v1/forward-auth`` over HTTP, as API.md words it and as the three proxies ask it:
the headers of a signed-in answer, 401 and its ``Location`` (nginx), 302 (Traefik, Caddy,
``rd``), 403 when signing in would not help, the cookie a proxy passes on over HTTPS, and no
``Location`` to anywhere but the sign-in page. In-process on SQLite and PostgreSQL, and between
two real server processes sharing a database (a sign-out is seen at once by the other)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from sparekey.core.crypto import new_key_string
from sparekey.core.flows import forward_auth
from sparekey.web.app import create_app
from tests.conftest import _truncate as truncate
from tests.web.conftest import CLIENT_IP, ApiUser, app_settings
from tests.web.servers import Server, server_env
from tests.web.test_page_journeys import PASSWORD, csrf

PUBLIC = "https://auth.example.com"
PATH = "/api/v1/forward-auth"
RULES = [
    {"host": "wiki.example.com"},
    {"host": "admin.example.com", "require": "two_factors"},
    {"host": "ops.example.com", "groups": ["ops"]},
]
TRAEFIK = {"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}


def traefik(host: str, uri: str = "/") -> dict[str, str]:
    """What Traefik's ForwardAuth (and Caddy's forward_auth) send about the protected request."""
    return {**TRAEFIK, "X-Forwarded-Host": host, "X-Forwarded-Uri": uri}


def nginx(url: str) -> dict[str, str]:
    """What the nginx example (docs/examples/nginx.conf) sends: X-Original-URL."""
    return {"X-Original-URL": url, "X-Forwarded-Proto": urlsplit(url).scheme}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def http(request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock) -> Iterator[TestClient]:
    """The application with forward-auth rules, on SQLite (the check answered on the event loop)
    and on PostgreSQL (in the thread pool)."""
    database = None
    if request.param == "postgresql":
        database = request.getfixturevalue("postgres_url")
        truncate(database)
    settings = app_settings(
        tmp_path,
        database_url=database,
        public_url=PUBLIC,
        allowed_return_hosts="wiki.example.com,admin.example.com",
        forward_auth_rules=json.dumps(RULES),
    )
    app = create_app(settings, clock=clock, migrate=True)
    with TestClient(app, base_url=PUBLIC, headers={"Accept-Language": "en"}, client=(CLIENT_IP, 50000)) as c:
        yield c


@pytest.fixture
def alice(http: TestClient, clock: FrozenClock) -> ApiUser:
    user = ApiUser(http, clock).register()
    user.login()
    return user


def ask(http: TestClient, headers: dict[str, str] | None = None, **params: str):  # type: ignore[no-untyped-def]
    return http.get(PATH, headers=headers or {}, params=params, follow_redirects=False)


def assert_error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    return error


def login_at(location: str) -> str | None:
    """The return address in a Location that must be ``{PUBLIC}/login?rd=...``."""
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{PUBLIC}/login", location
    found = parse_qs(parts.query).get("rd")
    return found[0] if found else None


# API.md, to the letter --------------------------------------------------------------------------


def test_a_signed_in_session_gets_200_with_the_remote_headers(http: TestClient, alice: ApiUser) -> None:
    answer = ask(http, {**alice.auth, **traefik("wiki.example.com")})
    assert answer.status_code == 200
    assert answer.headers["remote-user"] == "alice"
    assert answer.headers["remote-email"] == ""
    assert answer.headers["remote-groups"] == ""
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json() == {"username": "alice", "email": None, "groups": [], "level": "one_factor"}
    forward_auth.add_group(http.app.state.deps, "alice", "ops")
    forward_auth.add_group(http.app.state.deps, "alice", "wiki-editors")
    answer = ask(http, {**alice.auth, **traefik("ops.example.com")})
    assert answer.status_code == 200 and answer.headers["remote-groups"] == "ops,wiki-editors"


def test_without_a_session_401_else_302_to_the_sign_in_page_with_the_return_address(http: TestClient) -> None:
    assert_error(ask(http, {"X-Forwarded-Host": "wiki.example.com"}), 401, "not_authenticated")
    answer = ask(http, rd="https://wiki.example.com/page?a=1&b=2")
    assert answer.status_code == 302 and answer.headers["cache-control"] == "no-store"
    assert answer.headers["location"] == f"{PUBLIC}/login?rd=" + quote(
        "https://wiki.example.com/page?a=1&b=2", safe=""
    )
    answer = ask(http, traefik("wiki.example.com", "/page?a=1&b=%20x"))
    assert answer.status_code == 302
    assert login_at(answer.headers["location"]) == "https://wiki.example.com/page?a=1&b=%20x"
    # nginx's auth_request takes no 302: 401, with the same Location for its error_page.
    answer = ask(http, nginx("https://wiki.example.com:8443/doc/1?x=y"))
    assert_error(answer, 401, "not_authenticated")
    assert login_at(answer.headers["location"]) == "https://wiki.example.com:8443/doc/1?x=y"


def test_an_expired_or_unknown_token_and_a_signed_out_session_are_not_let_in(
    http: TestClient, alice: ApiUser
) -> None:
    assert ask(http, {**alice.auth, **traefik("wiki.example.com")}).status_code == 200
    assert ask(http, {"Authorization": "Bearer nope", **traefik("wiki.example.com")}).status_code == 302
    assert http.post("/api/v1/logout", headers=alice.auth).status_code == 204
    answer = ask(http, {**alice.auth, **traefik("wiki.example.com", "/x")})
    assert answer.status_code == 302 and login_at(answer.headers["location"]) == "https://wiki.example.com/x"


def test_head_is_answered_and_other_methods_are_not(http: TestClient, alice: ApiUser) -> None:
    head = http.head(PATH, headers={**alice.auth, **traefik("wiki.example.com")})
    assert head.status_code == 200 and head.headers["remote-user"] == "alice" and head.content == b""
    post = http.post(PATH, headers={**alice.auth, **traefik("wiki.example.com")})
    assert_error(post, 405, "method_not_allowed")


# Rules per host ------------------------------------------------------------------------------------


def test_hosts_are_judged_by_their_rules(http: TestClient, alice: ApiUser) -> None:
    assert_error(ask(http, {**alice.auth, **traefik("intranet.example.org")}), 403, "unknown_host")
    assert_error(ask(http, traefik("intranet.example.org")), 403, "unknown_host")  # no sign-in loop
    assert_error(ask(http, {**alice.auth, **traefik("ops.example.com")}), 403, "not_in_group")
    refused = assert_error(
        ask(http, {**alice.auth, **traefik("admin.example.com")}), 403, "two_factor_needed"
    )
    assert refused["enrol_url"] == f"{PUBLIC}/security"
    # The app turned on from this one-factor session: a new sign-in can reach two factors.
    alice.enable_totp()
    step_up = ask(http, {**alice.auth, **traefik("admin.example.com", "/users")})
    assert step_up.status_code == 302
    assert login_at(step_up.headers["location"]) == "https://admin.example.com/users"
    again = assert_error(
        ask(http, {**alice.auth, **nginx("https://admin.example.com/users")}),
        401,
        "stronger_sign_in_required",
    )
    assert again["required"] == "two_factors"
    flow = alice.flow()
    alice.clock.advance(30)
    done = http.post(f"/api/v1/login/{flow}/code", json={"code": alice.totp()})
    stronger = {"Authorization": f"Bearer {done.json()['session_token']}"}
    answer = ask(http, {**stronger, **traefik("admin.example.com")})
    assert answer.status_code == 200 and answer.json()["level"] == "two_factors"


def test_messages_follow_the_browsers_language(http: TestClient, alice: ApiUser) -> None:
    answer = ask(http, {**alice.auth, **traefik("ops.example.com"), "Accept-Language": "ja"})
    assert (
        answer.json()["error"]["message"]
        == "あなたのアカウントは、このアプリケーションを使えるグループに入っていません。"
    )


# The cookie, and where a browser may be sent --------------------------------------------------------


def test_the_cookie_a_proxy_passes_on_is_read_under_the_name_of_the_browsers_scheme(
    tmp_path: Path, clock: FrozenClock
) -> None:
    """With SPAREKEY_COOKIE_DOMAIN the browser holds ``__Secure-sparekey_session`` (set over
    HTTPS); the proxy may reach sparekey over plain HTTP, and says which scheme the browser used."""
    settings = app_settings(
        tmp_path, public_url=PUBLIC, cookie_domain="example.com", allowed_return_hosts="wiki.example.com"
    )
    app = create_app(settings, clock=clock, migrate=True)
    with TestClient(app, base_url=PUBLIC, client=(CLIENT_IP, 50000)) as browser:
        page = browser.get("/register").text
        made = browser.post(
            "/register",
            data={"csrf_token": csrf(page), "username": "alice", "password": PASSWORD},
            follow_redirects=False,
        )
        cookie = made.headers["set-cookie"]
        assert cookie.startswith("__Secure-sparekey_session=") and "Domain=example.com" in cookie
        token = browser.cookies.get("__Secure-sparekey_session")
        assert token
    with TestClient(app, base_url="http://sparekey.internal:8000", client=("127.0.0.1", 40000)) as proxy:
        secure = {"Cookie": f"__Secure-sparekey_session={token}"}
        answer = proxy.get(PATH, headers={**secure, **nginx("https://wiki.example.com/")})
        assert answer.status_code == 200 and answer.headers["remote-user"] == "alice"
        answer = proxy.get(PATH, headers={**secure, **traefik("wiki.example.com")})
        assert answer.status_code == 200
        # The plain name, which any sibling host could have set over HTTP, is not read for HTTPS.
        plain = {"Cookie": f"sparekey_session={token}"}
        assert proxy.get(PATH, headers={**plain, **nginx("https://wiki.example.com/")}).status_code == 401
        # And a plain-HTTP application gets only the plain name's cookie.
        assert proxy.get(PATH, headers={**secure, **nginx("http://wiki.example.com/")}).status_code == 401
        assert proxy.get(PATH, headers={**plain, **nginx("http://wiki.example.com/")}).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        traefik("evil.example.org", "/"),
        traefik("wiki.example.com", "//evil.example.org/"),
        traefik("wiki.example.com@evil.example.org", "/"),
        traefik("evil.example.org/x", "/"),
        {**traefik("wiki.example.com", "/"), "X-Forwarded-Proto": "javascript"},
        nginx("https://evil.example.org/"),
        {"X-Original-URL": "javascript:alert(1)"},
    ],
)
def test_a_location_never_leads_anywhere_but_the_sign_in_page(
    http: TestClient, headers: dict[str, str]
) -> None:
    answer = ask(http, headers)
    if "location" in answer.headers:
        back = login_at(answer.headers["location"])
        assert back is None or urlsplit(back).scheme in ("http", "https")


@pytest.mark.parametrize(
    "rd",
    [
        "https://evil.example.org/",
        "//evil.example.org/",
        "https://wiki.example.com.evil.example.org/",
        "javascript:alert(1)",
    ],
)
def test_an_open_redirect_attempt_ends_on_sparekey(rd: str, tmp_path: Path, clock: FrozenClock) -> None:
    """Without rules (API.md's baseline), ``rd`` is passed on to the sign-in page, URL-encoded;
    the sign-in page drops it and the browser stays on sparekey."""
    settings = app_settings(tmp_path, public_url="http://testserver", allowed_return_hosts="wiki.example.com")
    app = create_app(settings, clock=clock, migrate=True)
    with TestClient(app, client=(CLIENT_IP, 50000)) as browser:
        answer = browser.get(PATH, params={"rd": rd}, follow_redirects=False)
        assert answer.status_code == 302
        location = answer.headers["location"]
        assert location == "http://testserver/login?rd=" + quote(rd, safe="")
        made = browser.post("/api/v1/accounts", json={"username": "mallory", "password": PASSWORD})
        assert made.status_code == 201
        page = browser.get(location.removeprefix("http://testserver")).text
        signed_in = browser.post(
            "/login",
            data={"csrf_token": csrf(page), "username": "mallory", "password": PASSWORD},
            follow_redirects=False,
        )
        assert signed_in.status_code in (302, 303)
        assert signed_in.headers["location"].startswith(("/", "http://testserver/")), signed_in.headers[
            "location"
        ]


def test_non_ascii_names_are_percent_encoded_in_headers(http: TestClient, clock: FrozenClock) -> None:
    taro = ApiUser(http, clock, username="たろう").register()
    taro.login()
    answer = ask(http, {**taro.auth, **traefik("wiki.example.com")})
    assert answer.status_code == 200
    assert answer.headers["remote-user"] == quote("たろう") == "%E3%81%9F%E3%82%8D%E3%81%86"
    assert answer.json()["username"] == "たろう"


# Two real server processes on one database ----------------------------------------------------------


@pytest.mark.slow
def test_a_sign_out_on_one_process_is_refused_at_once_by_another(tmp_path: Path) -> None:
    env = server_env(
        tmp_path / "data", new_key_string(), forward_auth_rules=json.dumps(RULES), public_url=PUBLIC
    )
    first, second = Server("first", env, tmp_path), Server("second", env, tmp_path)
    first.start()
    try:
        second.start()
        assert first.post("/api/v1/accounts", {"username": "alice", "password": PASSWORD}).status == 201
        token = first.post("/api/v1/login", {"username": "alice", "password": PASSWORD}).body["session_token"]
        asked = second.get(PATH, token=token, headers=traefik("wiki.example.com"))
        assert asked.status == 200 and asked.headers["remote-user"] == "alice"
        assert asked.headers["cache-control"] == "no-store"
        assert first.post("/api/v1/logout", token=token).status == 204
        refused = second.get(PATH, token=token, headers=traefik("wiki.example.com", "/after"))
        assert refused.status == 302
        assert refused.headers["location"] == f"{PUBLIC}/login?rd=" + quote(
            "https://wiki.example.com/after", safe=""
        )
    finally:
        second.stop()
        first.stop()
    for server in (first, second):
        assert "Traceback" not in server.log_text()
