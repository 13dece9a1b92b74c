"""The server's delivery worker: one background thread that sends what is due, and runs the
periodic jobs (``core/flows/jobs.py``: notifications each round; reminders and forgetting
what expired every ``jobs_seconds``).

A message is queued inside the transaction that caused it and usually sent right after
the commit by the request itself; this thread is the safety net behind that. Every
``interval_seconds`` (and at once when ``kick()`` is called) it runs
``core.flows.delivery.deliver``, which sends messages that are due: retries whose back-off
has passed, and messages queued before the server stopped or by a request that ended
before sending. Several server processes may each run one: the claim in ``deliver`` keeps a
message with one process at a time.

A worker must never take the server down: every failure of a round (a database that went
away, a sender's bug) is logged by its exception type only, never with a message's text,
and the next round comes as usual.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sparekey.core.deps import Deps
from sparekey.core.flows import jobs
from sparekey.core.flows.delivery import BATCH, deliver

log = logging.getLogger("sparekey.delivery")

STOP_WAIT_SECONDS = 30  # a round in progress finishes its sends (each times out after 10 s)
# A message younger than this is its request's to send (right after its commit): the worker
# takes retries and leftovers, and never races a request for a message it just queued.
SETTLED_SECONDS = 30


class DeliveryWorker:
    def __init__(self, deps: Deps, *, interval_seconds: float = 5, jobs_seconds: float = 60) -> None:
        self.deps = deps
        self.interval_seconds = interval_seconds
        self.jobs_seconds = jobs_seconds
        self._jobs_next = 0.0  # time.monotonic() of the next periodic jobs
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def step(self) -> int:
        """One round: send what is due; returns how many were sent. Never raises."""
        periodic = time.monotonic() >= self._jobs_next
        if periodic:
            self._jobs_next = time.monotonic() + self.jobs_seconds
        try:
            jobs.run(self.deps, periodic=periodic)
        except Exception as error:  # noqa: BLE001 - the server must outlive any failed round
            log.error("jobs round failed: %s", type(error).__name__)
        try:
            return deliver(self.deps, settled_seconds=SETTLED_SECONDS)
        except Exception as error:  # noqa: BLE001 - the server must outlive any failed round
            log.error("delivery round failed: %s", type(error).__name__)
            return 0

    def kick(self) -> None:
        """Run a round now rather than at the end of the interval."""
        self._wake.set()

    def start(self) -> None:
        if self.running:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="sparekey-delivery", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the round in progress, then end the thread."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(STOP_WAIT_SECONDS)
            if self._thread.is_alive():
                log.warning("the delivery worker did not stop within %d s", STOP_WAIT_SECONDS)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            full_batch = self.step() >= BATCH  # more may be due: go on without waiting
            if not full_batch:
                self._wake.wait(self.interval_seconds)

    @asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        """The application's lifespan: runs from start-up to shutdown."""
        self.start()
        try:
            yield
        finally:
            await asyncio.to_thread(self.stop)
