"""A real sparekey server in a subprocess and Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sparekey.core.crypto import new_key_string

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
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPAREKEY_")}
    environment.update(
        SPAREKEY_DATA_DIR=str(tmp_path / "data"),
        SPAREKEY_ENCRYPTION_KEYS=new_key_string(),
        SPAREKEY_ARGON2_TIME_COST="1",
        SPAREKEY_ARGON2_MEMORY_COST="1024",
    )
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "sparekey", "serve", "--port", str(port)],
        env=environment,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as answer:  # noqa: S310 - our own server
                if answer.status == 200:
                    break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        pytest.fail(f"server did not start: {(tmp_path / 'server.log').read_text()}")
    yield base
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
    text = (tmp_path / "server.log").read_text()
    assert "Traceback" not in text, text


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (scripts/test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
