"""e) A passkey sign-in (use cases) next to the password+TOTP sign-in of a), both timed in this run.

A passkey sign-in has no password hash: ``sign_in.start_passkey`` (a flow and its challenge),
then ``sign_in.submit_key`` with the passkey's assertion over that challenge. The server cost of
a sign-in is the sum of those two calls. The assertion is the authenticator's work (the test
suite's software authenticator, ES256, user verified): it is made between the two timed calls,
untimed. Each round times one passkey sign-in, then one password+TOTP sign-in of another account
(bench/sign_in.py's ``totp_sign_in``: its fresh time step and code made untimed). No aim: reported.
"""

from __future__ import annotations

import statistics
import time

from tests.soft_authenticator import SoftAuthenticator  # the bench runs from the repository root

from bench.common import (
    CLIENT,
    PASSWORD,
    Timings,
    enrolled,
    line,
    per_second,
    time_once,
)
from bench.sign_in import totp_sign_in
from sparekey.core.deps import Deps
from sparekey.core.flows import accounts, security_keys, sessions, sign_in


def passkey_sign_in(deps: Deps, rounds: int) -> None:
    key = SoftAuthenticator(origin=deps.policy.relying_party.origins[0])  # http://localhost:8000
    account_id = _with_passkey(deps, "dora", key)
    password_side = totp_sign_in(deps, "erin", enrolled(deps, "erin"))
    starts: list[float] = []
    submits: list[float] = []
    passkey_seconds: list[float] = []
    password_seconds: list[float] = []
    for _ in range(rounds):  # interleaved: passkey, password+TOTP, passkey, ...
        begun = time.perf_counter_ns()
        flow, options = sign_in.start_passkey(deps, client=CLIENT)
        started = time.perf_counter_ns()
        credential = key.get(options)  # the authenticator's work, not timed
        answered = time.perf_counter_ns()
        done = sign_in.submit_key(deps, flow_id=flow.id, credential=credential, client=CLIENT)
        submitted = time.perf_counter_ns()
        assert done.method_used == "passkey" and done.account.id == account_id
        starts.append((started - begun) / 1e9)
        submits.append((submitted - answered) / 1e9)
        passkey_seconds.append(starts[-1] + submits[-1])
        password_seconds.append(time_once(password_side))
    timed = Timings(passkey_seconds, password_seconds)
    line(
        "e) sign-in passkey (use cases)",
        f"{timed.a * 1000:6.2f} ms {per_second(timed.a)}  password+TOTP {timed.b * 1000:6.2f} ms "
        f"{per_second(timed.b)}  cost ratio {timed.ratio:5.3f} (no aim: reported)",
    )
    line(
        "     start_passkey + submit_key",
        f"{statistics.median(starts) * 1000:5.2f} ms + {statistics.median(submits) * 1000:5.2f} ms "
        "(medians; the assertion itself untimed)",
    )


def _with_passkey(deps: Deps, username: str, key: SoftAuthenticator) -> str:
    """Register ``username``, sign in with the password (no 2FA yet), register one passkey on
    ``key`` in that session (which turns 2FA on). Returns the account's id."""
    account = accounts.register(deps, username=username, password=PASSWORD)
    first = sign_in.start(deps, username=username, password=PASSWORD, client=CLIENT)
    assert isinstance(first, sign_in.Authenticated)
    current = sessions.authenticate(deps, first.session_token)
    registration = security_keys.begin(deps, current, name="laptop", passkey=True)
    registered = security_keys.finish(
        deps, current, registration.ceremony.id, credential=key.create(registration.options), client=CLIENT
    )
    assert registered.key.passkey
    return account.id
