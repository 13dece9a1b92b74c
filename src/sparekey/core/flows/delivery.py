"""Queueing and sending messages: stored first, sent after the commit, retried with back-off.

``queue`` composes a message and stores it, sealed, inside the caller's transaction: if
that transaction rolls back, nothing is sent; if it commits, the message exists even when
the process stops right after. ``deliver`` sends what is due: each message is claimed by
one conditional UPDATE first, so several processes never send the same message at once.
A failure is recorded and retried later, after 30 s, 1, 2, 4 ... minutes up to an hour;
after ``MAX_ATTEMPTS`` tries, or on a permanent failure, the message is given up and
recorded as failed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sparekey.core.crypto import new_id
from sparekey.core.delivery import OUTBOX, Channel, DeliveryFailed, Message, MessageKind
from sparekey.core.deps import Deps
from sparekey.core.models import QueuedMessage
from sparekey.core.ports import Transaction

log = logging.getLogger("sparekey.delivery")

MAX_ATTEMPTS = 10
FIRST_RETRY_SECONDS = 30
LONGEST_RETRY_SECONDS = 3600
CLAIM_SECONDS = 120  # a process that died while sending frees its claim after this long
BATCH = 50


def queue(
    tx: Transaction,
    deps: Deps,
    kind: MessageKind,
    *,
    channel: Channel,
    to: str,
    language: str,
    account_id: str | None,
    **params: Any,
) -> str | None:
    """Compose and store a message; returns its id, to hand to ``deliver`` after the commit,
    or None when storing it was all there was to do: the embedded outbox "delivers" by
    keeping the message in the database, so it is kept at once."""
    message = deps.composer.compose(kind, channel=channel, to=to, language=language, **params)
    message_id = new_id()
    now = deps.clock.now()
    queued = QueuedMessage(
        id=message_id,
        account_id=account_id,
        channel=channel.value,
        to=to,
        kind=kind.value,
        created_at=now,
        next_attempt_at=now,
        body_enc=_seal(deps, message_id, message),
    )
    kept_at_once = deps.senders.for_channel(channel).name == OUTBOX
    if kept_at_once:
        queued.state, queued.attempts, queued.sent_at, queued.sender = "sent", 1, now, OUTBOX
    tx.messages.add(queued)
    return None if kept_at_once else message_id


def deliver(deps: Deps, message_ids: Sequence[str | None] | None = None, *, settled_seconds: int = 0) -> int:
    """Send the due messages (only ``message_ids``, when given: what ``queue`` returned; only
    those queued at least ``settled_seconds`` ago, when given: the request that queued a
    message sends it itself, right after its commit); returns how many were sent."""
    ids = None if message_ids is None else [i for i in message_ids if i is not None]
    if ids == []:
        return 0
    now = deps.clock.now()
    with deps.store.transaction() as tx:
        claimed = tx.messages.claim_due(
            now,
            until=now + timedelta(seconds=CLAIM_SECONDS),
            limit=BATCH,
            ids=ids,
            created_before=now - timedelta(seconds=settled_seconds) if settled_seconds else None,
        )
    sent = 0
    for queued in claimed:
        sender = deps.senders.for_channel(Channel(queued.channel))
        try:
            sender.send(_open(deps, queued))
        except DeliveryFailed as failure:
            _record_failure(deps, queued, failure)
        except Exception as error:  # noqa: BLE001 - a sender's bug must not lose the message
            log.error("sender %s failed on message %s: %s", sender.name, queued.id, type(error).__name__)
            _record_failure(deps, queued, DeliveryFailed(f"unexpected {type(error).__name__}"))
        else:
            with deps.store.transaction() as tx:
                tx.messages.mark_sent(
                    queued.id, at=deps.clock.now(), sender=sender.name, keep_body=sender.name == OUTBOX
                )
            sent += 1
    return sent


def _record_failure(deps: Deps, queued: QueuedMessage, failure: DeliveryFailed) -> None:
    attempts = queued.attempts + 1
    with deps.store.transaction() as tx:
        if failure.permanent or attempts >= MAX_ATTEMPTS:
            tx.messages.mark_failed(queued.id, error=failure.reason)
            log.warning("message %s given up after %d attempt(s): %s", queued.id, attempts, failure.reason)
            return
        wait = min(FIRST_RETRY_SECONDS * 2 ** (attempts - 1), LONGEST_RETRY_SECONDS)
        tx.messages.mark_retry(
            queued.id, error=failure.reason, next_attempt_at=deps.clock.now() + timedelta(seconds=wait)
        )
    log.info(
        "message %s not delivered (attempt %d), retried in %d s: %s",
        queued.id,
        attempts,
        wait,
        failure.reason,
    )


def _seal(deps: Deps, message_id: str, message: Message) -> str:
    body = {
        "language": message.language,
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        "speech": message.speech,
    }
    return deps.box.encrypt(json.dumps(body).encode(), aad=message_id.encode())


def _open(deps: Deps, queued: QueuedMessage) -> Message:
    if queued.body_enc is None:
        raise DeliveryFailed("the message body is gone", permanent=True)
    body = json.loads(deps.box.decrypt(queued.body_enc, aad=queued.id.encode()))
    return Message(channel=Channel(queued.channel), to=queued.to, **body)


def opened(deps: Deps, queued: QueuedMessage) -> Message | None:
    """A stored message as it was composed (for the operator's outbox), if it is still kept."""
    return _open(deps, queued) if queued.body_enc is not None else None
