"""What every benchmark shares: the store, the interleaved timing, enrolment, the report lines."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyotp
from pydantic import SecretStr

from sparekey.bootstrap import build_deps
from sparekey.core.clock import FrozenClock
from sparekey.core.crypto import new_key_string
from sparekey.core.deps import Deps
from sparekey.core.factors.password import Argon2Parameters
from sparekey.core.flows import accounts, sessions, sign_in, totp_enrolment
from sparekey.core.models import Client
from sparekey.settings import Settings
from sparekey.store.database import make_engine
from sparekey.store.migrate import upgrade

PARAMS = Argon2Parameters()  # the real defaults: OWASP m=19456 KiB, t=2, p=1
PASSWORD = "correct horse battery staple"
CLIENT = Client(ip="192.0.2.10", user_agent="sparekey-bench")
LABEL_WIDTH = 46

# A side of a comparison: called untimed, it does any set-up and returns what to time.
Side = Callable[[], Callable[[], object]]


def same(run: Callable[[], object]) -> Side:
    """A side with no set-up: time ``run`` itself each round."""
    return lambda: run


@dataclass(frozen=True)
class Timings:
    """Seconds per round of each side, in the order they ran."""

    times_a: list[float]
    times_b: list[float]

    @property
    def a(self) -> float:
        return statistics.median(self.times_a)

    @property
    def b(self) -> float:
        return statistics.median(self.times_b)

    @property
    def ratio(self) -> float:
        """cost(a) / cost(b), from the medians."""
        return self.a / self.b


def interleaved(a: Side, b: Side, rounds: int) -> Timings:
    """Time ``a`` and ``b`` alternately (A, B, A, B, ...), ``rounds`` times each.

    Machine noise (other processes, frequency changes) then falls on both sides alike.
    Set-up returned by a side runs outside the timed region.
    """
    times_a: list[float] = []
    times_b: list[float] = []
    for _ in range(rounds):
        times_a.append(time_once(a))
        times_b.append(time_once(b))
    return Timings(times_a, times_b)


def time_once(side: Side) -> float:
    """Seconds of one round of ``side``: its set-up untimed, then what it returned, timed."""
    run = side()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def bench_settings(directory: Path) -> Settings:
    """The defaults an operator gets, on an embedded SQLite database in ``directory``."""
    return Settings(
        data_dir=directory,
        database_url=None,  # always the embedded SQLite here, whatever the environment says
        redis_url=None,
        encryption_keys=SecretStr(new_key_string()),
        argon2_time_cost=PARAMS.time_cost,
        argon2_memory_cost=PARAMS.memory_cost,
        argon2_parallelism=PARAMS.parallelism,
    )


def build(directory: Path) -> Deps:
    """The use cases on a real, migrated SQLite database; default settings; a frozen clock."""
    settings = bench_settings(directory)
    upgrade(make_engine(settings.database()))
    return build_deps(settings, FrozenClock())


def clock_of(deps: Deps) -> FrozenClock:
    assert isinstance(deps.clock, FrozenClock)
    return deps.clock


@dataclass(frozen=True)
class Enrolled:
    secret: str  # the authenticator app's key
    codes: list[str]  # backup-code set #1
    client_token: str  # the client the owner signed in from: the benchmarks sign in from it again


def enrolled(deps: Deps, username: str) -> Enrolled:
    """Register ``username`` and confirm one authenticator app, as tests/conftest.py does."""
    accounts.register(deps, username=username, password=PASSWORD)
    started = sign_in.start(deps, username=username, password=PASSWORD, client=CLIENT)
    assert isinstance(started, sign_in.Authenticated)
    current = sessions.authenticate(deps, started.session_token)
    enrolment = totp_enrolment.begin(deps, current, name="phone")
    code = pyotp.TOTP(enrolment.secret).at(deps.clock.now())
    confirmed = totp_enrolment.confirm(deps, current, enrolment.authenticator.id, code=code, client=CLIENT)
    assert confirmed.backup_codes is not None
    clock_of(deps).advance(30)  # the confirming code used this time step
    return Enrolled(enrolment.secret, confirmed.backup_codes.codes, started.client_token)


def per_second(seconds: float) -> str:
    return f"{1 / seconds:6.1f}/s"


def line(label: str, text: str) -> None:
    print(f"{label:<{LABEL_WIDTH}} {text}", flush=True)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"
