"""Senders: how messages leave sparekey (``core/delivery.py`` is what the core asks for).

``SPAREKEY_MAIL_SENDER`` chooses the e-mail sender, ``SPAREKEY_PHONE_SENDER`` the one for
SMS and voice calls.
"""

from __future__ import annotations

from sparekey.core.delivery import Sender, Senders
from sparekey.delivery.outbox import OutboxSender
from sparekey.settings import Settings


def build_senders(settings: Settings) -> Senders:
    return Senders(mail=_mail_sender(settings), phone=_phone_sender(settings))


def _mail_sender(settings: Settings) -> Sender:
    return OutboxSender()


def _phone_sender(settings: Settings) -> Sender:
    return OutboxSender()
