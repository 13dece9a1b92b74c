"""Periodic work, run by the server's worker thread and by ``sparekey jobs`` (for cron): the
notifications and reminders of ``notify.py``, and forgetting what has expired (sign-in
flows, sent codes, key challenges, trusted devices whose trust ended).

Safe to run from several processes at once: notifications and reminders are taken one by
one with conditional UPDATEs; forgetting is a DELETE of rows past their time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta

from sparekey.core.deps import Deps
from sparekey.core.flows import notify

# Expired rows are kept this long after their end: sent codes count toward the daily caps,
# and an owner may still read a flow's outcome in the history meanwhile.
KEEP_EXPIRED = timedelta(days=2)


@dataclass(frozen=True)
class Report:
    notified: int
    reminded: int
    forgotten: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def forget_expired(deps: Deps) -> int:
    before = deps.clock.now() - KEEP_EXPIRED
    with deps.store.transaction() as tx:
        codes = tx.sent_codes.prune(before)  # the caps look back one day at most
        return (
            codes
            + tx.flows.prune(before)
            + tx.key_ceremonies.prune(before)
            + tx.trusted_devices.prune(before)
        )


def run(deps: Deps, *, periodic: bool = True) -> Report:
    """Notifications always; reminders and forgetting when ``periodic`` (the worker runs
    those less often than its delivery rounds)."""
    notified = notify.notify_pending(deps)
    if not periodic:
        return Report(notified, 0, 0)
    return Report(notified, notify.remind_due(deps), forget_expired(deps))
