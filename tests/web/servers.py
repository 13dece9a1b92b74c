"""Real ``sparekey serve`` processes for the multi-process tests, and a small HTTP client for them.

The client is the standard library's ``http.client``: one connection per call, JSON in and
out, nothing shared between threads. ``Server`` keeps the process's output in a file so that
a failing test can show it (see ``test_processes.py``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
START_TIMEOUT = 60.0


def free_port() -> int:
    """A port nobody listens on right now (the kernel's choice for a socket bound to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(repr=False)
    body: Any = None

    @property
    def error(self) -> str | None:
        """The stable error code of an error answer, else None."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("code"))
        return None

    @property
    def outcome(self) -> tuple[int, str | None]:
        return self.status, self.error

    def __str__(self) -> str:
        return f"{self.status} {self.body!r}"


class ServerGone(Exception):
    """The connection failed: refused, reset or closed without an answer."""


@dataclass
class Server:
    """One ``python -m sparekey serve`` process; ``env`` holds its SPAREKEY_* settings."""

    name: str
    env: dict[str, str]
    log_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)
    starts: int = 0
    args: tuple[str, ...] = ()  # more ``serve`` options, e.g. ("--workers", "4")

    def __post_init__(self) -> None:
        self.log_path = self.log_dir / f"server-{self.name}.log"

    def start(self) -> Server:
        """Start on a fresh free port and wait until ``/healthz`` answers 200."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.port = free_port()
        self.starts += 1
        environment = {k: v for k, v in os.environ.items() if not k.startswith("SPAREKEY_")}
        environment.update(self.env)
        with self.log_path.open("ab") as log:
            log.write(f"--- start #{self.starts} on port {self.port} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sparekey", "serve", "--host", HOST, "--port", str(self.port)]
                + list(self.args),
                env=environment,
                cwd=self.log_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"server {self.name} exited with {self.process.returncode} before it was healthy:\n"
                    + self.log_text()
                )
            with contextlib.suppress(ServerGone, OSError):
                if self.call("GET", "/healthz", timeout=2).status == 200:
                    return self
            time.sleep(0.05)
        self.stop()
        raise AssertionError(
            f"server {self.name} not healthy after {START_TIMEOUT:.0f} s:\n{self.log_text()}"
        )

    def stop(self) -> None:
        """Terminate, then kill if it does not go within a few seconds."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL: the crash in the middle of whatever the server was doing."""
        process = self.process
        assert process is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self, offset: int = 0) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    # HTTP ------------------------------------------------------------------------------

    def connect(self, timeout: float = 60) -> http.client.HTTPConnection:
        """An open connection, so that a request after a barrier goes out at once."""
        connection = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            connection.connect()
        except OSError as error:
            connection.close()
            raise ServerGone(f"{self.name}: {error!r}") from error
        return connection

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        timeout: float = 60,
        connection: http.client.HTTPConnection | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        connection = connection or self.connect(timeout)
        headers = {
            "Accept": "application/json",
            "Accept-Language": "en",
            "User-Agent": "sparekey-tests",
            **(headers or {}),
        }
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise ServerGone(f"{self.name} {method} {path}: {error!r}") from error
        finally:
            connection.close()
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, parsed)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.call("POST", path, {} if body is None else body, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.call("GET", path, **kwargs)


def server_env(
    data_dir: Path, key: str, *, database_url: str | None = None, **extra: str | int
) -> dict[str, str]:
    """The SPAREKEY_* settings for a test server; processes given the same values share a database."""
    env = {
        "SPAREKEY_DATA_DIR": str(data_dir),
        "SPAREKEY_ENCRYPTION_KEYS": key,
        "SPAREKEY_ARGON2_TIME_COST": "1",
        "SPAREKEY_ARGON2_MEMORY_COST": "1024",
    }
    if database_url is not None:
        env["SPAREKEY_DATABASE_URL"] = database_url
    env.update({f"SPAREKEY_{name.upper()}": str(value) for name, value in extra.items()})
    return env
