"""The password+TOTP sign-in through HTTP, in process (``fastapi.testclient.TestClient``).

Informational: it adds the HTTP stack (routing, validation, JSON, middleware) and the test
client's own work to the use cases measured in bench/sign_in.py, so it has no aim.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyotp
from fastapi.testclient import TestClient

from bench.common import PASSWORD, Timings, bench_settings, interleaved, line, per_second, same
from bench.sign_in import bare_verify
from sparekey.core.clock import FrozenClock
from sparekey.web.app import create_app


def sign_in_over_http(directory: Path, rounds: int) -> None:
    settings = bench_settings(directory)
    clock = FrozenClock()
    with TestClient(create_app(settings, clock=clock, migrate=True)) as client:
        timed = _measure(client, clock, rounds)
    line(
        "c) sign-in password+TOTP over HTTP",
        f"{per_second(timed.a)}  bare verify {per_second(timed.b)}  "
        f"cost ratio {timed.ratio:5.3f} (informational: includes HTTP, TestClient)",
    )


def _measure(client: TestClient, clock: FrozenClock, rounds: int) -> Timings:
    api = "/api/v1"
    created = client.post(f"{api}/accounts", json={"username": "carol", "password": PASSWORD})
    assert created.status_code == 201, created.text
    signed_in = client.post(f"{api}/login", json={"username": "carol", "password": PASSWORD}).json()
    bearer = {"Authorization": f"Bearer {signed_in['session_token']}"}
    enrolment = client.post(f"{api}/me/totp", json={"name": "phone"}, headers=bearer).json()
    secret = enrolment["secret"]
    confirmed = client.post(
        f"{api}/me/totp/{enrolment['authenticator_id']}/confirm",
        json={"code": pyotp.TOTP(secret).at(clock.now())},
        headers=bearer,
    )
    assert confirmed.status_code == 200, confirmed.text

    def one_sign_in() -> Callable[[], object]:
        clock.advance(30)
        code = pyotp.TOTP(secret).at(clock.now())

        def run() -> None:
            started = client.post(f"{api}/login", json={"username": "carol", "password": PASSWORD}).json()
            assert started["status"] == "second_factor_required", started
            done = client.post(f"{api}/login/{started['flow_id']}/code", json={"code": code})
            assert done.status_code == 200, done.text

        return run

    return interleaved(one_sign_in, same(bare_verify()), rounds)
