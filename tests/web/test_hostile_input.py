"""Hostile input to every endpoint of the JSON API (shared API.md).

Malformed, oversized, mistyped or odd requests get a clear 4xx in the error envelope, with
a stable code, a message in the request's language and the security headers: never a 500,
never a stack trace, never an echo of a password or a code. An odd code is still a code
attempt: it counts against the sign-in flow and the account like any wrong code. Tests marked
``BOTH_DATABASES`` also run on PostgreSQL when it is there: it refuses NUL characters in text,
SQLite does not. (This file absorbed the older tests/web/test_malformed_input.py.)
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparekey.core.clock import FrozenClock
from sparekey.core.factors import backup_codes as mechanics
from sparekey.core.factors.codes import MAX_LENGTH as CODE_MAX_LENGTH
from sparekey.core.flows import sign_in
from sparekey.web.app import create_app
from sparekey.web.messages import ERROR_MESSAGES
from tests.conftest import _truncate
from tests.web.conftest import ApiUser, app_settings

CANARY = "Zq7canary"  # put into passwords and codes; must never come back in an error
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
MB10 = 10 << 20
JSON = {"Content-Type": "application/json"}
BOTH_DATABASES = pytest.mark.parametrize(
    "client", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def client(request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock) -> Iterator[TestClient]:
    """The application on SQLite, or on PostgreSQL under ``BOTH_DATABASES``; ``user`` builds on it."""
    overrides: dict[str, Any] = {}
    if getattr(request, "param", "sqlite") == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        _truncate(url)
        overrides["database_url"] = url
    app = create_app(app_settings(tmp_path, **overrides), clock=clock, migrate=True)
    with TestClient(app, headers={"Accept-Language": "en"}) as http:
        yield http
    app.state.deps.store.engine.dispose()


def assert_envelope(response: Any, *statuses: int) -> dict[str, Any]:
    """An error in the envelope, with a documented code, the security headers and no trace."""
    assert response.status_code in statuses, (response.request.url, response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["code"] in ERROR_MESSAGES, error  # stable, documented, translated
    assert isinstance(error["message"], str) and error["message"], error
    for leak in ("Traceback", 'File "', "sqlalchemy", "psycopg", "pydantic", "input_value"):
        assert leak not in response.text, response.text[:500]
    assert response.headers["x-content-type-options"] == "nosniff", response.headers
    assert response.headers["cache-control"] == "no-store", response.headers
    if response.status_code == 429:
        assert response.headers["Retry-After"] == str(error["retry_after"])
    return error


def post_raw(client: TestClient, url: str, raw: bytes, headers: dict[str, str]) -> Any:
    return client.post(url, content=raw, headers={**JSON, **headers})


@pytest.fixture
def token(user: ApiUser) -> dict[str, str]:
    user.login()
    return user.auth


# The endpoints that take a body ---------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    path: str  # {flow}, {authenticator} and {contact} are filled in per test
    body: dict[str, Any]  # well-formed
    required: tuple[str, ...]

    def url(
        self, flow: str = "no-such-flow", authenticator: str = "no-such-authenticator", contact: str = "nope"
    ) -> str:
        return self.path.format(flow=flow, authenticator=authenticator, contact=contact)

    def wrong_values(self, field: str) -> list[Any]:
        good = self.body[field]
        if isinstance(good, bool):
            values: list[Any] = ["yes", "true", 1, 0, [], {}]
        elif isinstance(good, dict):  # a WebAuthn credential in its JSON form
            values = ["x", 12, 1.5, True, [], ["a"], [good]]
        elif isinstance(good, int):
            values = ["1", 1.5, 1e300, True, [], {}, [1], None]
        else:
            values = [12, 0, 1.5, -1e300, True, False, [], {}, ["a"], {"a": 1}, [good], {"value": good}]
        return values + [None] if field in self.required and None not in values else values


# An answer shaped like AuthenticationResponseJSON, which no key gave.
CREDENTIAL = {
    "id": "AAAA",
    "rawId": "AAAA",
    "type": "public-key",
    "response": {"clientDataJSON": "e30", "authenticatorData": "AAAA", "signature": "AAAA"},
}
ENDPOINTS = {
    "accounts": Endpoint(
        "/api/v1/accounts",
        {"username": "carol", "password": "a good long secret", "email": "carol@example.org"},
        ("username", "password"),
    ),
    "login": Endpoint(
        "/api/v1/login", {"username": "alice", "password": "a password"}, ("username", "password")
    ),
    "code": Endpoint(
        "/api/v1/login/{flow}/code", {"code": "123456", "method": "totp", "trust_device": False}, ("code",)
    ),
    "send": Endpoint("/api/v1/login/{flow}/send", {"method": "email", "destination_id": "d1"}, ("method",)),
    "sudo": Endpoint("/api/v1/me/sudo", {"password": "a password", "code": "123456"}, ("password",)),
    "password": Endpoint("/api/v1/me/password", {"new_password": "another good secret"}, ("new_password",)),
    "totp": Endpoint("/api/v1/me/totp", {"name": "Phone"}, ()),
    "totp_confirm": Endpoint("/api/v1/me/totp/{authenticator}/confirm", {"code": "123456"}, ("code",)),
    "backup_confirm": Endpoint(
        "/api/v1/me/backup-codes/confirm", {"position": 1, "code": "ABCDE-FGHJK"}, ("position", "code")
    ),
    "contacts": Endpoint(
        "/api/v1/me/contacts",
        {"kind": "phone", "address": "090-1234-5678", "region": "JP"},
        ("kind", "address"),
    ),
    "contact_verify": Endpoint("/api/v1/me/contacts/{contact}/verify", {"code": "123456"}, ("code",)),
    "key_login": Endpoint(
        "/api/v1/login/{flow}/webauthn", {"credential": CREDENTIAL, "trust_device": True}, ("credential",)
    ),
    "key_register": Endpoint("/api/v1/me/webauthn/register", {"name": "Blue key", "passkey": True}, ()),
    "key_finish": Endpoint(
        "/api/v1/me/webauthn/register/{flow}", {"credential": CREDENTIAL}, ("credential",)
    ),
    "sudo_key": Endpoint(
        "/api/v1/me/sudo/webauthn",
        {"sudo_flow_id": "f1", "credential": CREDENTIAL},
        ("sudo_flow_id", "credential"),
    ),
}
OBJECT_BODIES = [name for name, endpoint in ENDPOINTS.items() if endpoint.required]  # /me/totp may have none
STRING_FIELDS = [(n, f) for n, e in ENDPOINTS.items() for f, v in e.body.items() if isinstance(v, str)]


# Malformed JSON ---------------------------------------------------------------------------------

UNREADABLE = [
    b"{", b'{"username": "ali', b'{"username": "a",}', b"{'username': 'a'}", b"{username: 'a'}", b"{}{}",
    b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000,  # nested 10000 deep
    b"\xff\xfe\x00", b"\xff\xfe\x00\x00", b'{"username": "\xc3\x28"}',  # not UTF-8
    b'{"username": "a", "password": "b", "position": 1' + b"0" * 5000 + b"}",  # too many digits for an int
]  # fmt: skip
NOT_OBJECTS = [b"", b"[]", b"null", b'"text"', b"NaN", b"-Infinity", b"12", b"true", b'[{"code": "1"}]']


@pytest.mark.parametrize("name", ENDPOINTS)
def test_unreadable_json_is_a_malformed_request(client: TestClient, token: dict[str, str], name: str) -> None:
    for raw in UNREADABLE:
        error = assert_envelope(post_raw(client, ENDPOINTS[name].url(), raw, token), 400)
        assert error["code"] == "malformed_request", raw[:40]


@pytest.mark.parametrize("name", OBJECT_BODIES)
def test_json_that_is_not_an_object_is_a_validation_error(
    client: TestClient, token: dict[str, str], name: str
) -> None:
    for raw in NOT_OBJECTS:
        error = assert_envelope(post_raw(client, ENDPOINTS[name].url(), raw, token), 422)
        assert error["code"] == "validation_error" and error["field"] == "body", raw


def test_the_optional_totp_body(client: TestClient, token: dict[str, str]) -> None:
    # Unknown fields are ignored, even one holding a lone surrogate.
    for raw in (b"", b"null", b"{}", b'{"other": [1, 2]}', b'{"username": "\\ud800"}'):
        assert post_raw(client, "/api/v1/me/totp", raw, token).status_code == 201, raw
    for raw in (b"[]", b"NaN", b'"Phone"', b"12"):
        assert (
            assert_envelope(post_raw(client, "/api/v1/me/totp", raw, token), 422)["code"]
            == "validation_error"
        )


def test_utf16_with_a_byte_order_mark_is_read(client: TestClient, user: ApiUser) -> None:
    raw = json.dumps({"username": "alice", "password": user.password}).encode("utf-16")
    assert post_raw(client, "/api/v1/login", raw, {}).status_code == 200


def test_duplicate_keys_take_the_last_value(client: TestClient, user: ApiUser) -> None:
    secret = user.password.encode()
    raw = b'{"username": "alice", "password": "%s", "password": "not it"}' % secret
    assert assert_envelope(post_raw(client, "/api/v1/login", raw, {}), 401)["code"] == "invalid_credentials"
    raw = b'{"username": "nobody", "password": "no", "username": "alice", "password": "%s"}' % secret
    assert post_raw(client, "/api/v1/login", raw, {}).status_code == 200


def test_nan_and_infinity_inside_the_object(client: TestClient, token: dict[str, str]) -> None:
    for raw in (b'{"username": NaN, "password": "x"}', b'{"username": "a", "password": Infinity}'):
        assert assert_envelope(post_raw(client, "/api/v1/login", raw, {}), 422)["code"] == "validation_error"
    raw = b'{"position": NaN, "code": "ABCDE-FGHJK"}'
    error = assert_envelope(post_raw(client, "/api/v1/me/backup-codes/confirm", raw, token), 422)
    assert error["field"] == "position"


# Content types ---------------------------------------------------------------------------------

WRONG_CONTENT_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "image/png",
    "application/octet-stream",
    "",
    "garbage;;==",
]


@pytest.mark.parametrize("name", ["login", "code", "sudo"])
def test_wrong_content_types(client: TestClient, token: dict[str, str], name: str) -> None:
    endpoint = ENDPOINTS[name]
    for content_type in WRONG_CONTENT_TYPES:
        for raw in (json.dumps(endpoint.body).encode(), b"username=alice&password=secret&code=123456"):
            response = client.post(
                endpoint.url(), content=raw, headers={**token, "Content-Type": content_type}
            )
            error = assert_envelope(response, 422)
            assert error["code"] == "validation_error" and error["field"] == "body", content_type


@pytest.mark.parametrize("name", OBJECT_BODIES)
def test_no_body_at_all(client: TestClient, token: dict[str, str], name: str) -> None:
    for headers in (token, {**token, **JSON}):
        error = assert_envelope(client.post(ENDPOINTS[name].url(), headers=headers), 422)
        assert error["code"] == "validation_error" and error["field"] == "body"


# Fields: wrong types, missing, odd strings ---------------------------------------------------


@pytest.mark.parametrize("name", ENDPOINTS)
def test_every_field_refuses_wrong_types_by_name(
    client: TestClient, token: dict[str, str], name: str
) -> None:
    endpoint = ENDPOINTS[name]
    for field in endpoint.body:
        for value in endpoint.wrong_values(field):
            body = {**endpoint.body, field: value}
            error = assert_envelope(client.post(endpoint.url(), json=body, headers=token), 422)
            assert error["code"] == "validation_error" and error["field"] == field, (field, value, error)


@pytest.mark.parametrize("name", OBJECT_BODIES)
def test_missing_fields_are_named(client: TestClient, token: dict[str, str], name: str) -> None:
    endpoint = ENDPOINTS[name]
    for field in endpoint.required:
        body = {k: v for k, v in endpoint.body.items() if k != field}
        error = assert_envelope(client.post(endpoint.url(), json=body, headers=token), 422)
        assert error["code"] == "validation_error" and error["field"] == field, error
    error = assert_envelope(client.post(endpoint.url(), json={"unknown": 1}, headers=token), 422)
    assert error["field"] == endpoint.required[0] and set(error["fields"]) == set(endpoint.required)


def test_lone_surrogates_are_a_validation_error(client: TestClient, token: dict[str, str]) -> None:
    for name, field in STRING_FIELDS:
        endpoint = ENDPOINTS[name]
        for value in ("\ud800", "ab\udfffcd", "\udc00\ud800"):
            raw = json.dumps({**endpoint.body, field: value}).encode()  # escaped: b'"\\ud800"'
            error = assert_envelope(post_raw(client, endpoint.url(), raw, token), 422)
            assert error["code"] == "validation_error" and error["field"] == field


ODD_STRINGS = [
    "\x00", "alice\x00", "a\x00b\x00c", "\u202egnp.exe", "\u200b\u200d\ufeff", "<script>alert(1)</script>",
    "' OR 1=1 --", "%(retry_after)s %s {0} {}", "\r\nSet-Cookie: x=1", "\U0001f4a5" * 50, "\x7f\x1b[31m",
    "ａｌｉｃｅ", "../../etc/passwd", "   ",
]  # fmt: skip
HOSTILE_ADDRESSES = [
    "+81 90 1234 5678 ext. 9999999999", "+" + "9" * 60, "+81\x0090", "090-1234-5678\r\nBcc: x@evil.example",
    "taro@example.com\r\nBcc: all@example.com", "taro@exa mple.com", "<script>@example.com", "@", "+",
    "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660", "tel:+819012345678", "+00000000000",
    "taro@" + "a" * 300 + ".com", "\U0001f4a5@example.com", "+81 (90) 1234-5678", "0120-000-000",
]  # fmt: skip
# Where an odd string is a fine value: a password, an authenticator's name, an absent e-mail.
ACCEPTED = {
    ("accounts", "password"),
    ("accounts", "email"),
    ("password", "new_password"),
    ("totp", "name"),
    ("key_register", "name"),
}


@BOTH_DATABASES
def test_odd_strings_in_every_field(client: TestClient, clock: FrozenClock, user: ApiUser) -> None:
    """NUL bytes, RTL overrides, markup, format strings: a clear answer, and nothing echoed.

    "alice" exists, so "ａｌｉｃｅ" (alice after NFKC) is taken. Each field gets a fresh
    account in sudo. Wrong passwords pile up to 429 after 10, which is a clear answer too;
    the NUL strings come first so that they always reach the store.
    """
    for number, (name, field) in enumerate(STRING_FIELDS):
        owner = ApiUser(client, clock, username=f"owner{number}").register()
        owner.login()
        owner.sudo()
        endpoint = ENDPOINTS[name]
        for value in ODD_STRINGS:
            body = {**endpoint.body, field: value}
            if name == "accounts" and field != "username":
                body["username"] = f"new{number}x{ODD_STRINGS.index(value)}"
            response = client.post(endpoint.url(), json=body, headers=owner.auth)
            if response.status_code < 400:
                assert (name, field) in ACCEPTED, (name, field, value, response.text)
                continue
            assert_envelope(response, 400, 401, 403, 404, 409, 422, 429)
            assert "<script>" not in response.text and "\u202e" not in response.text


@BOTH_DATABASES
def test_nul_in_a_username_at_sign_in(client: TestClient, user: ApiUser) -> None:
    """PostgreSQL refuses NUL in text: such a name must not reach the lookup (it was a 500)."""
    for username in ("alice\x00", "\x00", "al\x00ice"):
        response = client.post("/api/v1/login", json={"username": username, "password": user.password})
        error = assert_envelope(response, 422)
        assert error["code"] == "validation_error" and error["field"] == "username"
    user.login()  # the account is not harmed


HOSTILE_USERNAMES = [
    "\x00admin",
    "a\u202eb",
    "<script>alert(1)</script>",
    "ab",
    "x" * 500,
    "💥💥💥",
    "../../etc",
]


@pytest.mark.parametrize("username", HOSTILE_USERNAMES)
def test_hostile_usernames_are_refused_by_name(client: TestClient, username: str) -> None:
    """Registration refuses control characters, direction overrides, markup, names too short or
    too long, pictographs and paths as 422 naming the field, without echoing the markup."""
    response = client.post("/api/v1/accounts", json={"username": username, "password": "a good long secret"})
    error = assert_envelope(response, 422)
    assert error["code"] == "validation_error" and error["field"] == "username"
    assert "<script>" not in response.text and "\u202e" not in response.text


# Size --------------------------------------------------------------------------------------------

LIMITED = ["accounts", "login", "code", "sudo", "backup_confirm"]


def test_ten_megabytes_with_an_honest_length(client: TestClient, token: dict[str, str]) -> None:
    raw = b'{"username": "' + b"a" * MB10 + b'"}'
    for name in LIMITED:
        response = post_raw(client, ENDPOINTS[name].url(), raw, token)
        assert assert_envelope(response, 413)["code"] == "payload_too_large"


def test_ten_megabytes_streamed_without_a_length(client: TestClient, token: dict[str, str]) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"password": "'
        for _ in range(MB10 // 65536):
            yield b"z" * 65536
        yield b'"}'

    for name in LIMITED:
        response = client.post(ENDPOINTS[name].url(), content=chunks(), headers={**JSON, **token})
        assert "content-length" not in response.request.headers
        assert assert_envelope(response, 413)["code"] == "payload_too_large"


def test_a_declared_length_over_the_limit_is_refused_before_reading(client: TestClient) -> None:
    response = client.post("/api/v1/login", content=b"{}", headers={**JSON, "Content-Length": str(MB10)})
    assert assert_envelope(response, 413)["code"] == "payload_too_large"


def test_long_strings_just_under_the_limit(client: TestClient, user: ApiUser) -> None:
    """The body cap is 64 KB: 60 KB strings are read, then refused by name or simply wrong."""
    long_password = CANARY + "p" * 60_000
    for url, body in [
        ("/api/v1/login", {"username": "alice", "password": long_password}),
        ("/api/v1/accounts", {"username": "dave", "password": long_password}),
        ("/api/v1/login", {"username": "u" * 60_000, "password": "x"}),
        ("/api/v1/accounts", {"username": "u" * 60_000, "password": "a good long secret"}),
        ("/api/v1/login/flow/code", {"code": CANARY + "1" * 60_000}),
    ]:
        response = client.post(url, json=body)
        error = assert_envelope(response, 401, 404, 422)
        assert error["code"] in {
            "invalid_credentials",
            "validation_error",
            "password_too_weak",
            "flow_not_found",
        }
        assert CANARY not in response.text
    # Unknown fields are ignored, however big, as long as the body fits.
    body = {"username": "alice", "password": user.password, "padding": "x" * 60_000}
    assert client.post("/api/v1/login", json=body).status_code == 200


# Path parameters, routes, methods --------------------------------------------------------------

ODD_IDS = ["%00", "a%00b", "x" * 5000, "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "%FF%FE", "%ED%A0%80",
           "%F0%9F%92%A5", "a%0Ab", "%20", "%E2%80%AE", "1%27%20OR%201%3D1", "%25s%25n"]  # fmt: skip


@BOTH_DATABASES
def test_odd_path_parameters(client: TestClient, user: ApiUser) -> None:
    user.login()
    user.sudo()
    for odd in ODD_IDS:
        calls = [
            ("POST", f"/api/v1/login/{odd}/code", {"code": "123456"}),
            ("POST", f"/api/v1/login/{odd}/send", {"method": "sms"}),
            ("POST", f"/api/v1/me/totp/{odd}/confirm", {"code": "123456"}),
            ("DELETE", f"/api/v1/me/totp/{odd}", None),
            ("DELETE", f"/api/v1/me/sessions/{odd}", None),
        ]
        for method, url, body in calls:
            response = client.request(method, url, json=body, headers=user.auth)
            assert assert_envelope(response, 404)["code"] in {"flow_not_found", "not_found"}


def test_traversal_in_the_path_is_just_not_found(client: TestClient) -> None:
    for url in (
        "/api/v1/login/../../etc/passwd",
        "/api/v1/../../../etc/passwd",
        "/api/v1/login/%2e%2e/%2e%2e/x",
    ):
        assert assert_envelope(client.post(url, json={}), 404)["code"] == "not_found"
    response = client.get("/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd")
    assert response.status_code == 404 and "root:" not in response.text


UNKNOWN = ["/api/v1/nothing-here", "/api/v2/login", "/api/v1/me/unknown", "/api/v1/login/flow/code/extra",
           "/api/v1/" + "x" * 5000, "/api/v1/%00", "/api/v1/me/backup-codes/%F0%9F%92%A5"]  # fmt: skip


def test_unknown_routes_are_not_found(client: TestClient, token: dict[str, str]) -> None:
    for url in UNKNOWN:
        for method in ("GET", "POST", "DELETE", "PATCH"):
            response = client.request(method, url, json={"code": CANARY}, headers=token)
            assert assert_envelope(response, 404)["code"] == "not_found"
            assert CANARY not in response.text


WRONG_METHODS = [
    ("PUT", "/api/v1/login"), ("GET", "/api/v1/login"), ("DELETE", "/api/v1/accounts"),
    ("PATCH", "/api/v1/me"), ("GET", "/api/v1/login/flow/code"), ("PUT", "/api/v1/me/sudo"),
    ("GET", "/api/v1/logout"), ("POST", "/api/v1/me/sessions"), ("POST", "/api/v1/me/two-factor"),
    ("GET", "/api/v1/me/backup-codes/confirm"),
]  # fmt: skip


def test_wrong_methods_are_405_with_allow(client: TestClient, token: dict[str, str]) -> None:
    for method, url in WRONG_METHODS:
        response = client.request(method, url, json={"password": CANARY}, headers=token)
        assert assert_envelope(response, 405)["code"] == "method_not_allowed"
        assert response.headers["allow"] and method not in response.headers["allow"].split(", ")
        assert CANARY not in response.text


def test_logout_ignores_a_hostile_body(client: TestClient, token: dict[str, str]) -> None:
    assert post_raw(client, "/api/v1/logout", b"[" * 10_000, token).status_code == 204
    response = post_raw(client, "/api/v1/logout", b"{", token)
    assert assert_envelope(response, 401)["code"] == "not_authenticated"


# Headers -----------------------------------------------------------------------------------------


def test_bad_authorization_headers(client: TestClient) -> None:
    for authorization in ["Bearer", "Bearer ", "Bearer " + "x" * 5000, "Bearer a b c", "Basic YWxpY2U6eA==",
                          "bearer\tx", "Bearer %00", "Bearer ' OR 1=1 --", "Bearer " + CANARY]:  # fmt: skip
        response = client.get("/api/v1/me", headers={"Authorization": authorization})
        assert assert_envelope(response, 401)["code"] == "not_authenticated"
        assert CANARY not in response.text


def test_odd_accept_language(client: TestClient) -> None:
    odd = [
        "*",
        "ja;q=nan",
        "ja;q=inf, en;q=-1",
        "x" * 10_000,
        ";;;,,,;q=",
        "ja-JP-u-ca-japanese",
        "ZZ",
        "ja;q=0",
    ]
    for accept_language in odd:
        response = client.post("/api/v1/login", json={}, headers={"Accept-Language": accept_language})
        assert assert_envelope(response, 422)["code"] == "validation_error"


# Codes -------------------------------------------------------------------------------------------


def _with_wrong_check_character() -> str:
    body = "ACDEF1234"
    wrong = next(ch for ch in mechanics.ALPHABET if ch != mechanics.check_character(body))
    return mechanics.format_code(body + wrong)


WRONG_CHECK_CHARACTER = _with_wrong_check_character()  # backup-code shaped: a typo, "code_typo"
CODE_FIELD_LIMIT = CODE_MAX_LENGTH  # the one limit of every code field: a longer code never reaches a flow
ODD_CODES = ["", "abcdef", "●●●●●●", "١٢٣٤٥٦", "१२३४५६", "🙂🙂🙂🙂🙂🙂", "1" * CODE_FIELD_LIMIT, "12345\x00",
             "\x00" * 6, "\u202e654321", "12345", "1234567", "      ", "' OR 1=1 --", "!!!!!-?????",
             "123\u200b456x", "12 34 5", WRONG_CHECK_CHARACTER]  # fmt: skip
ODD_CODE_ANSWERS = {"malformed_code": 400, "code_typo": 400, "invalid_code": 401}  # all counted


def sign_in_events(client: TestClient, user: ApiUser) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = client.get("/api/v1/me/events", headers=user.auth).json()
    return [e for e in events if e["type"] == "sign_in"]


def send_odd_code(client: TestClient, user: ApiUser, flow: str, code: str) -> str:
    """Send ``code`` to ``flow`` and check it was one ordinary failed attempt; its error code.

    Ordinary: answered as a wrong code (not yet ``flow_expired`` or ``rate_limited``) and
    recorded as exactly one new failed ``sign_in`` event carrying that error code.
    """
    seen = {e["id"] for e in sign_in_events(client, user)}
    response = client.post(f"/api/v1/login/{flow}/code", json={"code": code})
    error = assert_envelope(response, 400, 401)
    assert ODD_CODE_ANSWERS.get(error["code"]) == response.status_code, (code[:20], error)
    if code == WRONG_CHECK_CHARACTER:
        assert error["code"] == "code_typo"
    new = [e for e in sign_in_events(client, user) if e["id"] not in seen]
    assert [(e["result"], e["error_code"]) for e in new] == [("failure", error["code"])], (code[:20], new)
    return str(error["code"])


@BOTH_DATABASES
@pytest.mark.parametrize("code", ODD_CODES, ids=lambda code: ascii(code)[:20])
def test_odd_codes_are_ordinary_counted_failures(client: TestClient, user_2fa: ApiUser, code: str) -> None:
    """An odd code (empty, letters, foreign digits, emoji, NUL, spaces, a backup code with a
    typo...) is a code attempt like any wrong one, or guessing could go on for free in odd forms:
    each adds exactly one to the flow's count (5 end the flow) and one to the account's count of
    consecutive failures (10 limit the account), and is recorded as one failed sign-in."""
    url = "/api/v1/login/{}/code"
    # The flow: four odd codes leave it open (the fifth is still answered as a wrong code), the
    # fifth ends it, and then even the right code is too late.
    flow = user_2fa.flow()
    for _ in range(5):
        send_odd_code(client, user_2fa, flow, code)
    response = client.post(url.format(flow), json={"code": user_2fa.totp()})
    assert assert_envelope(response, 410)["code"] == "flow_expired"
    # A success resets the account's count, so the next ten failures are counted from zero.
    user_2fa.clock.advance(30)
    response = client.post(url.format(user_2fa.flow()), json={"code": user_2fa.totp()})
    assert response.status_code == 200, response.text
    # The account: ten in a row across two flows, each answered as a wrong code (so none was
    # counted twice), then the account is limited, even for the right code in a new flow.
    for _ in range(2):
        flow = user_2fa.flow()
        for _ in range(5):
            send_odd_code(client, user_2fa, flow, code)
    response = client.post(url.format(user_2fa.flow()), json={"code": user_2fa.totp()})
    error = assert_envelope(response, 429)
    assert error["code"] == "rate_limited" and error["retry_after"] > 0
    # After the back-off the owner gets in.
    user_2fa.clock.advance(error["retry_after"])
    response = client.post(url.format(user_2fa.flow()), json={"code": user_2fa.totp()})
    assert response.status_code == 200, response.text


def test_odd_codes_of_every_kind_reach_the_account_limit(client: TestClient, user_2fa: ApiUser) -> None:
    """Mixed kinds of odd codes add up on the one count of the account."""
    for round_ in range(2):
        flow = user_2fa.flow()
        for code in ODD_CODES[round_ * 5 : round_ * 5 + 5]:
            send_odd_code(client, user_2fa, flow, code)
    flow = user_2fa.flow()  # 10 consecutive failures: the account is limited
    response = client.post(f"/api/v1/login/{flow}/code", json={"code": user_2fa.totp()})
    error = assert_envelope(response, 429)
    assert error["code"] == "rate_limited" and error["retry_after"] > 0


def test_a_code_over_its_field_limit_is_refused_by_name_and_not_counted(
    client: TestClient, user_2fa: ApiUser
) -> None:
    """Not a code attempt, unlike the odd codes above: a code longer than the request schema
    allows (``CodeBody.code``, 64 characters) is refused as 422 ``validation_error`` naming
    the field before it reaches the sign-in flow, so it counts against neither the flow nor the
    account and records no sign-in event. (A code of exactly 64 characters is in ODD_CODES.)"""
    flow = user_2fa.flow()
    seen = {e["id"] for e in sign_in_events(client, user_2fa)}
    for too_long in ["1" * (CODE_FIELD_LIMIT + 1), CANARY + "1" * 2000] * 3:  # more than a flow allows
        response = client.post(f"/api/v1/login/{flow}/code", json={"code": too_long})
        error = assert_envelope(response, 422)
        assert error["code"] == "validation_error" and error["field"] == "code"
        assert CANARY not in response.text
    assert [e for e in sign_in_events(client, user_2fa) if e["id"] not in seen] == []
    response = client.post(f"/api/v1/login/{flow}/code", json={"code": user_2fa.totp()})
    assert response.status_code == 200, response.text


def test_full_width_digits_are_a_code(client: TestClient, user_2fa: ApiUser) -> None:
    """What a Japanese input method types is read as the code it shows."""
    full_width = user_2fa.totp().translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    response = client.post(f"/api/v1/login/{user_2fa.flow()}/code", json={"code": full_width})
    assert response.status_code == 200, response.text


def test_odd_codes_elsewhere(client: TestClient, user_2fa: ApiUser) -> None:
    for code in ["١٢٣٤٥٦", "●●●●●●", "", "1" * CODE_FIELD_LIMIT, "\x00" * 10]:
        body = {"password": user_2fa.password, "code": code}
        response = client.post("/api/v1/me/sudo", json=body, headers=user_2fa.auth)
        assert assert_envelope(response, 400, 401, 429)["code"] in {
            "invalid_code",
            "malformed_code",
            "rate_limited",
        }
        body = {"position": 1, "code": code}
        response = client.post("/api/v1/me/backup-codes/confirm", json=body, headers=user_2fa.auth)
        assert assert_envelope(response, 400, 401)["code"] in {"invalid_code", "malformed_code"}
        url = f"/api/v1/me/totp/{user_2fa.authenticator_id}/confirm"
        assert_envelope(
            client.post(url, json={"code": code}, headers=user_2fa.auth), 400, 401, 403, 404, 409, 422
        )


# Secrets and failures --------------------------------------------------------------------------


@BOTH_DATABASES
def test_secrets_never_come_back(client: TestClient, user_2fa: ApiUser) -> None:
    password = CANARY + "-password"
    backup_shaped = "ZQ7CA-NARYX"
    auth = user_2fa.auth
    answers = [
        client.post("/api/v1/login", json={"username": "alice", "password": password}),
        client.post("/api/v1/login", json={"username": "alice", "password": password + "z" * 3000}),
        client.post("/api/v1/login", json={"username": "alice", "password": [password]}),
        client.post("/api/v1/login", json={"username": "alice", "password": {"value": password}}),
        client.post("/api/v1/accounts", json={"username": "erin", "password": "erin" + CANARY}),
        client.post("/api/v1/accounts", json={"username": "alice", "password": password}),
        client.post(f"/api/v1/login/{user_2fa.flow()}/code", json={"code": backup_shaped}),
        client.post(f"/api/v1/login/{user_2fa.flow()}/code", json={"code": backup_shaped.replace("-", "")}),
        client.post(f"/api/v1/login/{user_2fa.flow()}/code", json={"code": CANARY}),
        client.post(f"/api/v1/login/{user_2fa.flow()}/code", json={"code": {"code": CANARY}}),
        client.post("/api/v1/me/sudo", json={"password": password, "code": CANARY}, headers=auth),
        client.post(
            "/api/v1/me/sudo", json={"password": user_2fa.password, "code": backup_shaped}, headers=auth
        ),
        client.post("/api/v1/me/password", json={"new_password": password}, headers=auth),
        client.post("/api/v1/me/password", json={"new_password": [password]}, headers=auth),
        client.post(
            "/api/v1/me/backup-codes/confirm", json={"position": 1, "code": backup_shaped}, headers=auth
        ),
    ]
    for response in answers:
        assert_envelope(response, 400, 401, 403, 409, 422)
        assert CANARY not in response.text and "NARYX" not in response.text


def test_an_unexpected_failure_is_an_envelope_without_details(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError(f"database said no to {CANARY}")

    monkeypatch.setattr(sign_in, "start", broken)
    quiet = TestClient(client.app, raise_server_exceptions=False, headers={"Accept-Language": "ja"})
    with caplog.at_level(logging.ERROR, logger="sparekey"):
        response = quiet.post("/api/v1/login", json={"username": "alice", "password": CANARY})
    error = assert_envelope(response, 500)  # with nosniff and no-store, though outside the middleware
    assert error["code"] == "internal_error" and JAPANESE.search(error["message"])
    assert CANARY not in response.text and CANARY not in caplog.text
    assert "RuntimeError" in caplog.text  # logged by type, for the operator


# Languages ---------------------------------------------------------------------------------------


def error_requests(
    client: TestClient, user: ApiUser, flow: str
) -> dict[str, Callable[[dict[str, str]], Any]]:
    """For a sample of error codes, a request answered with it, in the language of the headers."""
    login = "/api/v1/login"
    return {
        "malformed_request": lambda h: post_raw(client, login, b"{", h),
        "validation_error": lambda h: client.post(login, json={}, headers=h),
        "not_found": lambda h: client.get("/api/v1/nothing", headers=h),
        "method_not_allowed": lambda h: client.put(login, headers=h),
        "payload_too_large": lambda h: post_raw(client, login, b"x" * (1 << 20), h),
        "csrf_failed": lambda h: client.post(login, json={}, headers={**h, "Sec-Fetch-Site": "cross-site"}),
        "invalid_credentials": lambda h: client.post(
            login, json={"username": "x", "password": "y"}, headers=h
        ),
        "not_authenticated": lambda h: client.get("/api/v1/me", headers=h),
        "flow_not_found": lambda h: client.post(f"{login}/nope/code", json={"code": "1"}, headers=h),
        "malformed_code": lambda h: client.post(f"{login}/{flow}/code", json={"code": "●●●"}, headers=h),
        "invalid_code": lambda h: client.post(f"{login}/{flow}/code", json={"code": "000000"}, headers=h),
        "sudo_required": lambda h: client.delete("/api/v1/me/two-factor", headers={**user.auth, **h}),
    }


def test_error_messages_speak_japanese(client: TestClient, user_2fa: ApiUser) -> None:
    for code, send in error_requests(client, user_2fa, user_2fa.flow()).items():
        english = send({"Accept-Language": "en"})
        japanese = send({"Accept-Language": "ja"})
        in_english = assert_envelope(english, english.status_code)
        in_japanese = assert_envelope(japanese, english.status_code)
        assert in_english["code"] == in_japanese["code"] == code, (in_english, in_japanese)
        assert in_japanese["message"] != in_english["message"], code
        assert JAPANESE.search(in_japanese["message"]) and not JAPANESE.search(in_english["message"]), code


def test_rate_limited_speaks_japanese_with_the_number(client: TestClient, user: ApiUser) -> None:
    for _ in range(10):
        client.post("/api/v1/login", json={"username": "alice", "password": "wrong password"})
    body = {"username": "alice", "password": "x"}
    error = assert_envelope(client.post("/api/v1/login", json=body, headers={"Accept-Language": "ja"}), 429)
    assert JAPANESE.search(error["message"]) and str(error["retry_after"]) in error["message"]


# Security headers and cross-site requests ------------------------------------------------------


def test_security_headers_on_every_kind_of_answer(client: TestClient, user: ApiUser) -> None:
    """Every answer, the errors that middleware answers itself included, carries the same
    security headers: nosniff, no-store, no framing (CSP ``frame-ancestors 'none'`` and
    ``X-Frame-Options``, against clickjacking)."""
    user.login()
    from_the_app = [
        client.get("/api/v1/me", headers=user.auth),  # 200
        client.post("/api/v1/me/totp", json={}, headers=user.auth),  # 201
        client.get("/api/v1/me"),  # 401
        client.get("/api/v1/nope"),  # 404
        client.put("/api/v1/login"),  # 405
        client.post("/api/v1/login", json={}),  # 422
        post_raw(client, "/api/v1/login", b"{", {}),  # 400
    ]
    from_the_middleware = [
        post_raw(client, "/api/v1/login", b"x" * MB10, {}),  # 413
        client.post("/api/v1/login", json={}, headers={"Sec-Fetch-Site": "cross-site"}),  # 403
        client.get("/api/v1/login/%00/code"),  # 404
    ]
    from_the_app.append(client.post("/api/v1/logout", headers=user.auth))  # 204, last: it signs out
    for response in from_the_app + from_the_middleware:
        assert response.headers["x-content-type-options"] == "nosniff", (
            response.status_code,
            response.headers,
        )
        assert response.headers["cache-control"] == "no-store", (response.status_code, response.headers)
        if response.status_code >= 400:
            assert_envelope(response, response.status_code)
    for response in from_the_app + from_the_middleware:
        csp = response.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp, (response.status_code, response.headers)
        assert response.headers["x-frame-options"] == "DENY", (response.status_code, response.headers)
        assert "strict-transport-security" not in response.headers  # plain HTTP here


def test_strict_transport_security_over_https(tmp_path: Path, clock: FrozenClock) -> None:
    app = create_app(app_settings(tmp_path), clock=clock, migrate=True)
    with TestClient(app, base_url="https://testserver") as https:
        answers = [
            https.get("/login"),
            https.get("/api/v1/me"),  # 401
            post_raw(https, "/api/v1/login", b"x" * MB10, {}),  # 413, from the middleware
            https.post("/api/v1/login", json={}, headers={"Sec-Fetch-Site": "same-site"}),  # 403, likewise
        ]
    for response in answers:
        assert response.headers["strict-transport-security"] == "max-age=31536000", response.status_code


STATE_CHANGES = [("POST", "/api/v1/accounts"), ("POST", "/api/v1/login"), ("POST", "/api/v1/login/f/code"),
                 ("POST", "/api/v1/logout"), ("POST", "/api/v1/me/sudo"), ("POST", "/api/v1/me/totp"),
                 ("DELETE", "/api/v1/me/two-factor"), ("DELETE", "/api/v1/me/sessions/s"),
                 ("PUT", "/api/v1/login"), ("PATCH", "/api/v1/me"), ("POST", "/api/v1/nothing")]  # fmt: skip


def test_cross_site_browser_requests_are_refused(client: TestClient, token: dict[str, str]) -> None:
    body = {"username": "mallory", "password": "a good long secret"}
    for method, url in STATE_CHANGES:
        response = client.request(method, url, json=body, headers={**token, "Sec-Fetch-Site": "cross-site"})
        assert assert_envelope(response, 403)["code"] == "csrf_failed", (method, url)
    assert client.get("/api/v1/me", headers=token).status_code == 200  # not logged out
    assert (
        client.get("/api/v1/me", headers={**token, "Sec-Fetch-Site": "cross-site"}).status_code == 200
    )  # reads
    for site in ("same-origin", "none"):  # the page itself, and the user's own navigation
        response = client.post(
            "/api/v1/login", json={"username": "x", "password": "y"}, headers={"Sec-Fetch-Site": site}
        )
        assert assert_envelope(response, 401)["code"] == "invalid_credentials"
    # A sibling subdomain is "same-site" for cookies, but it is not this origin.
    response = client.post("/api/v1/accounts", json=body, headers={"Sec-Fetch-Site": "same-site"})
    assert assert_envelope(response, 403)["code"] == "csrf_failed"
    assert client.post("/api/v1/accounts", json=body).status_code == 201  # the refused ones created nothing


# Property tests ----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
odd_text = st.one_of(
    st.text(max_size=40),
    st.text(
        st.characters(codec=None, categories=["Cc", "Cf", "Cs", "Co", "Nd", "No", "So", "Zs"]), max_size=20
    ),
    st.sampled_from(ODD_STRINGS + ODD_CODES + ["totp", "backup_code", "email", "sms", "voice", "alice"]),
)
secret_text = st.builds(lambda tail: CANARY + tail, odd_text)
field_values = {
    "username": st.one_of(odd_text, json_values),
    "password": st.one_of(secret_text, json_values),
    "new_password": st.one_of(secret_text, json_values),
    "code": st.one_of(secret_text, odd_text, json_values),
    "email": st.one_of(odd_text, st.just("a@example.org"), json_values),
    "method": st.one_of(odd_text, json_values),
    "destination_id": st.one_of(odd_text, json_values),
    "trust_device": st.one_of(st.booleans(), json_values),
    "name": st.one_of(odd_text, json_values),
    "position": st.one_of(st.integers(-5, 200), json_values),
    "kind": st.one_of(st.sampled_from(["phone", "email", "fax", ""]), odd_text, json_values),
    "address": st.one_of(odd_text, st.sampled_from(HOSTILE_ADDRESSES), json_values),
    "region": st.one_of(st.sampled_from(["JP", "US", "jp", "ZZ", "", "JPN"]), odd_text, json_values),
}
bodies = st.one_of(json_values, st.fixed_dictionaries({}, optional=field_values))
PROPERTY = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def ids(user_2fa: ApiUser) -> dict[str, str]:
    """The 2FA account signed in and in sudo, with a live sign-in flow, its authenticator and
    an unverified phone number."""
    user_2fa.sudo()
    added = user_2fa.http.post(
        "/api/v1/me/contacts", json={"kind": "phone", "address": "+819012345678"}, headers=user_2fa.auth
    )
    assert added.status_code == 201, added.text
    return {
        "flow": user_2fa.flow(),
        "authenticator": str(user_2fa.authenticator_id),
        "contact": added.json()["id"],
    }


def check_answer(response: Any) -> None:
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        assert_envelope(response, response.status_code)
        assert CANARY not in response.text


@BOTH_DATABASES
@pytest.mark.parametrize("name", ENDPOINTS)
@PROPERTY
@given(body=bodies, bearer=st.sampled_from(["valid", "none", "garbage", "long"]))
def test_any_json_gets_a_clear_answer(
    client: TestClient, user_2fa: ApiUser, ids: dict[str, str], name: str, body: Any, bearer: str
) -> None:
    """Rate limits may answer 429 once wrong codes or passwords pile up: that is clear too."""
    tokens = {"valid": user_2fa.auth, "none": {}, "garbage": {"Authorization": "Bearer garbage"},
              "long": {"Authorization": "Bearer " + "t" * 3000}}  # fmt: skip
    raw = json.dumps(body).encode()  # NaN and Infinity as JavaScript writes them; lone surrogates escaped
    check_answer(post_raw(client, ENDPOINTS[name].url(**ids), raw, tokens[bearer]))


@pytest.mark.parametrize("name", LIMITED)
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=100).map(str.encode)))
def test_any_bytes_get_a_clear_answer(
    client: TestClient, token: dict[str, str], name: str, raw: bytes
) -> None:
    response = post_raw(client, ENDPOINTS[name].url(), raw, token)
    check_answer(response)
    assert response.status_code in {400, 401, 404, 422}, response.text


@BOTH_DATABASES
@PROPERTY
@given(segment=st.text(min_size=1, max_size=300), action=st.sampled_from(["code", "send"]))
def test_any_flow_id_gets_a_clear_answer(client: TestClient, segment: str, action: str) -> None:
    response = client.post(
        f"/api/v1/login/{quote(segment, safe='')}/{action}", json={"code": "1", "method": "sms"}
    )
    check_answer(response)
    assert assert_envelope(response, 404, 405)["code"] in {
        "flow_not_found",
        "not_found",
        "method_not_allowed",
    }


# Contact points ------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", HOSTILE_ADDRESSES)
@pytest.mark.parametrize("kind", ["phone", "email"])
def test_hostile_contact_points_are_refused_clearly(
    client: TestClient, user: ApiUser, kind: str, address: str
) -> None:
    user.login()
    for region in (None, "JP"):
        body = {"kind": kind, "address": address, **({"region": region} if region else {})}
        response = client.post("/api/v1/me/contacts", json=body, headers=user.auth)
        if response.status_code == 201:  # a real one after all (a free-phone number, an emoji mailbox)
            stored = response.json()["address"]
            assert stored.startswith("+") if kind == "phone" else "@" in stored, response.text
            assert stored.isprintable() and " " not in stored, response.text
            client.delete(f"/api/v1/me/contacts/{response.json()['id']}", headers=user.auth)
            continue
        error = assert_envelope(response, 409, 422, 429)
        assert error["code"] in {"invalid_phone_number", "invalid_email", "validation_error"}, error
    listed = client.get("/api/v1/me/contacts", headers=user.auth).json()
    assert all("\r" not in c["address"] and "\n" not in c["address"] for c in listed)
