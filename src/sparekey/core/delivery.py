"""Messages to people: what the core asks the delivery layer for, and what it hands over.

Every message (a code to verify a contact point, a sign-in code, later notifications and
recovery links) is composed in the account's language by a ``Composer``, stored encrypted
in the same transaction as the change that caused it, and sent after that transaction
commits by the ``Sender`` of its channel (``core/flows/delivery.py`` does the sending, the
retries and their back-off). Senders live outside the core (``sparekey/delivery/``): the
embedded outbox, SMTP, Twilio, a signed webhook.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol


class Channel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"
    VOICE = "voice"


class MessageKind(enum.StrEnum):
    """What a message is for; each has a template per channel and language."""

    CONTACT_CODE = "contact_code"  # params: code, minutes (verifying a new contact point)
    SIGN_IN_CODE = "sign_in_code"  # params: code, minutes (a second step by SMS, call or e-mail)
    NOTICE = "notice"  # params: notice (a NotificationType), username, when, device, ip, links, details
    REMINDER = "reminder"  # params: username, security_url, set_number, set_date, remaining, phones
    RECOVERY = "recovery"  # params: code, minutes, cancel_url; by e-mail: username, link, cancel_url
    RECOVERY_CONTACT_ASK = "recovery_contact_ask"  # by e-mail to a recovery contact: username, page_url


@dataclass(frozen=True)
class Message:
    """A composed message, ready for a sender. ``text`` is what an SMS says, the plain-text
    part of an e-mail, and what a voice call reads (``speech`` when given: the same words
    written for a voice, a code digit by digit)."""

    channel: Channel
    to: str  # an e-mail address, or a phone number in E.164
    language: str  # "ja" or "en"
    subject: str
    text: str
    html: str | None = None
    speech: str | None = None


OUTBOX = "outbox"  # the embedded sender's name: its messages are kept in the database for the operator


class DeliveryFailed(Exception):
    """A sender could not deliver. ``reason`` is safe to store and show (never a secret).
    ``permanent`` failures (an invalid number, a refused address) are not retried."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Sender(Protocol):
    name: str  # "outbox", "smtp", "twilio", "webhook": recorded with each delivery

    def send(self, message: Message) -> None:
        """Deliver ``message`` or raise ``DeliveryFailed``."""
        ...


class Composer(Protocol):
    def compose(
        self, kind: MessageKind, *, channel: Channel, to: str, language: str, **params: Any
    ) -> Message:
        """The message of ``kind`` for ``channel`` in ``language`` ("ja" or "en")."""
        ...


@dataclass(frozen=True)
class Senders:
    """The sender of each channel: one for e-mail, one for SMS and voice calls."""

    mail: Sender
    phone: Sender

    def for_channel(self, channel: Channel) -> Sender:
        return self.mail if channel is Channel.EMAIL else self.phone
