"""The embedded outbox: messages are kept in the database, for the operator to read with
``sparekey outbox``. For development and small installations, where nobody has to be
reached outside the operator's own view.

Sending through the outbox is recording: ``core.flows.delivery.queue`` stores the message as
kept by the outbox at once, with its sealed body (other senders' bodies are dropped once
delivered). Reading
opens the body with the key ring, so the outbox shows only what this installation's keys
can read.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag

from sparekey.core.crypto import KeyRingError
from sparekey.core.delivery import OUTBOX, Message
from sparekey.core.deps import Deps
from sparekey.core.flows.delivery import opened


class OutboxSender:
    name = OUTBOX

    def send(self, message: Message) -> None:
        """Nothing leaves: the queued message stays in the database, marked as kept."""


@dataclass(frozen=True)
class Kept:
    """A message the outbox kept, as the operator reads it."""

    id: str
    channel: str
    to: str
    created_at: datetime
    subject: str
    text: str

    def as_json(self) -> dict[str, Any]:
        """The API's shape: ``{id, channel, to, subject, text, created_at}`` (ISO 8601)."""
        return {
            "id": self.id,
            "channel": self.channel,
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
            "created_at": self.created_at.isoformat(),
        }


UNREADABLE = "(this message cannot be opened with the configured encryption keys)"


def kept(deps: Deps, *, limit: int, skip: Collection[str] = ()) -> list[Kept]:
    """The ``limit`` newest messages the outbox kept, newest first, leaving out the ids in
    ``skip`` (those already shown): only the others are opened."""
    with deps.store.transaction() as tx:
        queued = [item for item in tx.messages.kept_by_outbox(limit=limit) if item.id not in skip]
    found = []
    for item in queued:
        try:
            message = opened(deps, item)
        except (KeyRingError, InvalidTag, ValueError):  # a key removed from the ring, a damaged body
            message = None
        found.append(
            Kept(
                id=item.id,
                channel=item.channel,
                to=item.to,
                created_at=item.created_at,
                subject=message.subject if message else "",
                text=message.text if message else UNREADABLE,
            )
        )
    return found
