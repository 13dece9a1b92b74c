"""HEAD answers like GET without a body, on pages, the API, static files and errors."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize(
    "path", ["/login", "/register", "/healthz", "/readyz", "/static/keys.js", "/openapi.json"]
)
def test_head_answers_like_get_without_a_body(client: TestClient, path: str) -> None:
    got = client.get(path)
    head = client.head(path)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == got.headers["content-length"]
    assert head.headers["content-security-policy"] == got.headers["content-security-policy"]


def test_head_keeps_redirects_and_errors(client: TestClient) -> None:
    redirect = client.head("/security", follow_redirects=False)
    assert (
        redirect.status_code == 303 and redirect.headers["location"] == "/login" and redirect.content == b""
    )
    refused = client.head("/api/v1/me")
    assert refused.status_code == 401 and refused.content == b""
    assert refused.headers["content-type"].startswith("application/json")
    not_allowed = client.head("/api/v1/login")
    assert not_allowed.status_code == 405 and "POST" in not_allowed.headers["allow"]
