"""Periodic work, run by the server's worker thread and by ``sparekey jobs`` (for cron): the
notifications and reminders of ``notify.py``, recovery requests whose messages were never
sent (the server stopped between the answer and its background task), and forgetting what
has expired (sign-in flows, sent codes, key challenges, trusted devices whose trust ended,
recovery requests long closed).

Safe to run from several processes at once: notifications and reminders are taken one by
one with conditional UPDATEs; forgetting is a DELETE of rows past their time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta

from sparekey.core.deps import Deps
from sparekey.core.flows import notify, recovery

# Expired rows are kept this long after their end: sent codes count toward the daily caps,
# and an owner may still read a flow's outcome in the history meanwhile.
KEEP_EXPIRED = timedelta(days=2)
# Recovery requests stay for support and the audit trail this long after they were made
# (their events stay in the account's history).
KEEP_RECOVERY_REQUESTS = timedelta(days=120)  # past the longest wait (90 days) and its completion
# A request not dispatched this long after it was made lost its background task.
DISPATCH_GRACE = timedelta(minutes=2)


@dataclass(frozen=True)
class Report:
    notified: int
    reminded: int
    forgotten: int
    redispatched: int = 0

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
            + tx.recovery_requests.prune(deps.clock.now() - KEEP_RECOVERY_REQUESTS)
        )


def redispatch_recoveries(deps: Deps, *, limit: int = 50) -> int:
    """Send what a recovery request's background task never sent; each is taken once."""
    with deps.store.transaction() as tx:
        missed = tx.recovery_requests.undispatched(before=deps.clock.now() - DISPATCH_GRACE, limit=limit)
    for request_id in missed:
        recovery.dispatch(deps, request_id)
    return len(missed)


def run(deps: Deps, *, periodic: bool = True) -> Report:
    """Notifications always; reminders and forgetting when ``periodic`` (the worker runs
    those less often than its delivery rounds)."""
    notified = notify.notify_pending(deps)
    if not periodic:
        return Report(notified, 0, 0)
    redispatched = redispatch_recoveries(deps)
    return Report(notified, notify.remind_due(deps), forget_expired(deps), redispatched)
