"""A real sparekey server in a subprocess and Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sparekey.core.crypto import new_key_string
from tests.delivery.conftest import start_provider  # noqa: F401 - the local SMS provider, for journeys

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Starts ``sparekey serve`` with the given SPAREKEY_* settings (as keyword arguments,
    lower case); returns its base URL. Every server is stopped, and its log checked, after."""
    running: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(*, localhost: bool = False, **settings: str) -> str:
        """``localhost``: serve at http://localhost:<port>, which is also the public URL (a
        WebAuthn relying party needs a host name, not an address)."""
        port = free_port()
        if localhost:
            settings.setdefault("public_url", f"http://localhost:{port}")
        data = tmp_path / f"server-{len(running)}"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("SPAREKEY_")}
        environment.update(
            SPAREKEY_DATA_DIR=str(data / "data"),
            SPAREKEY_ENCRYPTION_KEYS=new_key_string(),
            SPAREKEY_ARGON2_TIME_COST="1",
            SPAREKEY_ARGON2_MEMORY_COST="1024",
            **{f"SPAREKEY_{name.upper()}": value for name, value in settings.items()},
        )
        data.mkdir(parents=True)
        log_path = data / "server.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "sparekey", "serve", "--port", str(port)],
                env=environment,
                stdout=log,
                stderr=log,
            )
        running.append((process, log_path))
        base = f"http://{'localhost' if localhost else '127.0.0.1'}:{port}"
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1) as answer:  # noqa: S310 - our own server
                    if answer.status == 200:
                        return base
            except OSError:
                time.sleep(0.05)
        process.kill()
        pytest.fail(f"server did not start: {log_path.read_text()}")

    yield start
    for process, log_path in running:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        text = log_path.read_text()
        assert "Traceback" not in text, text


@pytest.fixture
def server(start_server: Callable[..., str]) -> str:
    return start_server()


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (scripts/test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
