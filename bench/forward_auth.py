"""g) Forward-auth checks per second over real HTTP, next to a bare ASGI application that
answers 200 with nothing to do, both measured in the same run.

Both are served the same way: a server process each, started by this module's own launcher
(``python -m bench.forward_auth serve sparekey|bare PORT``), which runs uvicorn with the same
options for both (one process, the event loop and HTTP parser ``sparekey serve`` uses). One
load-generator process (asyncio, ``CONNECTIONS`` keep-alive connections) sends the same kind of
request to each: ``GET /api/v1/forward-auth`` with a session cookie and the headers nginx's
``auth_request`` sends (``X-Original-URL``, ``X-Forwarded-Proto``), for a host whose rule
requires two factors and a group, the account being in the group with a two-factor session.
Every answer is checked: 200 with ``Remote-User`` from sparekey, 200 from the bare app.

The aim: sparekey's checks reach at least half the bare application's rate. The machine has
two cores; the load generator takes most of one, so each server gets about one core: the
same for both sides. Phases of ``PHASE_SECONDS`` (after ``WARM_UP_SECONDS`` not counted)
alternate bare, sparekey, ``ROUNDS`` times; medians.

The database is the embedded SQLite of a fresh data directory, the operator's default.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

from bench.common import PASSWORD, bench_settings, enrolled, line, verdict
from sparekey.bootstrap import build_deps
from sparekey.core.clock import FrozenClock
from sparekey.core.flows import forward_auth, sessions, sign_in
from sparekey.core.models import Client
from sparekey.settings import Settings
from sparekey.store.database import make_engine
from sparekey.store.migrate import upgrade

HOST = "127.0.0.1"
CONNECTIONS = 16
ROUNDS = 3
PHASE_SECONDS = 5.0
WARM_UP_SECONDS = 1.0
AIM = 0.5
PROTECTED = "admin.example.com"
RULES = [{"host": PROTECTED, "require": "two_factors", "groups": ["ops"]}]
LOOP, HTTP = "uvloop", "httptools"  # what ``sparekey serve`` runs (web/server.py)

_spawn = multiprocessing.get_context("spawn")


# -- the two applications, and the launcher that serves either ---------------------------------


async def bare_app(scope: dict[str, object], receive: object, send: object) -> None:
    """200 with an empty body, whatever was asked: the HTTP stack's own cost."""
    assert scope["type"] in ("http", "lifespan")
    if scope["type"] == "lifespan":
        while True:
            message = await receive()  # type: ignore[operator]
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})  # type: ignore[operator]
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})  # type: ignore[operator]
                return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]


def sparekey_app() -> object:
    from sparekey.settings import load_settings
    from sparekey.web.app import create_app

    return create_app(load_settings(), migrate=False)


def bare_factory() -> object:
    return bare_app


def serve(which: str, port: int) -> None:
    import uvicorn

    factory = {"sparekey": "bench.forward_auth:sparekey_app", "bare": "bench.forward_auth:bare_factory"}[
        which
    ]
    uvicorn.run(
        factory,
        factory=True,
        host=HOST,
        port=port,
        loop=LOOP,
        http=HTTP,
        proxy_headers=False,
        server_header=False,
        access_log=False,
        log_level="warning",
    )


class Running:
    """One server process on a free port, its output in a file."""

    def __init__(self, which: str, env: dict[str, str], directory: Path) -> None:
        self.which = which
        self.port = _free_port()
        self.log = directory / f"forward-auth-{which}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "bench.forward_auth", "serve", which, str(self.port)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{which} exited with {self.process.returncode}:\n{self.output()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                connection = http.client.HTTPConnection(HOST, self.port, timeout=5)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    connection.close()
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{which} not answering after 60 s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


# -- the load ---------------------------------------------------------------------------------------


@dataclass
class Load:
    answers: int  # inside the measured window
    seconds: float
    cpu_seconds: float  # the load generator's own CPU time in the window
    failures: list[str]

    @property
    def rate(self) -> float:
        return self.answers / self.seconds


async def _connection(
    port: int, request: bytes, start: float, end: float, check: bytes, done: list[float], failures: list[str]
) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while time.monotonic() < end:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for header in head.split(b"\r\n")[1:]:
                name, _, value = header.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200") or check not in head.lower():
                failures.append(head.split(b"\r\n")[0].decode(errors="replace"))
                continue
            now = time.monotonic()
            if now >= start:
                done.append(now)
    finally:
        writer.close()


async def _phase(
    port: int, request: bytes, check: bytes, start: float, end: float
) -> tuple[list[float], list[str], float]:
    """``CONNECTIONS`` connections busy from now to ``end``: the times answers came after
    ``start``, the unexpected answers, and this process's CPU seconds from ``start``."""
    done: list[float] = []
    failures: list[str] = []
    tasks = [
        asyncio.create_task(_connection(port, request, start, end, check, done, failures))
        for _ in range(CONNECTIONS)
    ]
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    cpu_start = time.process_time()
    await asyncio.gather(*tasks)
    return done, failures, time.process_time() - cpu_start


def _client(pipe: Connection) -> None:
    """The load generator: told (port, request, expected header, warm-up, seconds), keeps
    ``CONNECTIONS`` connections busy and answers a ``Load``."""
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    while True:
        command = pipe.recv()
        if command is None:
            return
        port, request, check, warm_up, seconds = command
        start = time.monotonic() + warm_up
        end = start + seconds
        done, failures, cpu = asyncio.run(_phase(port, request, check, start, end))
        counted = sum(start <= t <= end for t in done)
        pipe.send(Load(counted, seconds, cpu, failures[:5]))


class LoadGenerator:
    def __init__(self) -> None:
        self.pipe, theirs = _spawn.Pipe()
        self.process = _spawn.Process(target=_client, args=(theirs,), daemon=True)
        self.process.start()

    def load(self, port: int, request: bytes, check: bytes, seconds: float) -> Load:
        self.pipe.send((port, request, check, WARM_UP_SECONDS, seconds))
        result: Load = self.pipe.recv()
        return result

    def close(self) -> None:
        self.pipe.send(None)
        self.process.join(timeout=10)


# -- set-up ---------------------------------------------------------------------------------------


def _session_token(settings: Settings) -> str:
    """An account in group ``ops`` with an authenticator app, signed in with both factors."""
    deps = build_deps(settings, FrozenClock(datetime.now(UTC)))
    person = enrolled(deps, "erin")
    forward_auth.add_group(deps, "erin", "ops")
    client = Client(ip="192.0.2.10", user_agent="sparekey-bench")
    started = sign_in.start(deps, username="erin", password=PASSWORD, client=client)
    assert isinstance(started, sign_in.SecondFactorRequired)
    import pyotp

    code = pyotp.TOTP(person.secret).at(deps.clock.now())
    done = sign_in.submit_code(deps, flow_id=started.flow.id, code=code, client=client)
    current = sessions.authenticate(deps, done.session_token)
    assert current.session.context.level.value == "two_factors"
    deps.store.engine.dispose()  # type: ignore[attr-defined]
    return done.session_token


def _environment(settings: Settings) -> dict[str, str]:
    assert settings.encryption_keys is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPAREKEY_")}
    env.update(
        SPAREKEY_DATA_DIR=str(settings.data_dir),
        SPAREKEY_ENCRYPTION_KEYS=settings.encryption_keys.get_secret_value(),
        SPAREKEY_FORWARD_AUTH_RULES=json.dumps(RULES),
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH")])
        ),
    )
    return env


def _request(token: str) -> bytes:
    """What nginx's auth_request sends for ``https://admin.example.com/reports?month=11``."""
    return (
        "GET /api/v1/forward-auth HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"X-Original-URL: https://{PROTECTED}/reports?month=11\r\n"
        "X-Forwarded-Proto: http\r\n"
        "X-Forwarded-For: 198.51.100.7\r\n"
        f"Cookie: sparekey_session={token}\r\n"
        "User-Agent: sparekey-bench\r\n"
        "\r\n"
    ).encode()


def forward_auth_over_http(directory: Path) -> None:
    settings = bench_settings(directory)
    upgrade(make_engine(settings.database()))
    token = _session_token(settings)
    env = _environment(settings)
    servers: dict[str, Running] = {}
    generator = LoadGenerator()
    try:
        for which in ("bare", "sparekey"):
            servers[which] = Running(which, env, directory)
        request = _request(token)
        loads: dict[str, list[Load]] = {"bare": [], "sparekey": []}
        checks = {"bare": b"200", "sparekey": b"remote-user: erin"}
        for _ in range(ROUNDS):
            for which, running in servers.items():
                loads[which].append(generator.load(running.port, request, checks[which], PHASE_SECONDS))
    finally:
        for running in servers.values():
            running.stop()
        generator.close()
    rates = {which: statistics.median(load.rate for load in phases) for which, phases in loads.items()}
    cpu = {
        which: statistics.median(load.cpu_seconds / load.seconds for load in phases)
        for which, phases in loads.items()
    }
    ratio = rates["sparekey"] / rates["bare"]
    line(
        "g) forward-auth checks over HTTP",
        f"{rates['sparekey']:8.1f}/s  bare ASGI app {rates['bare']:8.1f}/s  "
        f"throughput ratio {ratio:5.3f} (aim >= {AIM:.2f}: {verdict(ratio >= AIM)})",
    )
    line(
        "     how",
        f"1 uvicorn process each ({LOOP} + {HTTP}); 1 load process, {CONNECTIONS} keep-alive "
        f"connections (its CPU: bare {cpu['bare']:4.0%}, sparekey {cpu['sparekey']:4.0%} of a core); "
        f"{ROUNDS} rounds of {PHASE_SECONDS:.0f} s phases, medians",
    )
    failures = [f for phases in loads.values() for load in phases for f in load.failures]
    if failures:
        line("       problems", f"{len(failures)} unexpected answers, e.g. {failures[:2]}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="sparekey-bench-") as scratch:
            forward_auth_over_http(Path(scratch))
