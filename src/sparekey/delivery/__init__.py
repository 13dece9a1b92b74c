"""Senders: how messages leave sparekey (``core/delivery.py`` is what the core asks for).

``SPAREKEY_MAIL_SENDER`` chooses the e-mail sender (``outbox`` or ``smtp``),
``SPAREKEY_PHONE_SENDER`` the one for SMS and voice calls (``outbox``, ``twilio`` or
``webhook``). The settings have already checked that what the chosen sender needs is there.
"""

from __future__ import annotations

from sparekey.core.delivery import Sender, Senders
from sparekey.delivery.outbox import OutboxSender
from sparekey.delivery.smtp import SmtpConfig, SmtpSender
from sparekey.delivery.twilio import TwilioSender
from sparekey.delivery.webhook import WebhookSender
from sparekey.settings import Settings


def build_senders(settings: Settings) -> Senders:
    return Senders(mail=_mail_sender(settings), phone=_phone_sender(settings))


def _mail_sender(settings: Settings) -> Sender:
    if settings.mail_sender == "smtp":
        assert settings.smtp_host and settings.mail_from  # checked by the settings
        return SmtpSender(
            SmtpConfig(
                host=settings.smtp_host,
                mail_from=settings.mail_from,
                security=settings.smtp_security,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=settings.smtp_password,
                ca_file=settings.smtp_ca_file,
            )
        )
    return OutboxSender()


def _phone_sender(settings: Settings) -> Sender:
    if settings.phone_sender == "twilio":
        assert settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from
        return TwilioSender(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            from_=settings.twilio_from,
            api_base=settings.twilio_api_base,
        )
    if settings.phone_sender == "webhook":
        assert settings.phone_webhook_url and settings.phone_webhook_secret
        return WebhookSender(url=settings.phone_webhook_url, secret=settings.phone_webhook_secret)
    return OutboxSender()
