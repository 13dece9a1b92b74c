"""The delivery worker: retries on a frozen clock, wakes when kicked, survives any failed
round, and runs from the application's start-up to its shutdown.

Waiting for the thread is polling with a generous deadline; nothing asserts how long
anything took."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from sparekey.core.delivery import Channel, DeliveryFailed, Message, Senders
from sparekey.delivery.worker import SETTLED_SECONDS, DeliveryWorker
from sparekey.store.database import sqlite_url
from sparekey.web.app import create_app
from tests.conftest import build_deps, test_settings
from tests.delivery.conftest import CODE, queue_code, stored

WAIT_SECONDS = 60


def eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "the worker never got there"
        time.sleep(0.02)


class Flaky:
    """Fails ``failures`` times, then delivers."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.tries = 0
        self.sent: list[Message] = []

    def send(self, message: Message) -> None:
        self.tries += 1
        if self.failures:
            self.failures -= 1
            raise DeliveryFailed("the provider is busy")
        self.sent.append(message)


def test_a_round_retries_once_the_back_off_has_passed(sqlite_database: str, clock: FrozenClock) -> None:
    flaky = Flaky(failures=1)
    deps = build_deps(sqlite_database, clock, senders=Senders(mail=flaky, phone=flaky))
    worker = DeliveryWorker(deps)
    message_id = queue_code(deps, channel=Channel.SMS, to="+819012345678")

    assert worker.step() == 0  # a fresh message is its request's to send, not the worker's
    assert stored(deps, message_id).attempts == 0
    clock.advance(seconds=SETTLED_SECONDS)  # the request did not send it (it stopped, say)
    assert worker.step() == 0
    assert (stored(deps, message_id).attempts, stored(deps, message_id).last_error) == (
        1,
        "the provider is busy",
    )
    assert worker.step() == 0  # not due yet
    clock.advance(seconds=30)
    assert worker.step() == 1
    assert worker.step() == 0

    assert flaky.tries == 2 and len(flaky.sent) == 1
    assert stored(deps, message_id).state == "sent"


def test_the_thread_retries_when_kicked(sqlite_database: str, clock: FrozenClock) -> None:
    flaky = Flaky(failures=1)
    deps = build_deps(sqlite_database, clock, senders=Senders(mail=flaky, phone=flaky))
    worker = DeliveryWorker(deps, interval_seconds=300)  # only kicks wake it in this test
    worker.start()
    try:
        assert worker.running
        message_id = queue_code(deps, channel=Channel.SMS, to="+819012345678")
        clock.advance(seconds=SETTLED_SECONDS)
        worker.kick()
        eventually(lambda: stored(deps, message_id).attempts == 1)
        clock.advance(seconds=30)
        worker.kick()
        eventually(lambda: stored(deps, message_id).state == "sent")
    finally:
        worker.stop()
    assert not worker.running
    assert flaky.tries == 2 and len(flaky.sent) == 1


def test_a_failed_round_never_stops_the_worker(
    tmp_path: Path, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    deps = build_deps(sqlite_url(tmp_path / "never-migrated"), clock)  # no tables: every round fails
    worker = DeliveryWorker(deps, interval_seconds=300)
    caplog.set_level(logging.ERROR, logger="sparekey.delivery")

    assert worker.step() == 0
    # The jobs and the delivery each fail on their own, named by type, nothing else.
    assert caplog.messages == [
        "jobs round failed: OperationalError",
        "delivery round failed: OperationalError",
    ]

    worker.start()
    try:
        for rounds in (4, 6):
            worker.kick()
            eventually(lambda rounds=rounds: len(caplog.messages) >= rounds)  # type: ignore[misc]
        assert worker.running
    finally:
        worker.stop()


def test_the_application_runs_the_worker_from_start_up_to_shutdown(
    tmp_path: Path, sqlite_database: str, clock: FrozenClock
) -> None:
    down = Flaky(failures=0)  # a sender that would work, had it been reached before the stop
    before = build_deps(sqlite_database, clock, senders=Senders(mail=down, phone=down))
    message_id = queue_code(before, channel=Channel.EMAIL, to="alice@example.com")  # queued, never sent
    clock.advance(seconds=SETTLED_SECONDS)  # ... and then the server stopped for a while
    app = create_app(test_settings(tmp_path, database_url=sqlite_database), clock=clock)
    worker: DeliveryWorker = app.state.delivery_worker
    assert not worker.running

    with TestClient(app):
        assert worker.running
        eventually(lambda: stored(before, message_id).state == "sent")  # picked up at start-up

        later = queue_code(before, channel=Channel.SMS, to="+819012345678")
        clock.advance(seconds=SETTLED_SECONDS)
        worker.kick()
        eventually(lambda: stored(before, later).state == "sent")

    assert not worker.running
    assert stored(before, message_id).sender == "outbox" and CODE not in str(
        stored(before, message_id).body_enc
    )


def test_stop_without_start_and_start_twice_are_harmless(sqlite_database: str, clock: FrozenClock) -> None:
    worker = DeliveryWorker(build_deps(sqlite_database, clock))
    worker.stop()
    worker.start()
    thread_count = threading.active_count()
    worker.start()
    assert threading.active_count() == thread_count
    worker.stop()
    assert not worker.running
