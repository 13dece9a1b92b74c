"""Malformed, oversized and hostile input: always a 4xx in the envelope, never a 500 or a leak."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web.conftest import ApiUser

POSTS = [
    "/api/v1/accounts",
    "/api/v1/login",
    "/api/v1/login/some-flow/code",
    "/api/v1/me/sudo",
    "/api/v1/me/totp",
    "/api/v1/me/backup-codes/confirm",
]


def assert_envelope(response: Any, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"]["code"], str) and body["error"]["message"]
    assert "Traceback" not in response.text
    return body["error"]


@pytest.mark.parametrize("url", POSTS)
@pytest.mark.parametrize(
    "raw",
    [b"{", b"[]", b"null", b'"text"', b"NaN", b"[" * 5000 + b"]" * 5000, b'{"username": "\\ud800"}',
     b"\xff\xfe\x00", b""],
)  # fmt: skip
def test_unreadable_bodies(client: TestClient, user: ApiUser, url: str, raw: bytes) -> None:
    user.login()
    response = client.post(url, content=raw, headers={**user.auth, "Content-Type": "application/json"})
    if response.status_code < 400:  # only where no body at all is a valid request
        assert url == "/api/v1/me/totp", response.text  # its body is optional, extra fields ignored
        return
    assert_envelope(response, 400, 401, 404, 422)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_types(client: TestClient, content_type: str) -> None:
    response = client.post(
        "/api/v1/login", content=b"username=a&password=b", headers={"Content-Type": content_type}
    )
    assert_envelope(response, 400, 422)


@pytest.mark.parametrize("value", [12, 1.5, True, None, [], {}, ["a"], {"a": 1}])
def test_wrong_types_name_the_field(client: TestClient, value: object) -> None:
    error = assert_envelope(client.post("/api/v1/login", json={"username": value, "password": "x"}), 422)
    assert error["code"] == "validation_error" and error["field"] == "username"


def test_huge_bodies_are_refused_before_reading(client: TestClient) -> None:
    honest = client.post("/api/v1/login", content=b'{"username": "' + b"a" * (10 << 20) + b'"}',
                         headers={"Content-Type": "application/json"})  # fmt: skip
    assert assert_envelope(honest, 413)["code"] == "payload_too_large"

    def chunks():  # no Content-Length: the body is streamed
        yield b'{"username": "'
        for _ in range(200):
            yield b"a" * 65536
        yield b'"}'

    streamed = client.post("/api/v1/login", content=chunks(), headers={"Content-Type": "application/json"})
    assert assert_envelope(streamed, 413)["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "username", ["\x00admin", "a\u202eb", "<script>alert(1)</script>", "ab", "x" * 500, "💥💥💥", "../../etc"]
)
def test_hostile_usernames(client: TestClient, username: str) -> None:
    response = client.post("/api/v1/accounts", json={"username": username, "password": "a good long secret"})
    error = assert_envelope(response, 422)
    assert error["field"] == "username" and "<script>" not in response.text


def test_secrets_are_never_echoed(client: TestClient, user_2fa: ApiUser) -> None:
    for password in ("hunter2-" + "z" * 60_000, "hunter2-" + "z" * 3000):
        response = client.post("/api/v1/login", json={"username": "alice", "password": password})
        assert_envelope(response, 401, 422)
        assert "hunter2" not in response.text
    assert "hunter2" not in response.text
    flow = user_2fa.flow()
    sent = "A1B2C3D4E5"
    answer = client.post(f"/api/v1/login/{flow}/code", json={"code": sent})
    assert_envelope(answer, 400, 401)
    assert sent not in answer.text


@pytest.mark.parametrize("code", ["", "abcdef", "●●●●●●", "١٢٣٤٥٦", "🙂🙂🙂🙂🙂🙂", "1" * 1000, "12 34 5"])
def test_odd_codes_are_counted_failures(client: TestClient, user_2fa: ApiUser, code: str) -> None:
    flow = user_2fa.flow()
    error = assert_envelope(client.post(f"/api/v1/login/{flow}/code", json={"code": code}), 400, 401, 422)
    assert error["code"] in {"malformed_code", "invalid_code", "code_typo", "validation_error"}


@pytest.mark.parametrize("flow_id", ["%00", "x" * 5000, "..%2F..%2Fetc", "%F0%9F%92%A5"])
def test_odd_flow_ids(client: TestClient, flow_id: str) -> None:
    error = assert_envelope(client.post(f"/api/v1/login/{flow_id}/code", json={"code": "123456"}), 404)
    assert error["code"] in {"flow_not_found", "not_found"}


def test_unknown_route_and_wrong_method(client: TestClient) -> None:
    assert assert_envelope(client.get("/api/v1/nothing-here"), 404)["code"] == "not_found"
    assert assert_envelope(client.put("/api/v1/login", json={}), 405)["code"] == "method_not_allowed"


def test_cross_site_posts_are_refused(client: TestClient) -> None:
    response = client.post("/api/v1/login", json={"username": "a", "password": "b"},
                           headers={"Sec-Fetch-Site": "cross-site"})  # fmt: skip
    assert assert_envelope(response, 403)["code"] == "csrf_failed"


def test_security_headers(client: TestClient) -> None:
    response = client.get("/api/v1/me")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
fields = st.fixed_dictionaries(
    {},
    optional={
        k: json_values for k in ("username", "password", "email", "code", "method", "name", "position")
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(json_values, fields), url=st.sampled_from(POSTS), with_token=st.booleans())
def test_any_json_gets_a_clear_answer(
    client: TestClient, user: ApiUser, body: object, url: str, with_token: bool
) -> None:
    if user.token is None:
        user.login()
    headers = {**(user.auth if with_token else {}), "Content-Type": "application/json"}
    response = client.post(url, content=json.dumps(body), headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = assert_envelope(response, response.status_code)
        if response.status_code == 429:
            assert response.headers["Retry-After"] == str(error["retry_after"])
