"""``sparekey outbox [--json] [--follow]``, run as a real process on the test's database."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import IO

import pytest

from sparekey.core.clock import FrozenClock
from sparekey.core.delivery import Channel, Message, Senders
from sparekey.core.deps import Deps
from sparekey.core.flows import delivery
from sparekey.delivery.outbox import OutboxSender
from tests.conftest import TEST_KEYS, build_deps
from tests.delivery.conftest import CODE, queue_code

WAIT_SECONDS = 60  # for a line from --follow: generous, never a measurement


def environment(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPAREKEY_")}
    env.update(
        SPAREKEY_DATA_DIR=str(tmp_path / "data"),
        SPAREKEY_DATABASE_URL=database_url,
        SPAREKEY_ENCRYPTION_KEYS=TEST_KEYS,
    )
    return env


def outbox(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sparekey", "outbox", *args],
        capture_output=True,
        text=True,
        env=environment(tmp_path, database_url),
        timeout=60,
        check=False,
    )


class Elsewhere:
    """A sender that is not the outbox: what it sends is not listed."""

    name = "smtp"

    def send(self, message: Message) -> None:
        pass


@pytest.fixture
def two_kept(sqlite_database: str, clock: FrozenClock) -> tuple[Deps, list[str]]:
    """An e-mail at 09:00 and an SMS in Japanese a minute later, kept by the outbox; and an
    e-mail that another sender delivered."""
    deps = build_deps(sqlite_database, clock)
    first = queue_code(deps, channel=Channel.EMAIL, to="alice@example.com")
    clock.advance(seconds=60)
    second = queue_code(deps, channel=Channel.SMS, to="+819012345678", language="ja")
    assert delivery.deliver(deps) == 0  # the outbox kept both as they were stored
    other = build_deps(sqlite_database, clock, senders=Senders(mail=Elsewhere(), phone=OutboxSender()))
    queue_code(other, channel=Channel.EMAIL, to="bob@example.com")
    assert delivery.deliver(other) == 1
    return deps, [second, first]


def test_json_is_one_array_newest_first(
    tmp_path: Path, sqlite_database: str, two_kept: tuple[Deps, list[str]]
) -> None:
    _deps, newest_first = two_kept

    result = outbox(tmp_path, sqlite_database, "--json")

    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [item["id"] for item in listed] == newest_first
    assert all(set(item) == {"id", "channel", "to", "subject", "text", "created_at"} for item in listed)
    sms, mail = listed
    assert (sms["channel"], sms["to"]) == ("sms", "+819012345678")
    assert CODE in sms["text"] and "サインイン" in sms["text"]
    assert (mail["channel"], mail["to"], mail["subject"]) == (
        "email",
        "alice@example.com",
        "sparekey: your sign-in code",
    )
    assert datetime.fromisoformat(mail["created_at"]) == datetime.fromisoformat("2026-11-01T09:00:00+00:00")
    assert datetime.fromisoformat(sms["created_at"]) == datetime.fromisoformat("2026-11-01T09:01:00+00:00")


def test_the_human_form_is_readable(
    tmp_path: Path, sqlite_database: str, two_kept: tuple[Deps, list[str]]
) -> None:
    result = outbox(tmp_path, sqlite_database)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    sms_at = out.index("2026-11-01 09:01:00 UTC  sms  to +819012345678")
    mail_at = out.index("2026-11-01 09:00:00 UTC  email  to alice@example.com")
    assert sms_at < mail_at  # newest first
    assert "  Subject: sparekey: your sign-in code" in out
    assert f"  | sparekey のサインイン用コード: {CODE}（10分間有効）" in out
    assert f"\n  |     {CODE}\n" in out  # the e-mail's text, line by line
    assert "bob@example.com" not in out


def test_an_empty_outbox(tmp_path: Path, sqlite_database: str) -> None:
    human = outbox(tmp_path, sqlite_database)
    assert (human.returncode, human.stdout, human.stderr) == (0, "", "sparekey: the outbox is empty\n")
    machine = outbox(tmp_path, sqlite_database, "--json")
    assert (machine.returncode, json.loads(machine.stdout)) == (0, [])


def test_an_unmigrated_database_is_explained(tmp_path: Path) -> None:
    result = outbox(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}")
    assert result.returncode == 1
    assert result.stderr == "sparekey: the database schema is not up to date: run `sparekey migrate`\n"


def _lines(stream: IO[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_follow_prints_each_new_message_as_one_json_line(
    tmp_path: Path, sqlite_database: str, clock: FrozenClock, two_kept: tuple[Deps, list[str]]
) -> None:
    deps, newest_first = two_kept
    process = subprocess.Popen(
        [sys.executable, "-m", "sparekey", "outbox", "--json", "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(tmp_path, sqlite_database),
    )
    try:
        lines = _lines(process.stdout)  # type: ignore[arg-type]
        first = json.loads(lines.get(timeout=WAIT_SECONDS))
        assert [item["id"] for item in first] == newest_first  # the listing: one array on one line

        clock.advance(seconds=60)
        arrived = queue_code(deps, channel=Channel.VOICE, to="+819011112222")  # kept at once

        new = json.loads(lines.get(timeout=WAIT_SECONDS))
        assert new["id"] == arrived and new["channel"] == "voice" and CODE in new["text"]

        process.send_signal(signal.SIGINT)  # Ctrl-C
        assert process.wait(timeout=WAIT_SECONDS) == 0
        assert process.stderr is not None
        errors = process.stderr.read()
        assert "Traceback" not in errors and "Aborted" not in errors
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=WAIT_SECONDS)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
