"""Recovery requests' atomic steps on SQLite and PostgreSQL: a request completes once and is
denied once, whatever the number of parallel calls; completed or denied, it can no longer
be cancelled, and a cancelled one can no longer be completed."""

from __future__ import annotations

import threading
from datetime import timedelta

from sparekey.core.models import RecoveryRequest, RecoveryState
from sparekey.store.sql import SqlStore
from tests.store.test_repositories import NOW, add_account, race, store

__all__ = ["store"]  # the fixture, used by name


def waiting_request(store: SqlStore, request_id: str = "r" * 32) -> RecoveryRequest:
    account = add_account(store)
    request = RecoveryRequest(
        id=request_id,
        account_id=account.id,
        state=RecoveryState.WAITING,
        created_at=NOW,
        expires_at=NOW + timedelta(days=1),
        ready_at=NOW + timedelta(days=3),
        evidence={"password": NOW.isoformat()},
        score=2,
    )
    with store.transaction() as tx:
        tx.recovery_requests.add(request)
    return request


def test_a_request_completes_once_under_a_race(store: SqlStore) -> None:
    request = waiting_request(store)

    def complete() -> bool:
        with store.transaction() as tx:
            return tx.recovery_requests.complete(request.id, NOW + timedelta(days=3))

    assert race(8, complete) == [False] * 7 + [True]
    with store.transaction() as tx:
        found = tx.recovery_requests.get(request.id)
        cancelled = tx.recovery_requests.cancel(request.id)
        denied = tx.recovery_requests.deny(request.id)
    assert found is not None and found.state is RecoveryState.COMPLETED
    assert found.completed_at == NOW + timedelta(days=3)
    assert not cancelled and not denied


def test_a_request_is_denied_once_and_then_never_completes(store: SqlStore) -> None:
    request = waiting_request(store)

    def deny() -> bool:
        with store.transaction() as tx:
            return tx.recovery_requests.deny(request.id)

    assert race(8, deny) == [False] * 7 + [True]
    with store.transaction() as tx:
        assert not tx.recovery_requests.complete(request.id, NOW)
        found = tx.recovery_requests.get(request.id)
    assert found is not None and found.state is RecoveryState.DENIED


def test_support_fields_and_the_completion_token_round_trip(store: SqlStore) -> None:
    request = waiting_request(store)
    with store.transaction() as tx:
        tx.recovery_requests.set_support(
            request.id, support_requested_at=NOW, support_statement="lost my phone"
        )
        tx.recovery_requests.set_support(request.id, support_question="When did you last sign in?")
        tx.recovery_requests.set_completion_token(request.id, "h" * 43, NOW)
        found = tx.recovery_requests.get(request.id)
    assert found is not None
    assert (found.support_requested_at, found.support_statement) == (NOW, "lost my phone")
    assert found.support_question == "When did you last sign in?"
    assert (found.completion_token_hash, found.completion_started_at) == ("h" * 43, NOW)


def test_undispatched_and_prune(store: SqlStore) -> None:
    request = waiting_request(store)
    with store.transaction() as tx:
        assert tx.recovery_requests.undispatched(before=NOW, limit=10) == []  # not older than NOW
        assert tx.recovery_requests.undispatched(before=NOW + timedelta(seconds=1), limit=10) == [request.id]
        assert tx.recovery_requests.take_dispatch(request.id, NOW)
        assert tx.recovery_requests.undispatched(before=NOW + timedelta(seconds=1), limit=10) == []
        assert tx.recovery_requests.prune(NOW) == 0
        assert tx.recovery_requests.prune(NOW + timedelta(seconds=1)) == 1
        assert tx.recovery_requests.get(request.id) is None


def test_proofs_arriving_at_once_all_count(database_url: str) -> None:
    """A contact confirming while the requester gives the password, and more: every proof is
    kept, none overwrites another (the request is read again under its lock)."""
    from sparekey.core.clock import FrozenClock
    from sparekey.core.flows import recovery
    from sparekey.core.flows.recovery import Proof
    from tests.conftest import build_deps

    deps = build_deps(database_url, FrozenClock(NOW))
    store = deps.store
    request = waiting_request(store)  # type: ignore[arg-type]
    with store.transaction() as tx:
        tx.recovery_requests.set_progress(request.id, state="collecting", evidence={}, score=0, ready_at=None)
    proofs = iter([Proof.EMAIL, Proof.PHONE, Proof.FACTS, Proof.DEVICE])
    lock = threading.Lock()

    def prove() -> bool:
        with lock:
            proof = next(proofs)
        with store.transaction() as tx:
            found = tx.recovery_requests.get(request.id)
            assert found is not None
            return recovery.prove(tx, deps, found, {proof})

    assert race(4, prove) == [True] * 4
    with store.transaction() as tx:
        found = tx.recovery_requests.get(request.id)
    assert found is not None and set(found.evidence) == {"email", "phone", "facts", "device"}
    assert found.score == 4 and found.state is RecoveryState.WAITING
