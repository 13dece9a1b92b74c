"""The embedded outbox: messages are kept in the database, for the operator to read with
``sparekey outbox``. For development and small installations, where nobody has to be
reached outside the operator's own view."""

from __future__ import annotations

from sparekey.core.delivery import Message


class OutboxSender:
    name = "outbox"

    def send(self, message: Message) -> None:
        """Nothing leaves: the queued message stays in the database, marked as kept."""
