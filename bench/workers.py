"""h) Password+TOTP sign-ins per second over real HTTP against ``sparekey serve --workers 2``,
next to the bare argon2id verify rate of 2 processes, timed in the same run.

The server is a real process tree (a supervisor and 2 workers) on an embedded SQLite
data directory, with the production argon2 parameters (``bench_settings``). Every sign-in
is ``POST /api/v1/login`` (the password, from the client the account knows) then
``POST /api/v1/login/{flow}/code`` with the authenticator app's code of the current time
step, from one client process that keeps ``CONNECTIONS`` keep-alive connections busy: 4 per
worker, so that each worker always has a request waiting while the others are in the hash.

The bare rate is 2 processes, each calling ``argon2.PasswordHasher.verify`` in a loop at the
same parameters, concurrently: what the 2 cores give when nothing else runs. Aim: the
server's sign-ins reach at least 0.9 of it. The machine has 2 cores and the load generator
needs some of them: its CPU time is measured and printed with each result, and it is not
given back: what it takes counts against the server.

Phases of ``PHASE_SECONDS`` (after ``WARM_UP_SECONDS`` of the same load, not counted)
alternate: bare, then each serving stack, ``ROUNDS`` times; medians. The stacks are the one
``sparekey serve`` uses and the ones it was chosen against (docs/architecture.md, "Serving
stack"), each started with its own command line on the same database.

A TOTP time step is accepted once per account, so every sign-in within a 30 s step needs
its own account: enough are enrolled through the core before timing, for the bare rate
measured first. Setting them up spends one production-strength password hash in all (every
account is given the same hash: the server's verification costs the same for each) and
cheap backup codes (not used here).
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import math
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

import pyotp

from bench.common import PARAMS, PASSWORD, bench_settings, enrolled, line, verdict
from bench.sign_in import bare_verify
from sparekey.bootstrap import build_deps
from sparekey.core.clock import FrozenClock
from sparekey.core.factors.backup_codes import CodeHasher
from sparekey.core.factors.password import PasswordHasher
from sparekey.settings import Settings
from sparekey.store.database import make_engine
from sparekey.store.migrate import upgrade
from sparekey.web import server

WORKERS = 2
CONNECTIONS = 4 * WORKERS
ROUNDS = 5
PHASE_SECONDS = 5.0
WARM_UP_SECONDS = 1.5
CALIBRATION_SECONDS = 3.0
AIM = 0.90
HOST = "127.0.0.1"
STEP = 30  # seconds in a TOTP time step
SPARE_ACCOUNTS = 1.25  # accounts enrolled per sign-in the bare rate could do in one step

_spawn = multiprocessing.get_context("spawn")


# -- serving stacks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    name: str
    command: Callable[[int], list[str]]  # port -> argv


def _sparekey_serve(port: int) -> list[str]:
    return [sys.executable, "-m", "sparekey", "serve", "--port", str(port), "--workers", str(WORKERS)]


def _uvicorn_h11(port: int) -> list[str]:
    return [
        *(sys.executable, "-m", "uvicorn", server.FACTORY, "--factory", "--host", HOST, "--port", str(port)),
        *("--workers", str(WORKERS), "--http", "h11", "--loop", "asyncio"),
        *("--no-proxy-headers", "--no-server-header", "--log-level", "warning"),
    ]


def _granian(port: int) -> list[str]:
    return [
        *(sys.executable, "-m", "granian", "--interface", "asgi", "--factory"),
        *("--host", HOST, "--port", str(port), "--workers", str(WORKERS), "--log-level", "warning"),
        server.FACTORY,
    ]


STACKS = [
    Stack(f"sparekey serve: uvicorn, {server.HTTP} + {server.LOOP}", _sparekey_serve),
    Stack("uvicorn, h11 + asyncio (before)", _uvicorn_h11),
    Stack("granian (Rust HTTP, ASGI)", _granian),
]


class Running:
    """One stack's server process tree on a free port, its output in a file."""

    def __init__(self, stack: Stack, env: dict[str, str], directory: Path, index: int) -> None:
        self.stack = stack
        self.port = _free_port()
        self.log = directory / f"server-{index}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
                stack.command(self.port),
                env=env,
                cwd=directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{stack.name} exited with {self.process.returncode}:\n{self.output()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                connection = http.client.HTTPConnection(HOST, self.port, timeout=5)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    connection.close()
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{stack.name} not healthy after 60 s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def cpu_seconds(self) -> float:
        """CPU time the process tree has used so far (Linux ``/proc``)."""
        return _tree_cpu(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def _tree_cpu(pid: int) -> float:
    """utime + stime of ``pid`` and its descendants, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = [
            int(child)
            for task in os.listdir(f"/proc/{pid}/task")
            for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        ]
    except FileNotFoundError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_tree_cpu(child) for child in children)


def _idle_seconds() -> float:
    """Idle time of all CPUs so far (Linux ``/proc/stat``: idle + iowait)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def server_env(settings: Settings) -> dict[str, str]:
    """The environment of a server process: ``settings`` (bench_settings) and nothing else."""
    assert settings.encryption_keys is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPAREKEY_")}
    env.update(
        SPAREKEY_DATA_DIR=str(settings.data_dir),
        SPAREKEY_ENCRYPTION_KEYS=settings.encryption_keys.get_secret_value(),
        SPAREKEY_ARGON2_TIME_COST=str(PARAMS.time_cost),
        SPAREKEY_ARGON2_MEMORY_COST=str(PARAMS.memory_cost),
        SPAREKEY_ARGON2_PARALLELISM=str(PARAMS.parallelism),
    )
    return env


# -- accounts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    username: str
    secret: str
    client_token: str


class _OneHash(PasswordHasher):
    """For setting up only: one production-strength hash of PASSWORD, made once and given to
    every account (the server later verifies each at full cost); checking it is free here."""

    def __init__(self) -> None:
        super().__init__(PARAMS)
        self._stored = super().hash(PASSWORD)

    def hash(self, password: str) -> str:
        assert password == PASSWORD
        return self._stored

    def verify(self, stored: str, password: str) -> bool:
        return stored == self._stored and password == PASSWORD


def enrol(settings: Settings, first: int, count: int) -> list[Account]:
    """``count`` accounts with an authenticator app each, through the core's use cases. Their
    clock is five minutes behind, so the step each confirmation used is past for the server."""
    clock = FrozenClock()
    past = datetime.now(UTC) - timedelta(minutes=5)
    deps = dataclasses.replace(
        build_deps(settings, clock),
        passwords=_OneHash(),
        code_hasher=CodeHasher(time_cost=1, memory_cost=8, parallelism=1),
    )
    made: list[Account] = []
    for n in range(first, first + count):
        clock.set(past)  # enrolled() moves the clock on by a step
        username = f"dora{n}"
        person = enrolled(deps, username)
        made.append(Account(username, person.secret, person.client_token))
    deps.store.engine.dispose()  # type: ignore[attr-defined]
    return made


# -- the bare rate: 2 processes verifying --------------------------------------------------------


def _verifier(pipe: Connection) -> None:
    """A process that, told (start, seconds), verifies from ``start`` (time.monotonic, the
    same clock in every process) for ``seconds`` and answers how many verifies ended in time
    and the CPU seconds each took."""
    verify = bare_verify()
    verify()
    pipe.send("ready")
    while True:
        command = pipe.recv()
        if command is None:
            return
        start, seconds = command
        end = start + seconds
        time.sleep(max(0.0, start - time.monotonic()))
        cpu = time.process_time()
        done = 0
        while True:
            verify()
            if time.monotonic() > end:
                break
            done += 1
        pipe.send((done, (time.process_time() - cpu) / (done + 1)))


@dataclass(frozen=True)
class Bare:
    rate: float  # verifies a second, all processes together
    cpu_seconds: float  # CPU time of one verify


class Verifiers:
    def __init__(self, count: int) -> None:
        self.pipes: list[Connection] = []
        self.processes = []
        for _ in range(count):
            ours, theirs = _spawn.Pipe()
            process = _spawn.Process(target=_verifier, args=(theirs,), daemon=True)
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)
        for pipe in self.pipes:
            assert pipe.recv() == "ready"

    def run(self, seconds: float) -> Bare:
        start = time.monotonic() + 0.2
        for pipe in self.pipes:
            pipe.send((start, seconds))
        answers = [pipe.recv() for pipe in self.pipes]
        return Bare(sum(done for done, _ in answers) / seconds, statistics.mean(cpu for _, cpu in answers))

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.send(None)
        for process in self.processes:
            process.join(timeout=10)


# -- the load: one client process ------------------------------------------------------------------


@dataclass
class Load:
    """What one load phase did."""

    sign_ins: int  # completed inside the measured window
    all_sign_ins: int  # completed in the whole phase, warm-up and the last ones in flight included
    seconds: float
    cpu_seconds: float  # the client process's CPU time inside the window
    failures: list[str]
    starved: int  # times a connection waited for an account free in the current time step

    @property
    def rate(self) -> float:
        return self.sign_ins / self.seconds


class _Accounts:
    """The client's accounts, least recently used first; none is handed out twice in one
    time step (the server would refuse the replayed step)."""

    def __init__(self, accounts: list[Account]) -> None:
        self._free: deque[tuple[int, Account]] = deque((-1, account) for account in accounts)
        self._lock = threading.Lock()

    def take(self) -> Account | None:
        with self._lock:
            last, account = self._free[0]
            if last >= int(time.time() // STEP):
                return None
            self._free.popleft()
            return account

    def give_back(self, account: Account, step: int) -> None:
        with self._lock:
            self._free.append((step, account))


class _Phase:
    """One load phase: ``CONNECTIONS`` threads, each signing in on its own connection until
    ``end``; completions between ``start`` and ``end`` count."""

    def __init__(self, accounts: _Accounts, port: int, warm_up: float, seconds: float) -> None:
        self.accounts = accounts
        self.port = port
        self.seconds = seconds
        self.start = time.monotonic() + warm_up
        self.end = self.start + seconds
        self.finished: list[float] = []
        self.failures: list[str] = []
        self.starved = 0
        self.cpu_at_start = 0.0

    def run(self) -> Load:
        marker = threading.Thread(target=self._mark_cpu)
        threads = [threading.Thread(target=self._connection) for _ in range(CONNECTIONS)]
        for thread in [marker, *threads]:
            thread.start()
        for thread in [marker, *threads]:
            thread.join()
        cpu = time.process_time() - self.cpu_at_start
        counted = sum(self.start <= t <= self.end for t in self.finished)
        return Load(counted, len(self.finished), self.seconds, cpu, self.failures[:5], self.starved)

    def _mark_cpu(self) -> None:
        time.sleep(max(0.0, self.start - time.monotonic()))
        self.cpu_at_start = time.process_time()

    def _connection(self) -> None:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=60)
        try:
            while time.monotonic() < self.end:
                account = self.accounts.take()
                if account is None:
                    self.starved += 1
                    time.sleep(0.05)
                    continue
                try:
                    step = _sign_in(connection, account)
                except Exception as error:  # noqa: BLE001 - reported by the benchmark
                    self.failures.append(f"{account.username}: {error!r}")
                    connection.close()
                    connection = http.client.HTTPConnection(HOST, self.port, timeout=60)
                    step = int(time.time() // STEP)
                else:
                    self.finished.append(time.monotonic())
                self.accounts.give_back(account, step)
        finally:
            connection.close()


def _client(pipe: Connection, accounts: list[Account]) -> None:
    """The load generator's process: told (port, warm-up, seconds), it runs a ``_Phase`` and
    answers its ``Load``."""
    pool = _Accounts(accounts)
    while True:
        command = pipe.recv()
        if command is None:
            return
        port, warm_up, seconds = command
        pipe.send(_Phase(pool, port, warm_up, seconds).run())


_HEADERS = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "sparekey-bench"}


def _post(connection: http.client.HTTPConnection, path: str, body: dict[str, str]) -> dict[str, object]:
    connection.request("POST", path, body=json.dumps(body), headers=_HEADERS)
    response = connection.getresponse()
    answer = json.loads(response.read())
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {answer}")
    assert isinstance(answer, dict)
    return answer


def _sign_in(connection: http.client.HTTPConnection, account: Account) -> int:
    """One password+TOTP sign-in; returns the time step its code belonged to."""
    started = _post(
        connection,
        "/api/v1/login",
        {"username": account.username, "password": PASSWORD, "client_token": account.client_token},
    )
    if started.get("status") != "second_factor_required":
        raise RuntimeError(f"login: {started}")
    now = time.time()
    code = pyotp.TOTP(account.secret).at(now)
    done = _post(connection, f"/api/v1/login/{started['flow_id']}/code", {"code": code})
    if done.get("method_used") != "totp":
        raise RuntimeError(f"code: {done}")
    return int(now // STEP)


class Client:
    def __init__(self, accounts: list[Account]) -> None:
        self.pipe, theirs = _spawn.Pipe()
        self.process = _spawn.Process(target=_client, args=(theirs, accounts), daemon=True)
        self.process.start()

    def load(self, port: int, seconds: float) -> Load:
        self.pipe.send((port, WARM_UP_SECONDS, seconds))
        result: Load = self.pipe.recv()
        return result

    def close(self) -> None:
        self.pipe.send(None)
        self.process.join(timeout=10)


# -- the benchmark ------------------------------------------------------------------------------------


def workers_over_http(directory: Path) -> None:
    settings = bench_settings(directory)
    upgrade(make_engine(settings.database()))
    env = server_env(settings)
    verifiers = Verifiers(WORKERS)
    try:
        calibration = verifiers.run(CALIBRATION_SECONDS)
        needed = math.ceil(calibration.rate * STEP * SPARE_ACCOUNTS)
        accounts = enrol(settings, 0, needed)
        stacks: list[Running] = []
        client = Client(accounts)
        try:
            for index, stack in enumerate(STACKS):
                try:
                    stacks.append(Running(stack, env, directory, index))
                except (RuntimeError, OSError) as error:
                    line(f"     {stack.name}", f"skipped: {str(error).splitlines()[0]}")
            _measure(verifiers, client, stacks)
        finally:
            for running in stacks:
                running.stop()
            client.close()
    finally:
        verifiers.close()


@dataclass
class Measured:
    load: Load
    server_cpu_seconds: float  # of the whole phase
    idle_cores: float  # CPUs left idle, on average over the whole phase

    @property
    def cpu_per_sign_in(self) -> float:
        return self.server_cpu_seconds / max(1, self.load.all_sign_ins)


def _measure(verifiers: Verifiers, client: Client, stacks: list[Running]) -> None:
    load_before = os.getloadavg()[0]
    bare: list[Bare] = []
    phases: dict[str, list[Measured]] = {running.stack.name: [] for running in stacks}
    for _ in range(ROUNDS):
        bare.append(verifiers.run(PHASE_SECONDS))
        for running in stacks:
            cpu, idle, began = running.cpu_seconds(), _idle_seconds(), time.monotonic()
            load = client.load(running.port, PHASE_SECONDS)
            idle_cores = (_idle_seconds() - idle) / (time.monotonic() - began)
            phases[running.stack.name].append(Measured(load, running.cpu_seconds() - cpu, idle_cores))
    bare_rate = statistics.median(b.rate for b in bare)
    bare_cpu = statistics.median(b.cpu_seconds for b in bare)
    for index, running in enumerate(stacks):
        measured = phases[running.stack.name]
        rate = statistics.median(m.load.rate for m in measured)
        cpu = statistics.median(m.cpu_per_sign_in for m in measured)
        client_cpu = statistics.median(m.load.cpu_seconds / m.load.seconds for m in measured)
        idle = statistics.median(m.idle_cores for m in measured)
        ratio = rate / bare_rate
        if index == 0:
            line(
                f"h) sign-in password+TOTP, HTTP, {WORKERS} workers",
                f"{rate:6.1f}/s  bare verify, {WORKERS} processes {bare_rate:6.1f}/s  "
                f"throughput ratio {ratio:5.3f} (aim >= {AIM:.2f}: {verdict(ratio >= AIM)})",
            )
        line(
            f"     {running.stack.name}",
            f"{rate:6.1f}/s  ratio {ratio:5.3f}  server CPU {cpu * 1000:5.1f} ms a sign-in "
            f"= {cpu / bare_cpu:4.2f} verifies; {idle:4.2f} cores idle; client {client_cpu:4.1%} of a core",
        )
        failures = [f for m in measured for f in m.load.failures]
        starved = sum(m.load.starved for m in measured)
        if failures or starved:
            line(
                "       problems",
                f"{len(failures)} failed sign-ins {failures[:2]}, {starved} waits for an account",
            )
    line(
        "     how",
        f"bare = {WORKERS} processes verifying at once ({bare_cpu * 1000:.1f} ms CPU a verify); "
        f"load = 1 client process, {CONNECTIONS} keep-alive connections; {ROUNDS} rounds of "
        f"{PHASE_SECONDS:.0f} s phases, interleaved, medians; load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after (other work on the machine skews the throughput, less the CPU)",
    )
