"""f) Plain sign-ins while other people enrol and sign in with backup codes (use cases, threads).

Foreground: ``FOREGROUND`` threads, each signing its own account in with password + TOTP
(``sign_in.start`` then ``sign_in.submit_code``), over and over; each sign-in is timed.
Background, each at a steady pace: one thread confirming first factors (a new account signs
in and confirms an authenticator app, which issues backup-code set #1: ten argon2id
derivations) and one thread signing in with backup codes (one derivation each).

The foreground runs in blocks, alternately alone and beside the background (A, B, A, B, ...),
so both sides are measured in the same run under the same machine noise. Reported: p50 and
p99 of the plain sign-ins on each side, the ratio of the p99s, and how long a sign-in waited
to open its transactions (SQLite's write lock, taken by ``BEGIN IMMEDIATE``): the part of
the slow-down that is queueing behind other writers rather than sharing the processor.

Every thread has its own frozen clock over the one SQLite database, so that each moves its
own time steps forward without making another's TOTP codes stale.
"""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import pyotp

from bench.common import CLIENT, PASSWORD, Enrolled, enrolled, line
from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.core.flows import sign_in
from sparekey.core.ports import Store, Transaction

FOREGROUND = 2
BLOCKS = 6  # per side
SIGN_INS_PER_BLOCK = 25  # per foreground thread
ENROL_EVERY = 1.0  # seconds between first factors confirmed beside the foreground
CODE_SIGN_IN_EVERY = 0.5  # seconds between backup-code sign-ins beside it


class WaitingStore:
    """The store, timing how long each thread waits to open a transaction (the write lock)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._local = threading.local()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        start = time.perf_counter()
        with self._store.transaction() as tx:
            self._local.waited = self.waited() + time.perf_counter() - start
            yield tx

    def __getattr__(self, name: str) -> Any:  # the rest of the store, as it is
        return getattr(self._store, name)

    def waited(self) -> float:
        """Seconds this thread has waited so far."""
        return float(getattr(self._local, "waited", 0.0))


@dataclass
class Side:
    seconds: list[float] = field(default_factory=list)
    waited: list[float] = field(default_factory=list)

    def percentile(self, values: list[float], p: int) -> float:
        return statistics.quantiles(values, n=100, method="inclusive")[p - 1]

    def p(self, p: int) -> float:
        return self.percentile(self.seconds, p)

    def waited_p(self, p: int) -> float:
        return self.percentile(self.waited, p)


def own_clock(deps: Deps) -> Deps:
    """The same store and settings, with a frozen clock of its own."""
    return dataclasses.replace(deps, clock=FrozenClock(deps.clock.now()))


class Background:
    """The threads that enrol and sign in with backup codes between ``resume`` and ``pause``.

    Each keeps its own pace (``ENROL_EVERY``, ``CODE_SIGN_IN_EVERY``) whatever the foreground
    does, as people arriving do: a slot missed while the previous one still ran is skipped,
    not made up, so the load beside the foreground is the same before and after a change
    that makes it faster or slower (the counts are printed to show it).
    """

    def __init__(self, deps: Deps) -> None:
        self.enrolments = 0
        self.code_sign_ins = 0
        self._names = count()
        self._changed = threading.Condition()
        self._busy = False
        self._stopping = False
        self._working = 0
        self.errors: list[BaseException] = []
        self._threads = [
            threading.Thread(target=self._loop, args=(own_clock(deps), self._enrol, ENROL_EVERY)),
            threading.Thread(
                target=self._loop, args=(own_clock(deps), self._code_sign_in(), CODE_SIGN_IN_EVERY)
            ),
        ]
        for thread in self._threads:
            thread.start()

    def resume(self) -> None:
        with self._changed:
            self._busy = True
            self._changed.notify_all()

    def pause(self) -> None:
        """Stop after the work in progress; return once no thread is working."""
        with self._changed:
            self._busy = False
            while self._working:
                self._changed.wait()

    def close(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join()
        if self.errors:
            raise self.errors[0]

    def _loop(self, deps: Deps, work: Callable[[Deps], object], every: float) -> None:
        due: float | None = None  # when the next unit of work starts
        while True:
            with self._changed:
                while not (self._busy or self._stopping):
                    due = None
                    self._changed.wait()
                if self._stopping:
                    return
                now = time.monotonic()
                due = now if due is None else due
                if now < due:
                    self._changed.wait(due - now)  # or until paused or closed
                    continue
                self._working += 1
            try:
                work(deps)
            except BaseException as error:  # reported by close(), not lost with the thread
                self.errors.append(error)
                raise
            finally:
                with self._changed:
                    self._working -= 1
                    self._changed.notify_all()
            due = max(due + every, time.monotonic())

    def _enrol(self, deps: Deps) -> None:
        """A new account confirms its first factor: backup-code set #1 is issued."""
        enrolled(deps, f"enrolling-{next(self._names)}")
        self.enrolments += 1

    def _code_sign_in(self) -> Callable[[Deps], None]:
        pool: list[tuple[str, str, str]] = []  # (username, client token, unused code)

        def one(deps: Deps) -> None:
            if not pool:  # a new account with its sheet: one more first factor confirmed
                username = f"coder-{next(self._names)}"
                person = enrolled(deps, username)
                pool.extend((username, person.client_token, code) for code in person.codes)
                self.enrolments += 1
                return
            username, client_token, code = pool.pop()
            started = sign_in.start(
                deps, username=username, password=PASSWORD, client=CLIENT, client_tokens=[client_token]
            )
            assert isinstance(started, sign_in.SecondFactorRequired)
            done = sign_in.submit_code(deps, flow_id=started.flow.id, code=code, client=CLIENT)
            assert done.method_used == "backup_code"
            self.code_sign_ins += 1

        return one


def plain_sign_ins(deps: Deps, username: str, person: Enrolled, store: WaitingStore, side: Side) -> None:
    """``SIGN_INS_PER_BLOCK`` password+TOTP sign-ins of one account, each timed."""
    clock = deps.clock
    assert isinstance(clock, FrozenClock)
    for _ in range(SIGN_INS_PER_BLOCK):
        clock.advance(30)  # a fresh time step for each sign-in
        code = pyotp.TOTP(person.secret).at(clock.now())  # the phone's work, not timed
        waited = store.waited()
        start = time.perf_counter()
        started = sign_in.start(
            deps, username=username, password=PASSWORD, client=CLIENT, client_tokens=[person.client_token]
        )
        assert isinstance(started, sign_in.SecondFactorRequired)
        done = sign_in.submit_code(deps, flow_id=started.flow.id, code=code, client=CLIENT)
        side.seconds.append(time.perf_counter() - start)
        side.waited.append(store.waited() - waited)
        assert done.method_used == "totp"


def block(people: list[tuple[Deps, str, Enrolled]], store: WaitingStore, side: Side) -> None:
    """Every foreground thread's sign-ins for one block, at the same time."""
    errors: list[BaseException] = []

    def run(deps: Deps, username: str, person: Enrolled) -> None:
        try:
            plain_sign_ins(deps, username, person, store, side)
        except BaseException as error:
            errors.append(error)
            raise

    threads = [threading.Thread(target=run, args=person) for person in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def sign_ins_beside_enrolments(base: Deps) -> None:
    store = WaitingStore(base.store)
    deps = dataclasses.replace(base, store=store)
    people: list[tuple[Deps, str, Enrolled]] = []
    for index in range(FOREGROUND):
        own = own_clock(deps)
        username = f"plain-{index}"
        people.append((own, username, enrolled(own, username)))
    background = Background(deps)
    alone, beside = Side(), Side()
    seconds_beside = 0.0
    try:
        for _ in range(BLOCKS):
            block(people, store, alone)
            start = time.perf_counter()
            background.resume()
            block(people, store, beside)
            background.pause()
            seconds_beside += time.perf_counter() - start
    finally:
        background.close()
    ms = 1000
    line(
        f"f) plain sign-ins ({FOREGROUND} threads), alone",
        f"p50 {alone.p(50) * ms:6.1f} ms  p99 {alone.p(99) * ms:6.1f} ms  (n={len(alone.seconds)})",
    )
    line(
        "     beside enrolments, backup-code sign-ins",
        f"p50 {beside.p(50) * ms:6.1f} ms  p99 {beside.p(99) * ms:6.1f} ms  (n={len(beside.seconds)}; "
        f"{background.enrolments} first factors confirmed, {background.code_sign_ins} backup-code sign-ins "
        f"in {seconds_beside:.0f} s)",
    )
    line(
        "     p99 beside / p99 alone",
        f"{beside.p(99) / alone.p(99):5.2f}  (p50: {beside.p(50) / alone.p(50):5.2f})",
    )
    line(
        "     waiting for the write lock, per sign-in",
        f"p99 alone {alone.waited_p(99) * ms:6.1f} ms, beside {beside.waited_p(99) * ms:6.1f} ms; "
        f"longest beside {max(beside.waited) * ms:6.1f} ms",
    )
