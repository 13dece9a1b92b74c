"""``sparekey serve --workers N``: N processes on one port behave as one server.

One ``serve --workers 4`` process tree on PostgreSQL and Redis: a code submitted to
several sign-in flows at once succeeds once, and the limits trip at their configured
number, whichever worker each attempt reaches.

How a test knows that its requests reached different processes: it opens every connection
before any request goes out and asks the kernel which worker accepted it. The server's end
of a connection is the line of ``/proc/net/tcp`` whose remote port is the client's local
port; its socket inode is in the file table (``/proc/PID/fd``) of exactly one child of the
``serve`` process, the worker that will answer every request on that connection. Connections
are opened one at a time, each once the previous one was accepted, until they reach several
workers; a test that could not spread them fails rather than testing one process.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
import redis

from sparekey.core.crypto import new_key_string
from tests.conftest import REDIS_URL, unavailable
from tests.web import test_processes
from tests.web.servers import HOST, Server, server_env
from tests.web.test_processes import (
    PASSWORD,
    LogWatch,
    RemoteUser,
    Shot,
    code_path,
    describe,
    race,
    start,
    stop,
    wait_for_fresh_time_step,
)

pytestmark = pytest.mark.slow

server_logs = test_processes.server_logs  # autouse: a failing test shows what the servers wrote

WORKERS = 4
RACERS = 8  # flows per race: 7 losers stay under the account's limit of 10 failures
ACCEPT_TIMEOUT = 10.0
Connection = http.client.HTTPConnection
MOST_CONNECTIONS = 200  # opened while looking for a spread, at most


# -- which worker accepted a connection ---------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError):
            found += [int(child) for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return found


def _sockets_of(pid: int) -> set[int]:
    inodes: set[int] = set()
    with contextlib.suppress(FileNotFoundError, PermissionError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(FileNotFoundError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def _tcp_sockets(port: int) -> list[tuple[int, str, int]]:
    """(remote port, state, inode) of each IPv4 socket whose local port is ``port``."""
    rows = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
        if int(local.split(":")[1], 16) == port:
            rows.append((int(remote.split(":")[1], 16), state, inode))
    return rows


def worker_pids(server: Server) -> list[int]:
    """The children of the ``serve`` process that hold its listening socket."""
    assert server.process is not None
    listening = {inode for _, state, inode in _tcp_sockets(server.port) if state == "0A"}
    return [pid for pid in _children(server.process.pid) if _sockets_of(pid) & listening]


def accepted_by(server: Server, connection: http.client.HTTPConnection) -> int:
    """The pid of the worker that accepted ``connection`` (waits until one has)."""
    assert server.process is not None and connection.sock is not None
    client_port = connection.sock.getsockname()[1]
    deadline = time.monotonic() + ACCEPT_TIMEOUT
    while time.monotonic() < deadline:
        inodes = {inode for remote, _, inode in _tcp_sockets(server.port) if remote == client_port and inode}
        if inodes:
            for pid in _children(server.process.pid):
                if _sockets_of(pid) & inodes:
                    return pid
        time.sleep(0.01)
    raise AssertionError(f"no worker accepted the connection from port {client_port}")


def spread(server: Server, count: int, *, workers_needed: int = 2) -> list[tuple[int, Connection]]:
    """``count`` open connections, each with the worker that accepted it, dealt round the
    workers (one of each, then again). They are opened one at a time until every worker holds
    its share, or ``MOST_CONNECTIONS`` were opened; the others are closed. Fails unless they
    reach ``workers_needed`` workers."""
    workers = worker_pids(server)
    share = -(-count // len(workers))
    held: dict[int, list[Connection]] = defaultdict(list)
    for _ in range(MOST_CONNECTIONS):
        if all(len(held[pid]) >= share for pid in workers):
            break
        connection = server.connect()
        held[accepted_by(server, connection)].append(connection)
    dealt: list[tuple[int, Connection]] = []
    for index in range(max(len(connections) for connections in held.values())):
        dealt += [(pid, mine[index]) for pid, mine in held.items() if index < len(mine)]
    chosen = dealt[:count]
    reached = Counter(pid for pid, _ in chosen)
    for _, connection in dealt[count:] if len(reached) >= workers_needed else dealt:
        connection.close()
    assert len(reached) >= workers_needed, f"connections reached {dict(reached)} of workers {workers} only"
    return chosen


def shots_on_workers(server: Server, paths_and_bodies: list[tuple[str, dict[str, str]]]) -> list[Shot]:
    """One shot per (path, body), each on its own connection, dealt round the workers."""
    connections = spread(server, len(paths_and_bodies))
    return [
        Shot(server, path, body, connection=connection)
        for (path, body), (_, connection) in zip(paths_and_bodies, connections, strict=True)
    ]


# -- the server ----------------------------------------------------------------------------------------


def redis_flushed() -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    reason = None
    try:
        client.ping()
        client.flushdb()
    except redis.RedisError as error:
        reason = f"Redis not reachable at {REDIS_URL}: {type(error).__name__}: {error}"
    finally:
        client.close()
    if reason:
        unavailable(reason)


def workers_server(name: str, directory: Path, postgres_url: str, **settings: str | int) -> Server:
    env = server_env(directory, new_key_string(), database_url=postgres_url, redis_url=REDIS_URL, **settings)
    return Server(name, env, directory, args=("--workers", str(WORKERS)))


@pytest.fixture(scope="module")
def cluster(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``serve --workers 4`` on PostgreSQL and Redis (the default limits)."""
    redis_flushed()
    server = workers_server("W4", tmp_path_factory.mktemp("workers"), postgres_url)
    try:
        yield start(server)
    finally:
        stop(server)


def wrong_code(secret: str) -> str:
    """Six digits that no time step within ±15 minutes of now has (not even a drift match)."""
    totp = pyotp.TOTP(secret)
    near = {totp.at(time.time() + 30 * offset) for offset in range(-30, 31)}
    return next(code for code in (f"{n:06d}" for n in range(123456, 999999, 7919)) if code not in near)


# -- one code, once ------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.redis
def test_same_totp_code_succeeds_once_across_worker_processes(cluster: Server, server_logs: LogWatch) -> None:
    user = RemoteUser(cluster, "w-totp").register().enable_totp()
    flows = [user.flow(cluster) for _ in range(RACERS)]
    wait_for_fresh_time_step()
    code = user.totp()
    shots = shots_on_workers(cluster, [(code_path(flow), {"code": code}) for flow in flows])

    replies = race(shots)

    outcomes = Counter(r.outcome for r in replies)
    assert outcomes == {(200, None): 1, (401, "code_replayed"): RACERS - 1}, describe(shots, replies)
    events = user.events(cluster)
    assert sum(e["type"] == "sign_in" and e["result"] == "success" for e in events) == 2, events  # + register
    assert sum(e["type"] == "totp_replay_refused" for e in events) == RACERS - 1, events
    server_logs.assert_clean()


@pytest.mark.postgres
@pytest.mark.redis
def test_same_backup_code_succeeds_once_across_worker_processes(
    cluster: Server, server_logs: LogWatch
) -> None:
    user = RemoteUser(cluster, "w-backup").register().enable_totp()
    flows = [user.flow(cluster) for _ in range(RACERS)]
    shots = shots_on_workers(cluster, [(code_path(flow), {"code": user.codes[0]}) for flow in flows])

    replies = race(shots)

    outcomes = Counter(r.outcome for r in replies)
    assert outcomes == {(200, None): 1, (401, "code_already_used"): RACERS - 1}, describe(shots, replies)
    status = user.backup_status(cluster)
    assert (status["remaining"], [u["position"] for u in status["used"]]) == (9, [1]), status
    server_logs.assert_clean()


# -- limits, shared ------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.redis
def test_account_code_limit_is_shared_by_worker_processes(cluster: Server, server_logs: LogWatch) -> None:
    """32 wrong codes at once over 8 flows (4 each, under a flow's 5) and all workers: the
    account's limit of 10 consecutive failures lets exactly 10 be checked."""
    user = RemoteUser(cluster, "w-codes").register().enable_totp()
    flows = [user.flow(cluster) for _ in range(8)]
    wrong = wrong_code(user.secret)
    shots = shots_on_workers(
        cluster, [(code_path(flow), {"code": wrong}) for flow in flows for _ in range(4)]
    )

    replies = race(shots)

    outcomes = Counter(r.outcome for r in replies)
    assert outcomes == {(401, "invalid_code"): 10, (429, "rate_limited"): 22}, describe(shots, replies)
    events = user.events(cluster)
    failures = [e for e in events if e["type"] == "sign_in" and e["result"] == "failure"]
    assert len(failures) == 10, failures
    assert sum(e["type"] == "rate_limited" for e in events) == 1, events
    server_logs.assert_clean()


@pytest.mark.postgres
@pytest.mark.redis
def test_username_password_limit_is_shared_by_worker_processes(
    cluster: Server, server_logs: LogWatch
) -> None:
    """40 wrong passwords at once over all workers: 10 are checked, 30 refused unchecked."""
    user = RemoteUser(cluster, "w-burst").register()
    login = {"username": user.username}
    shots = shots_on_workers(
        cluster, [("/api/v1/login", {**login, "password": f"guess {i} for it"}) for i in range(40)]
    )

    replies = race(shots)

    outcomes = Counter(r.outcome for r in replies)
    assert outcomes == {(401, "invalid_credentials"): 10, (429, "rate_limited"): 30}, describe(shots, replies)
    failures = [e for e in user.events(cluster) if e["type"] == "sign_in" and e["result"] == "failure"]
    assert len(failures) == 10, failures
    server_logs.assert_clean()


@pytest.mark.postgres
@pytest.mark.redis
def test_client_address_limit_trips_at_its_number_across_worker_processes(
    postgres_url: str,
    tmp_path: Path,
    server_logs: LogWatch,
) -> None:
    """A limit of 5 failures per address: 5 failures dealt round the workers, and every
    worker left with a connection refuses the owner; after 4 the owner still signs in.
    The kernel hands each connection to whichever worker accepts it first, so on a busy
    machine one worker may take fewer: the failures and refusals need only reach several."""
    redis_flushed()
    server = start(workers_server("W4-address", tmp_path, postgres_url, ip_failure_limit=5))
    try:
        owner = RemoteUser(server, "w-owner").register()
        dealt = spread(server, 3 * WORKERS, workers_needed=2)  # round the workers, one of each in turn
        owner_login = {"username": owner.username, "password": PASSWORD}
        failed_on = set()
        for i, (pid, connection) in enumerate(dealt[:5]):
            stranger = {"username": f"nobody-{i}-{owner.username}", "password": "not the password 1"}
            failed = server.post("/api/v1/login", stranger, connection=connection)
            assert failed.outcome == (401, "invalid_credentials"), failed
            failed_on.add(pid)
            if i == 3:  # four failures: still under the limit
                signed_in = server.post("/api/v1/login", owner_login, connection=dealt[5][1])
                assert signed_in.body["status"] == "authenticated", signed_in
        assert len(failed_on) >= 2, f"the failures reached one worker only: {failed_on}"
        refusers = dict(reversed(dealt[6:]))  # one connection per worker still holding one
        assert len(refusers) >= 2, f"the refusals would reach one worker only: {list(refusers)}"
        for pid, connection in refusers.items():
            refused = server.post("/api/v1/login", owner_login, connection=connection)
            assert refused.outcome == (429, "rate_limited"), f"worker {pid}: {refused}"
            assert 1 <= int(refused.headers["retry-after"]) <= 900, refused
        server_logs.assert_clean()
    finally:
        stop(server)


# -- start and stop ---------------------------------------------------------------------------------------


def test_two_workers_serve_and_stop_cleanly_on_sigterm(tmp_path: Path, server_logs: LogWatch) -> None:
    """SQLite, no Redis: two workers answer /healthz; SIGTERM to ``serve`` ends them all, exit 0."""
    server = Server("W2", server_env(tmp_path, new_key_string()), tmp_path, args=("--workers", "2"))
    start(server)
    try:
        assert server.process is not None
        workers = worker_pids(server)
        assert len(workers) == 2 and server.process.pid not in workers, workers
        family = [server.process.pid, *_children(server.process.pid)]
        for pid, connection in spread(server, 4, workers_needed=2):
            answer = server.get("/healthz", connection=connection)
            assert answer.status == 200, (pid, answer)

        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0, server.log_text()
        for pid in family:  # the workers (and multiprocessing's helper) went with it
            assert not Path(f"/proc/{pid}").exists() or _state(pid) == "Z", (pid, server.log_text())
        with pytest.raises(OSError):
            http.client.HTTPConnection(HOST, server.port, timeout=5).connect()
        server_logs.assert_clean()
    finally:
        stop(server)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"
