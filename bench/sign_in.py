"""What a sign-in costs next to the hash it cannot avoid (use cases called directly).

a) password + TOTP: ``sign_in.start`` then ``sign_in.submit_code`` with a fresh time step,
   against a bare ``argon2.PasswordHasher.verify`` at the same parameters. Aim: the whole
   sign-in costs at most 1.1 times the bare verify.
b) the backup-code step (``POST /code`` with a backup code, i.e. ``sign_in.submit_code``),
   against one bare argon2id derivation. Aim: at least 0.9 of the derivation's throughput,
   with 1 and with 4 replaced sets on the account (only the last 3 are read).

Every sign-in comes from the client the owner enrolled from, presenting its client token,
as a browser with the ``sparekey_clients`` cookie does.
"""

from __future__ import annotations

import secrets
import statistics
import time
from collections.abc import Callable

import argon2
import pyotp
from argon2.low_level import Type, hash_secret_raw

from bench.common import (
    CLIENT,
    PARAMS,
    PASSWORD,
    Enrolled,
    Side,
    clock_of,
    enrolled,
    interleaved,
    line,
    per_second,
    same,
    verdict,
)
from sparekey.core.deps import Deps
from sparekey.core.flows import backup_codes, sign_in

SIGN_IN_AIM = 1.10
BACKUP_AIM = 0.90


def bare_verify() -> Callable[[], object]:
    """``argon2.PasswordHasher(...).verify(hash, password)`` at sparekey's parameters."""
    hasher = argon2.PasswordHasher(
        time_cost=PARAMS.time_cost, memory_cost=PARAMS.memory_cost, parallelism=PARAMS.parallelism
    )
    stored = hasher.hash(PASSWORD)
    return lambda: hasher.verify(stored, PASSWORD)


def bare_derivation() -> Callable[[], object]:
    """One argon2id key derivation: 16-byte salt, 32-byte output, same parameters."""
    salt = secrets.token_bytes(16)
    return lambda: hash_secret_raw(
        b"K7QX2M9PRH",
        salt,
        time_cost=PARAMS.time_cost,
        memory_cost=PARAMS.memory_cost,
        parallelism=PARAMS.parallelism,
        hash_len=32,
        type=Type.ID,
    )


def totp_sign_in(deps: Deps, username: str, person: Enrolled) -> Side:
    """One password+TOTP sign-in of ``username`` (enrolled as ``person``) per round: a fresh
    time step and the phone's code untimed, then ``sign_in.start`` and ``sign_in.submit_code``."""
    clock = clock_of(deps)

    def one_sign_in() -> Callable[[], object]:
        clock.advance(30)  # a fresh time step for each sign-in
        code = pyotp.TOTP(person.secret).at(clock.now())  # the phone's work, not timed

        def run() -> None:
            started = sign_in.start(
                deps, username=username, password=PASSWORD, client=CLIENT, client_tokens=[person.client_token]
            )
            assert isinstance(started, sign_in.SecondFactorRequired)
            done = sign_in.submit_code(deps, flow_id=started.flow.id, code=code, client=CLIENT)
            assert done.method_used == "totp"

        return run

    return one_sign_in


def password_and_totp(deps: Deps, rounds: int) -> None:
    one_sign_in = totp_sign_in(deps, "alice", enrolled(deps, "alice"))
    hash_seconds: list[float] = []
    real_verify = deps.passwords.verify

    def timed_verify(stored: str, password: str) -> bool:  # how much of each sign-in is the hash
        start = time.perf_counter()
        try:
            return real_verify(stored, password)
        finally:
            hash_seconds.append(time.perf_counter() - start)

    deps.passwords.verify = timed_verify  # type: ignore[method-assign]
    hash_seconds.clear()
    timed = interleaved(one_sign_in, same(bare_verify()), rounds)
    assert len(hash_seconds) == rounds  # one password verification per sign-in
    outside = statistics.median(t - h for t, h in zip(timed.times_a, hash_seconds, strict=True))
    line(
        "a) sign-in password+TOTP (use cases)",
        f"{per_second(timed.a)}  bare verify {per_second(timed.b)}  "
        f"cost ratio {timed.ratio:5.3f} (aim <= {SIGN_IN_AIM:.2f}: {verdict(timed.ratio <= SIGN_IN_AIM)})",
    )
    line(
        "     outside the hash, in those sign-ins",
        f"{outside * 1000:5.2f} ms = {outside / timed.b:5.1%} of a bare verify (median)",
    )
    # The same sign-ins with the hash stubbed out: the code path alone, with warm caches
    # (no 19 MiB hash in between), so it can come out below the in-situ figure above.
    deps.passwords.verify = lambda stored, password: True  # type: ignore[method-assign]
    alone = interleaved(one_sign_in, same(lambda: None), rounds * 3)
    deps.passwords.verify = real_verify  # type: ignore[method-assign]
    line(
        "     outside the hash, alone (hash stubbed)",
        f"{alone.a * 1000:5.2f} ms = {alone.a / timed.b:5.1%} of a bare verify (median)",
    )


def backup_code_step(deps: Deps, replaced_sets: int, rounds: int) -> None:
    """Each round: a sign-in flow started and a fresh code picked untimed, then the code step timed.

    Codes come from several accounts that each hold exactly ``replaced_sets`` replaced sets
    and a current set, so every timed step sees the same number of sets.
    """
    codes: list[tuple[str, str, str]] = []  # (username, its client token, unused code of the current set)
    index = 0
    while len(codes) < rounds:
        username = f"bob-{replaced_sets}-{index}"
        index += 1
        bob = enrolled(deps, username)
        current = bob.codes
        for _ in range(replaced_sets):
            with deps.store.transaction() as tx:
                account = tx.accounts.by_username(username)
            assert account is not None
            prepared = backup_codes.prepare_set(deps, account.backup_salt)  # derived outside
            with deps.store.transaction() as tx:
                account = tx.accounts.get_for_update(account.id)
                assert account is not None
                current = backup_codes.issue_set(tx, deps, account, prepared).codes
        codes.extend((username, bob.client_token, code) for code in current)
    codes = codes[:rounds]
    codes.reverse()

    def one_code_step() -> Callable[[], object]:
        username, client_token, code = codes.pop()
        started = sign_in.start(
            deps, username=username, password=PASSWORD, client=CLIENT, client_tokens=[client_token]
        )
        assert isinstance(started, sign_in.SecondFactorRequired)

        def run() -> None:
            done = sign_in.submit_code(deps, flow_id=started.flow.id, code=code, client=CLIENT)
            assert done.method_used == "backup_code"

        return run

    timed = interleaved(one_code_step, same(bare_derivation()), rounds)
    throughput = timed.b / timed.a
    line(
        f"b) backup-code sign-in step, {replaced_sets} replaced set{'s' if replaced_sets != 1 else ''}",
        f"{per_second(timed.a)}  bare derivation {per_second(timed.b)}  "
        f"throughput ratio {throughput:5.3f} (aim >= {BACKUP_AIM:.2f}: {verdict(throughput >= BACKUP_AIM)})",
    )
