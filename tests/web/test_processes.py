"""Several real ``sparekey serve`` processes on one database, driven over HTTP at the same time.

What the quality bars promise across processes (PRODUCT.md, "Correctness under concurrency"
and "Crash safety"): one code submitted many times at once succeeds once, whichever process
each submission reaches; a TOTP time step is accepted once; regenerating backup codes
switches sets atomically; the client-address limit is shared through Redis; and a server
killed in the middle of regenerating leaves exactly one valid set.

Every test runs against SQLite (WAL, BEGIN IMMEDIATE, processes sharing one file) and
PostgreSQL (a fresh migrated database from ``postgres_url``; skipped when it is not there).
A failing test prints what the server processes wrote while it ran.
"""

from __future__ import annotations

import http.client
import os
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
import pytest
import redis
from sqlalchemy import create_engine, delete, text

from sparekey.core.crypto import new_key_string
from sparekey.store.database import make_engine, sqlite_url
from sparekey.store.tables import address_failures
from tests.conftest import REDIS_URL, unavailable
from tests.web.servers import Reply, Server, ServerGone, server_env

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
RACERS = 6  # flows per race: few enough that 5 failures stay under the account limit (10)
SERVER_TROUBLE = ("Traceback", "unexpected error on", "Exception in ASGI application")

RUNNING: list[Server] = []  # every server this module has started and not yet stopped


# -- fixtures ------------------------------------------------------------------------------


class LogWatch:
    """What the servers wrote during one test; printed when the test fails."""

    def __init__(self) -> None:
        self.offsets = {id(server): server.log_size() for server in RUNNING}
        self.seen: list[Server] = list(RUNNING)

    def track(self, server: Server) -> None:
        if server not in self.seen:
            self.seen.append(server)

    def texts(self) -> list[tuple[Server, str]]:
        for server in RUNNING:
            self.track(server)
        return [(s, s.log_text(self.offsets.get(id(s), 0))) for s in self.seen]

    def assert_clean(self) -> None:
        """No server logged an unexpected error (a 500) or a stack trace."""
        for server, output in self.texts():
            troubles = [line for line in output.splitlines() if any(t in line for t in SERVER_TROUBLE)]
            assert not troubles, f"server {server.name} logged errors:\n" + "\n".join(troubles)


@pytest.fixture(autouse=True)
def server_logs() -> Iterator[LogWatch]:
    watch = LogWatch()
    yield watch
    for server, output in watch.texts():
        if output.strip():
            state = "running" if server.running else f"exited {server.process and server.process.returncode}"
            print(f"===== server {server.name} (port {server.port}, {state}) during this test =====")
            print(output)


def start(server: Server) -> Server:
    if server not in RUNNING:
        RUNNING.append(server)
    return server.start()


def stop(*servers: Server) -> None:
    for server in servers:
        server.stop()
    for server in servers:
        if server in RUNNING:
            RUNNING.remove(server)


def database_for(request: pytest.FixtureRequest, data_dir: Path) -> tuple[str | None, str]:
    """(SPAREKEY_DATABASE_URL or None for SQLite, the URL this test reads the database with)."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url, url
    return None, sqlite_url(data_dir)


@dataclass
class Pair:
    a: Server
    b: Server
    database: str  # for direct checks from the test

    @property
    def both(self) -> tuple[Server, Server]:
        return self.a, self.b

    def server(self, index: int) -> Server:
        return self.both[index % 2]


@pytest.fixture(scope="module", params=DATABASES)
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Two processes, same data directory, same key, same database."""
    data_dir = tmp_path_factory.mktemp(f"pair-{request.param}")
    configured, database = database_for(request, data_dir)
    env = server_env(data_dir, new_key_string(), database_url=configured)
    a = Server(f"A-{request.param}", env, data_dir)
    b = Server(f"B-{request.param}", env, data_dir)
    try:
        # One after the other: A creates (migrates) a new SQLite database, B finds it current.
        start(a)
        start(b)
        yield Pair(a, b, database)
    finally:
        stop(a, b)


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str | None, str]:
    return database_for(request, tmp_path)


# -- an account driven over HTTP ---------------------------------------------------------------


class RemoteUser:
    """One account and what its owner knows, registered and used through real servers."""

    def __init__(self, server: Server, prefix: str) -> None:
        self.server = server
        self.username = f"{prefix}-{secrets.token_hex(5)}"
        self.password = PASSWORD
        self.id = ""
        self.token = ""
        self.secret = ""
        self.codes: list[str] = []

    def register(self) -> RemoteUser:
        reply = self.server.post("/api/v1/accounts", {"username": self.username, "password": self.password})
        assert reply.status == 201, reply
        self.id = reply.body["id"]
        reply = self.login(self.server)
        assert reply.body["status"] == "authenticated", reply
        self.token = reply.body["session_token"]
        return self

    def login(self, server: Server) -> Reply:
        reply = server.post("/api/v1/login", {"username": self.username, "password": self.password})
        assert reply.status == 200, reply
        return reply

    def flow(self, server: Server) -> str:
        reply = self.login(server)
        assert reply.body["status"] == "second_factor_required", reply
        return str(reply.body["flow_id"])

    def totp(self, offset_seconds: float = 0) -> str:
        return pyotp.TOTP(self.secret).at(time.time() + offset_seconds)

    def enable_totp(self) -> RemoteUser:
        """Enrol an authenticator app; its confirmation turns 2FA on and issues backup set #1.

        The confirming code counts as a use of its time step, so it is the code of the
        previous step (a phone a little behind, accepted within ±1 step): the step that
        is current right now then stays free for the code the test submits next.
        """
        reply = self.server.post("/api/v1/me/totp", {"name": "iPhone"}, token=self.token)
        assert reply.status == 201, reply
        self.secret = reply.body["secret"]
        authenticator_id = reply.body["authenticator_id"]
        reply = self.server.post(
            f"/api/v1/me/totp/{authenticator_id}/confirm", {"code": self.totp(-30)}, token=self.token
        )
        assert reply.status == 200, reply
        assert reply.body["backup_codes"]["set_number"] == 1, reply
        self.codes = reply.body["backup_codes"]["codes"]
        assert len(self.codes) == 10, reply
        return self

    def sudo(self, server: Server) -> None:
        reply = server.post(
            "/api/v1/me/sudo", {"password": self.password, "code": self.totp()}, token=self.token
        )
        assert reply.status == 200, reply

    def backup_status(self, server: Server) -> dict[str, Any]:
        reply = server.get("/api/v1/me/backup-codes", token=self.token)
        assert reply.status == 200, reply
        body: dict[str, Any] = reply.body
        return body

    def events(self, server: Server) -> list[dict[str, Any]]:
        reply = server.get("/api/v1/me/events", token=self.token)
        assert reply.status == 200, reply
        events: list[dict[str, Any]] = reply.body
        return events


def code_path(flow_id: str) -> str:
    return f"/api/v1/login/{flow_id}/code"


def wait_for_fresh_time_step(min_remaining: float = 8.0) -> None:
    """If the current 30 s step ends in less than ``min_remaining`` seconds, wait for the next."""
    remaining = 30 - time.time() % 30
    if remaining < min_remaining:
        time.sleep(remaining + 0.1)


@dataclass
class Shot:
    server: Server
    path: str
    body: dict[str, Any]
    token: str | None = None
    connection: http.client.HTTPConnection | None = None  # opened beforehand; else at the start


def race(shots: list[Shot]) -> list[Reply]:
    """Send every shot at once: connections open first, then all requests after one barrier."""
    barrier = threading.Barrier(len(shots))
    answers: list[Reply | BaseException | None] = [None] * len(shots)

    def run(index: int, shot: Shot) -> None:
        try:
            connection = shot.connection or shot.server.connect()
            barrier.wait(timeout=60)
            answers[index] = shot.server.call(
                "POST", shot.path, shot.body, token=shot.token, connection=connection
            )
        except BaseException as error:  # noqa: BLE001 - reported by the caller
            answers[index] = error
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i, s), daemon=True) for i, s in enumerate(shots)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    replies: list[Reply] = []
    for shot, answer in zip(shots, answers, strict=True):
        if not isinstance(answer, Reply):
            raise AssertionError(f"{shot.server.name} {shot.path}: no answer: {answer!r}")
        replies.append(answer)
    return replies


def describe(shots: list[Shot], replies: list[Reply]) -> str:
    return "\n".join(f"  {s.server.name}: {r}" for s, r in zip(shots, replies, strict=True))


def one_current_set(database: str, account_id: str) -> tuple[int, int]:
    """(how many current backup-code sets the account has, how many codes the current one holds)."""
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            current = conn.execute(
                text("SELECT id FROM backup_code_sets WHERE account_id = :account AND replaced_at IS NULL"),
                {"account": account_id},
            ).all()
            codes = 0
            if len(current) == 1:
                codes = conn.execute(
                    text("SELECT count(*) FROM backup_codes WHERE set_id = :set"), {"set": current[0].id}
                ).scalar_one()
            return len(current), codes
    finally:
        engine.dispose()


# -- 1. two processes, one database -----------------------------------------------------------------


def test_two_processes_share_one_database(pair: Pair, server_logs: LogWatch) -> None:
    assert pair.a.process and pair.b.process and pair.a.process.pid != pair.b.process.pid
    user = RemoteUser(pair.a, "shared").register()

    taken = pair.b.post("/api/v1/accounts", {"username": user.username, "password": PASSWORD})
    assert taken.outcome == (409, "username_taken"), taken

    signed_in_on_b = user.login(pair.b)
    assert signed_in_on_b.body["status"] == "authenticated", signed_in_on_b
    me = pair.a.get("/api/v1/me", token=signed_in_on_b.body["session_token"])
    assert me.status == 200 and me.body["username"] == user.username, me
    server_logs.assert_clean()


# -- 2. TOTP replay guard across processes ---------------------------------------------------------


def test_same_totp_code_is_accepted_once_across_processes(pair: Pair, server_logs: LogWatch) -> None:
    user = RemoteUser(pair.a, "totp").register().enable_totp()
    flows = [user.flow(pair.server(i)) for i in range(RACERS)]
    wait_for_fresh_time_step()
    code = user.totp()
    shots = [Shot(pair.server(i), code_path(flow), {"code": code}) for i, flow in enumerate(flows)]

    replies = race(shots)

    outcomes = Counter(r.outcome for r in replies)
    assert outcomes == {(200, None): 1, (401, "code_replayed"): RACERS - 1}, describe(shots, replies)
    (winner,) = [r for r in replies if r.status == 200]
    assert winner.body["method_used"] == "totp", winner
    for server in pair.both:  # the session the winner opened is known to both processes
        assert server.get("/api/v1/me", token=winner.body["session_token"]).status == 200

    events = user.events(pair.b)
    successes = [e for e in events if e["type"] == "sign_in" and e["result"] == "success"]
    assert [e["method"] for e in successes].count("totp") == 1, events
    assert sum(e["type"] == "totp_replay_refused" for e in events) == RACERS - 1, events
    server_logs.assert_clean()


# -- 3. backup code single use across processes and threads ----------------------------------------


def test_same_backup_code_is_used_once_across_processes(pair: Pair, server_logs: LogWatch) -> None:
    user = RemoteUser(pair.a, "backup").register().enable_totp()
    flows = [user.flow(pair.server(i)) for i in range(RACERS)]
    shots = [Shot(pair.server(i), code_path(flow), {"code": user.codes[0]}) for i, flow in enumerate(flows)]

    replies = race(shots)

    outcomes = Counter(r.outcome for r in replies)
    assert outcomes == {(200, None): 1, (401, "code_already_used"): RACERS - 1}, describe(shots, replies)
    (winner,) = [r for r in replies if r.status == 200]
    assert winner.body["method_used"] == "backup_code", winner
    assert {"code": "backup_code_used", "remaining": 9} in winner.body["notices"], winner
    for reply in replies:
        if reply.status == 401:
            assert reply.body["error"].get("used_at"), reply

    for server in pair.both:
        status = user.backup_status(server)
        assert (status["set_number"], status["total"], status["remaining"]) == (1, 10, 9), status
        assert [u["position"] for u in status["used"]] == [1], status
    used = [e for e in user.events(pair.a) if e["type"] == "backup_code_used"]
    assert [(e["position"], e["set_number"]) for e in used] == [(1, 1)], used
    server_logs.assert_clean()


# -- 4. regeneration while old codes are being used ------------------------------------------------


@dataclass
class Timed:
    label: str
    sent_at: float = 0.0
    answered_at: float = 0.0
    reply: Reply | None = None
    failure: BaseException | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def regenerate_while_signing_in(pair: Pair, rng: random.Random) -> None:
    """One account: server A regenerates while three threads sign in on B with old-set codes."""
    user = RemoteUser(pair.a, "regen").register().enable_totp()
    user.sudo(pair.a)
    # 8 of the 10 old codes: even if all fail, the account stays under its limit of 10
    # consecutive failures, so the new-set sign-in below is not rate limited.
    old = user.codes[:8]
    attempts = [
        Timed(f"old code #{i + 1}", extra={"flow": user.flow(pair.b), "code": c}) for i, c in enumerate(old)
    ]
    regeneration = Timed("regenerate")
    workers = 3
    barrier = threading.Barrier(workers + 1)
    delay = rng.uniform(0, 0.04)

    def regenerate() -> None:
        try:
            connection = pair.a.connect()
            barrier.wait(timeout=60)
            time.sleep(delay)
            regeneration.sent_at = time.monotonic()
            regeneration.reply = pair.a.post(
                "/api/v1/me/backup-codes/regenerate", token=user.token, connection=connection
            )
            regeneration.answered_at = time.monotonic()
        except BaseException as error:  # noqa: BLE001 - reported below
            regeneration.failure = error
            barrier.abort()

    def sign_in(mine: list[Timed]) -> None:
        try:
            barrier.wait(timeout=60)
            for attempt in mine:
                connection = pair.b.connect()
                attempt.sent_at = time.monotonic()
                attempt.reply = pair.b.post(
                    code_path(attempt.extra["flow"]), {"code": attempt.extra["code"]}, connection=connection
                )
                attempt.answered_at = time.monotonic()
                time.sleep(rng.uniform(0, 0.005))
        except BaseException as error:  # noqa: BLE001 - reported below
            for attempt in mine:
                attempt.failure = attempt.failure or error
            barrier.abort()

    threads = [threading.Thread(target=regenerate, daemon=True)] + [
        threading.Thread(target=sign_in, args=(attempts[w::workers],), daemon=True) for w in range(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    timeline = "\n".join(
        f"  {t.label}: sent {t.sent_at - regeneration.sent_at:+.4f}s "
        f"answered {t.answered_at - regeneration.sent_at:+.4f}s -> {t.reply or t.failure!r}"
        for t in sorted([regeneration, *attempts], key=lambda t: t.sent_at)
    )
    assert regeneration.reply is not None, f"regenerate: {regeneration.failure!r}\n{timeline}"
    assert regeneration.reply.status == 201, timeline
    assert regeneration.reply.body["set_number"] == 2, timeline
    new_codes = regeneration.reply.body["codes"]
    assert len(new_codes) == 10 and not set(new_codes) & set(user.codes), timeline

    for attempt in attempts:
        reply = attempt.reply
        assert reply is not None, f"{attempt.label}: {attempt.failure!r}\n{timeline}"
        assert reply.outcome in {(200, None), (401, "code_from_replaced_set")}, timeline
        if reply.status == 200:
            assert reply.body["method_used"] == "backup_code", timeline
            # an old code never works once the client has seen the new set exist
            assert attempt.sent_at < regeneration.answered_at, timeline
        else:
            assert reply.body["error"]["set_number"] == 1, timeline
            # an old code always works while the client has not yet asked for a new set
            assert attempt.answered_at > regeneration.sent_at, timeline

    status = user.backup_status(pair.b)
    assert (status["set_number"], status["total"], status["remaining"], status["used"]) == (2, 10, 10, [])
    assert one_current_set(pair.database, user.id) == (1, 10)
    flow = user.flow(pair.b)
    works = pair.b.post(code_path(flow), {"code": new_codes[0]})
    assert works.status == 200 and works.body["method_used"] == "backup_code", works
    generated = [e["set_number"] for e in user.events(pair.a) if e["type"] == "backup_codes_generated"]
    assert sorted(generated) == [1, 2], generated


def test_regeneration_switches_sets_atomically_while_old_codes_are_used(
    pair: Pair, server_logs: LogWatch
) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    print(f"random seed {seed}")
    rng = random.Random(seed)
    for _ in range(6):  # six accounts, six random moments for the switch
        regenerate_while_signing_in(pair, rng)
    server_logs.assert_clean()


# -- 4b. the per-account limit under a burst spread over both processes ------------------------------


def test_a_burst_of_wrong_passwords_gets_only_the_limits_checks(pair: Pair, server_logs: LogWatch) -> None:
    """80 wrong passwords at once, half to each process: 10 are checked (each checked one is
    a failure in the history), the other 70 are refused unchecked, and the pause that
    follows is the first one, not a jump to the longest."""
    user = RemoteUser(pair.a, "burst").register()
    shots = [
        Shot(pair.server(i), "/api/v1/login", {"username": user.username, "password": f"guess {i} for it"})
        for i in range(80)
    ]

    replies = race(shots)

    outcomes = Counter(r.outcome for r in replies)
    assert outcomes == {(401, "invalid_credentials"): 10, (429, "rate_limited"): 70}, outcomes
    checked = [e for e in user.events(pair.b) if e["type"] == "sign_in" and e["result"] == "failure"]
    assert len(checked) == 10, checked
    retry_after = {r.body["error"]["retry_after"] for r in replies if r.status == 429}
    assert max(retry_after) <= 60, retry_after
    server_logs.assert_clean()


# -- 5. the client-address limit, shared through Redis -------------------------------------------------


@pytest.fixture
def redis_pair(tmp_path: Path) -> Iterator[Pair]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    reason = None
    try:
        client.ping()
    except redis.RedisError as error:
        reason = f"Redis not reachable at {REDIS_URL}: {type(error).__name__}: {error}"
    if reason:  # outside the except block, so that a failure shows the reason alone
        client.close()
        unavailable(reason)
    client.flushdb()
    env = server_env(tmp_path, new_key_string(), redis_url=REDIS_URL, ip_failure_limit=5)
    a = Server("A-redis", env, tmp_path)
    b = Server("B-redis", env, tmp_path)
    try:
        start(a)
        start(b)
        yield Pair(a, b, sqlite_url(tmp_path))
    finally:
        stop(a, b)
        client.flushdb()
        client.close()


@pytest.fixture(params=DATABASES)
def limited_pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    """Two processes without Redis, and a limit of 5 failures per client address."""
    configured, database = database_for(request, tmp_path)
    env = server_env(tmp_path, new_key_string(), database_url=configured, ip_failure_limit=5)
    a = Server(f"A-limit-{request.param}", env, tmp_path)
    b = Server(f"B-limit-{request.param}", env, tmp_path)
    try:
        start(a)
        start(b)
        engine = make_engine(database)  # the session's PostgreSQL database has other tests' failures
        with engine.begin() as conn:
            conn.execute(delete(address_failures))
        engine.dispose()
        yield Pair(a, b, database)
    finally:
        stop(a, b)


def test_client_address_limit_is_shared_by_processes_through_the_database(
    limited_pair: Pair, server_logs: LogWatch
) -> None:
    """Without Redis the failures are counted in the database: two processes do not allow
    twice the limit."""
    address_limit_is_shared(limited_pair, server_logs)


@pytest.mark.redis
def test_client_address_limit_is_shared_by_processes_through_redis(
    redis_pair: Pair, server_logs: LogWatch
) -> None:
    address_limit_is_shared(redis_pair, server_logs)


def address_limit_is_shared(pair: Pair, server_logs: LogWatch) -> None:
    """5 failures split 3/2 over two processes: neither saw 5 itself, yet both now refuse."""
    owner = RemoteUser(pair.a, "owner").register()
    strangers = [f"nobody-{i}-{secrets.token_hex(4)}" for i in range(5)]

    for i, name in enumerate(strangers):
        failed = pair.server(i).post("/api/v1/login", {"username": name, "password": "not the password 1"})
        assert failed.outcome == (401, "invalid_credentials"), failed
        if i == 3:  # four failures: still under the limit on both processes
            assert owner.login(pair.server(i + 1)).body["status"] == "authenticated"

    for server in pair.both:
        refused = server.post("/api/v1/login", {"username": owner.username, "password": owner.password})
        assert refused.outcome == (429, "rate_limited"), f"{server.name}: {refused}"
        retry_after = int(refused.headers["retry-after"])
        assert 1 <= retry_after <= 900, refused
        assert refused.body["error"]["retry_after"] == retry_after, refused
    server_logs.assert_clean()


# -- 6. forwarded headers reaching a real server from localhost -------------------------------------------


def test_a_real_server_ignores_forwarded_headers_by_default(tmp_path: Path, server_logs: LogWatch) -> None:
    """The review's finding: the server believed X-Forwarded-* from anyone on localhost."""
    server = Server("F", server_env(tmp_path, new_key_string()), tmp_path)
    start(server)
    try:
        user = RemoteUser(server, "forwarded").register()
        forged = {
            "X-Forwarded-For": "9.9.9.10",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "evil.example",
        }
        wrong = {"username": user.username, "password": "not the password at all"}
        assert server.post("/api/v1/login", wrong, headers=forged).status == 401
        failures = [e for e in user.events(server) if e["type"] == "sign_in" and e["result"] == "failure"]
        assert [e["ip"] for e in failures] == ["127.0.0.1"], failures
        page = server.get("/login", headers=forged)
        assert page.headers["set-cookie"].startswith("sparekey_csrf="), page.headers
        assert "strict-transport-security" not in page.headers
        server_logs.assert_clean()
    finally:
        stop(server)


# -- 7. a crash in the middle of regenerating ------------------------------------------------------------


def regenerate_until_killed(
    server: Server, token: str, latest: dict[str, Any], problems: list[str], calling: threading.Event
) -> None:
    """Regenerate again and again, remembering the newest set whose answer arrived."""
    while True:
        try:
            connection = server.connect()
            calling.set()
            reply = server.post("/api/v1/me/backup-codes/regenerate", token=token, connection=connection)
        except ServerGone:
            return  # killed: this answer, if any, is lost
        if reply.status != 201:
            problems.append(str(reply))
            return
        latest.update(number=reply.body["set_number"], codes=reply.body["codes"])


def test_killing_the_server_while_regenerating_leaves_exactly_one_set(
    database: tuple[str | None, str], tmp_path: Path, server_logs: LogWatch
) -> None:
    configured, url = database
    seed = int.from_bytes(os.urandom(4), "big")
    print(f"random seed {seed}")
    rng = random.Random(seed)
    server = Server("K", server_env(tmp_path, new_key_string(), database_url=configured), tmp_path)
    start(server)
    try:
        user = RemoteUser(server, "crash").register().enable_totp()
        user.sudo(server)  # ten minutes of sudo, kept in the database across restarts
        known_number, known_codes = 1, list(user.codes)
        used_of_known = 0

        for round_number in range(5):
            latest: dict[str, Any] = {"number": known_number, "codes": known_codes}
            problems: list[str] = []
            calling = threading.Event()

            thread = threading.Thread(
                target=regenerate_until_killed,
                args=(server, user.token, latest, problems, calling),
                daemon=True,
            )
            thread.start()
            assert calling.wait(timeout=30)
            pause = rng.uniform(0, 0.3)
            time.sleep(pause)
            server.kill()
            thread.join(timeout=30)
            assert not thread.is_alive()
            assert not problems, problems

            start(server)  # same database, new process
            where = f"round {round_number}: killed after {pause * 1000:.0f} ms, saw set #{latest['number']}"
            status = user.backup_status(server)
            assert status["total"] == 10, (where, status)
            assert status["set_number"] in (latest["number"], latest["number"] + 1), (where, status)
            assert one_current_set(url, user.id) == (1, 10), where
            if url.startswith("sqlite"):
                engine = create_engine(url)
                with engine.connect() as conn:
                    assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok", where
                engine.dispose()

            flow = user.flow(server)
            if latest["number"] != known_number:
                used_of_known = 0
            code = latest["codes"][used_of_known]
            answer = server.post(code_path(flow), {"code": code})
            if status["set_number"] == latest["number"]:
                # the kill came before a further set was committed: the newest set seen works
                assert answer.status == 200 and answer.body["method_used"] == "backup_code", (where, answer)
                used_of_known += 1
                known_number, known_codes = latest["number"], latest["codes"]
            else:
                # the set in flight was committed, its answer lost: the seen set is replaced
                assert answer.outcome == (401, "code_from_replaced_set"), (where, answer)
                assert answer.body["error"]["set_number"] == latest["number"], (where, answer)
                fresh = server.post("/api/v1/me/backup-codes/regenerate", token=user.token)
                assert fresh.status == 201, (where, fresh)
                known_number, known_codes, used_of_known = fresh.body["set_number"], fresh.body["codes"], 0
        server_logs.assert_clean()
    finally:
        stop(server)
