"""The periodic jobs forget what has expired (sign-in flows, key challenges, sent codes,
trusted devices), two days after its end, and nothing sooner."""

from __future__ import annotations

from datetime import timedelta

from sparekey.core.clock import FrozenClock
from sparekey.core.crypto import new_id, new_token
from sparekey.core.deps import Deps
from sparekey.core.flows import jobs
from sparekey.core.models import (
    CeremonyPurpose,
    Contact,
    FlowKind,
    FlowState,
    KeyCeremony,
    LoginFlow,
    SentCode,
    TrustedDevice,
)
from tests.conftest import Person, current_for


def test_expired_flows_challenges_and_devices_are_forgotten_after_two_days(
    deps: Deps, person: Person, clock: FrozenClock
) -> None:
    current = current_for(deps, person)
    now = clock.now()
    with deps.store.transaction() as tx:
        tx.flows.add(
            LoginFlow(
                id=new_token(24),
                account_id=None,
                state=FlowState.AWAITING_SECOND_FACTOR,
                created_at=now,
                expires_at=now + timedelta(minutes=10),
                kind=FlowKind.PASSKEY,
            )
        )
        tx.key_ceremonies.add(
            KeyCeremony(
                id=new_token(24),
                account_id=person.id,
                session_id=current.session.id,  # type: ignore[attr-defined]
                purpose=CeremonyPurpose.SUDO,
                challenge=bytes(32),
                created_at=now,
                expires_at=now + timedelta(minutes=10),
            )
        )
        tx.contacts.add(
            Contact(id="c1", account_id=person.id, kind="email", address="a@example.org", created_at=now)
        )
        tx.sent_codes.add(  # a code to verify that address
            SentCode(
                id=new_id(),
                account_id=person.id,
                contact_id="c1",
                channel="email",
                destination="a@example.org",
                code_hash="0" * 64,
                created_at=now,
                expires_at=now + timedelta(minutes=10),
            )
        )
        tx.trusted_devices.add(
            TrustedDevice(
                id=new_id(),
                account_id=person.id,
                token_hash="0" * 64,
                name="Old laptop",
                created_at=now,
                last_used_at=now,
                expires_at=now + timedelta(days=30),
            )
        )
    clock.advance(2 * 86400)  # two days: only the 10-minute things ended, and not two days ago
    assert jobs.run(deps).forgotten == 0
    clock.advance(601)
    assert jobs.run(deps).forgotten == 3  # the flow, the challenge and the code
    clock.advance(30 * 86400)
    assert jobs.run(deps).forgotten == 1  # the device, two days after its trust ended
    assert jobs.run(deps).forgotten == 0
