"""E-mail through an SMTP server, with the standard library's smtplib.

One connection per message: connect (``tls``: TLS from the first byte, port 465;
``starttls``: upgrade on port 587; ``none``: plain, for a relay on this machine), log in
when a username is configured, send one ``EmailMessage`` (plain text, and an HTML
alternative when the composer made one), quit. The server's certificate and host name are
checked against the system's CAs, or against ``smtp_ca_file`` alone when it is set (a
private CA); verification is never switched off.

A failure says what went wrong in words that are safe to store and show: the SMTP status
and our own description, never the server's free text, the message or the password. A
recipient refused with a 5xx status will never be accepted (permanent); 4xx statuses,
timeouts, refused connections and TLS failures are retried.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from sparekey.core.delivery import DeliveryFailed, Message

Security = Literal["none", "starttls", "tls"]
DEFAULT_PORTS: dict[Security, int] = {"none": 25, "starttls": 587, "tls": 465}
TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    mail_from: str  # "sparekey <no-reply@example.com>" or a bare address
    security: Security = "starttls"
    port: int | None = None  # None: the usual port of ``security``
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    ca_file: Path | None = None
    timeout: float = TIMEOUT_SECONDS

    @property
    def address(self) -> str:
        """The bare sender address, for the envelope (MAIL FROM)."""
        return parseaddr(self.mail_from)[1]


def build_email(message: Message, *, mail_from: str, now: datetime) -> EmailMessage:
    """The e-mail for ``message``: From, To, Subject, Date, Message-ID (in the sender's
    domain, so it never reveals this host's name), text and, when given, HTML."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2]
    mail = EmailMessage()
    mail["From"] = mail_from
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = make_msgid(domain=domain)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a code
    mail.set_content(message.text)
    if message.html:
        mail.add_alternative(message.html, subtype="html")
    mail["Content-Language"] = message.language  # after the content, which resets Content-*
    return mail


class SmtpSender:
    name = "smtp"

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self.port = config.port or DEFAULT_PORTS[config.security]
        self._tls = None
        if config.security != "none":
            cafile = str(config.ca_file) if config.ca_file else None
            self._tls = ssl.create_default_context(cafile=cafile)

    def send(self, message: Message) -> None:
        try:
            mail = build_email(message, mail_from=self.config.mail_from, now=datetime.now(UTC))
        except (ValueError, TypeError) as error:  # a header the e-mail format cannot carry
            raise DeliveryFailed(
                f"the e-mail could not be made ({type(error).__name__})", permanent=True
            ) from None
        try:
            connection = self._connect()
            try:
                self._deliver(connection, mail, message.to)
            finally:
                _close(connection)
        except (smtplib.SMTPException, OSError) as error:
            raise _failure(error) from None

    def _connect(self) -> smtplib.SMTP:
        host, timeout = self.config.host, self.config.timeout
        if self.config.security == "tls":
            return smtplib.SMTP_SSL(host, self.port, timeout=timeout, context=self._tls)
        connection = smtplib.SMTP(host, self.port, timeout=timeout)
        if self.config.security == "starttls":
            try:
                connection.starttls(context=self._tls)  # raises unless the server offers STARTTLS
            except BaseException:
                connection.close()
                raise
        return connection

    def _deliver(self, connection: smtplib.SMTP, mail: EmailMessage, to: str) -> None:
        if self.config.username is not None:
            password = self.config.password.get_secret_value() if self.config.password else ""
            connection.login(self.config.username, password)
        refused = connection.send_message(mail, from_addr=self.config.address, to_addrs=[to])
        if refused:  # only when some of several recipients were refused: never with one
            raise smtplib.SMTPRecipientsRefused(refused)


def _close(connection: smtplib.SMTP) -> None:
    """Say goodbye, or just hang up: a message already accepted stays sent either way."""
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()


def _failure(error: Exception) -> DeliveryFailed:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _text in error.recipients.values()})
        shown = ", ".join(str(code) for code in codes)
        if codes and all(code >= 500 for code in codes):
            return DeliveryFailed(f"the mail server refused the recipient ({shown})", permanent=True)
        return DeliveryFailed(f"the mail server deferred the recipient ({shown})")
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return DeliveryFailed(f"the mail server refused the login ({error.smtp_code})")
    if isinstance(error, smtplib.SMTPSenderRefused):
        return DeliveryFailed(f"the mail server refused the sender address ({error.smtp_code})")
    if isinstance(error, smtplib.SMTPDataError):
        permanent = error.smtp_code >= 500
        return DeliveryFailed(f"the mail server refused the message ({error.smtp_code})", permanent=permanent)
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return DeliveryFailed("the mail server does not offer STARTTLS or login, which the settings ask for")
    if isinstance(error, smtplib.SMTPResponseException):
        return DeliveryFailed(f"the mail server answered {error.smtp_code}")
    if isinstance(error, smtplib.SMTPServerDisconnected):
        if isinstance(error.__context__, TimeoutError):  # smtplib reports a read timeout so
            return DeliveryFailed("the mail server did not answer in time")
        return DeliveryFailed("the mail server closed the connection")
    if isinstance(error, ssl.SSLCertVerificationError):
        return DeliveryFailed("the mail server's TLS certificate is not trusted")
    if isinstance(error, ssl.SSLError):
        return DeliveryFailed("TLS with the mail server failed")
    if isinstance(error, TimeoutError):
        return DeliveryFailed("the mail server did not answer in time")
    return DeliveryFailed(f"could not reach the mail server ({type(error).__name__})")
