"""Queued messages are sealed at rest (AES-GCM, the message id as associated data), on
SQLite and PostgreSQL; the outbox keeps them sealed, the other senders drop them once sent
(their tests check that for each)."""

from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidTag

from sparekey.core.clock import FrozenClock
from sparekey.core.delivery import Channel
from sparekey.core.flows import delivery
from tests.conftest import build_deps
from tests.delivery.conftest import CODE, queue_code, stored


@pytest.mark.parametrize("channel", list(Channel))
def test_a_queued_message_is_sealed(database_url: str, clock: FrozenClock, channel: Channel) -> None:
    deps = build_deps(database_url, clock)
    message_id = queue_code(deps, channel=channel, to="alice@example.com", language="ja")

    sealed = stored(deps, message_id).body_enc
    assert sealed is not None and sealed.startswith("t1:")  # names its key, nothing else in clear
    raw = base64.urlsafe_b64decode(sealed.partition(":")[2])
    for clear in (CODE, "1, 2", "1、2", "sparekey", "サインイン", "sign-in", "minutes"):
        assert clear not in sealed and clear.encode() not in raw
    with pytest.raises(InvalidTag):  # bound to its row: copied to another id, it does not open
        deps.box.decrypt(sealed, aad=b"another message id")


def test_the_outbox_keeps_the_message_sealed(database_url: str, clock: FrozenClock) -> None:
    deps = build_deps(database_url, clock)
    message_id = queue_code(deps, channel=Channel.EMAIL, to="alice@example.com")

    assert delivery.deliver(deps) == 0  # the outbox keeps a message as it is stored: nothing left to send

    row = stored(deps, message_id)
    assert (row.state, row.sender) == ("sent", "outbox")
    assert row.body_enc is not None and CODE not in row.body_enc
    message = delivery.opened(deps, row)
    assert message is not None and CODE in message.text
