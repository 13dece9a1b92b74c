"""The SMTP sender against a real SMTP server (aiosmtpd): plain, STARTTLS with a login,
TLS from the first byte; what a refusal, a deferral, a bad certificate or a server that is
down become."""

from __future__ import annotations

import logging
import socket
from datetime import timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from sparekey.core.clock import FrozenClock
from sparekey.core.delivery import Channel, Senders
from sparekey.core.deps import Deps
from sparekey.core.flows import delivery
from sparekey.delivery.outbox import OutboxSender
from sparekey.delivery.smtp import SmtpConfig, SmtpSender
from tests.conftest import build_deps
from tests.delivery.conftest import (
    CODE,
    HOST,
    Account,
    StartMailServer,
    TlsFiles,
    free_port,
    queue_code,
    server_context,
    stored,
)

FROM = "sparekey <no-reply@sparekey.example>"
TO = "alice@example.com"


def part(mail: EmailMessage, subtype: str) -> str:
    body = mail.get_body((subtype,))
    assert body is not None, f"no text/{subtype} part"
    return str(body.get_content())


def smtp_deps(url: str, clock: FrozenClock, port: int, **settings: Any) -> Deps:
    values: dict[str, Any] = {
        "mail_sender": "smtp",
        "smtp_host": HOST,
        "smtp_port": port,
        "smtp_security": "none",
        "mail_from": FROM,
    }
    return build_deps(url, clock, **{**values, **settings})


def test_a_mail_has_its_headers_a_text_and_an_html_part(
    sqlite_database: str, clock: FrozenClock, start_mail_server: StartMailServer
) -> None:
    server = start_mail_server()
    deps = smtp_deps(sqlite_database, clock, server.port)
    message_id = queue_code(deps, channel=Channel.EMAIL, to=TO)

    assert delivery.deliver(deps) == 1

    [envelope] = server.handler.received
    assert envelope.mail_from == "no-reply@sparekey.example"
    assert envelope.rcpt_tos == [TO]
    [mail] = server.handler.mails()
    assert mail["From"] == FROM
    assert mail["To"] == TO
    assert mail["Subject"] == "sparekey: your sign-in code"
    assert parsedate_to_datetime(mail["Date"]).tzinfo is not None
    assert mail["Message-ID"].startswith("<") and mail["Message-ID"].endswith("@sparekey.example>")
    assert mail["Content-Language"] == "en"
    text, html = part(mail, "plain"), part(mail, "html")
    assert CODE in text and "10 minutes" in text
    assert CODE in html and '<html lang="en">' in html
    row = stored(deps, message_id)
    assert (row.state, row.sender, row.attempts, row.last_error) == ("sent", "smtp", 1, None)
    assert row.body_enc is None  # delivered: the code is no longer kept


def test_a_japanese_mail_is_japanese_in_every_part(
    sqlite_database: str, clock: FrozenClock, start_mail_server: StartMailServer
) -> None:
    server = start_mail_server()
    deps = smtp_deps(sqlite_database, clock, server.port)
    queue_code(deps, channel=Channel.EMAIL, to=TO, language="ja")

    assert delivery.deliver(deps) == 1

    [mail] = server.handler.mails()
    assert mail["Subject"] == "sparekey: サインイン用のコード"
    assert mail["Content-Language"] == "ja"
    text, html = part(mail, "plain"), part(mail, "html")
    assert CODE in text and "10分" in text and "誰にも教えないでください" in text
    assert '<html lang="ja">' in html and "誰にも教えないでください" in html


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_starttls_and_a_login(
    sqlite_database: str,
    clock: FrozenClock,
    start_mail_server: StartMailServer,
    tls_files: TlsFiles,
    mechanism: str,
) -> None:
    account = Account("sparekey", "app password 42")
    server = start_mail_server(
        tls_context=server_context(tls_files),
        require_starttls=True,  # nothing is accepted before STARTTLS
        authenticator=account,
        auth_required=True,
        auth_exclude_mechanism=[m for m in ("LOGIN", "PLAIN") if m != mechanism],
    )
    deps = smtp_deps(
        sqlite_database,
        clock,
        server.port,
        smtp_security="starttls",
        smtp_username="sparekey",
        smtp_password="app password 42",
        smtp_ca_file=tls_files.certificate,
    )
    message_id = queue_code(deps, channel=Channel.EMAIL, to=TO)

    assert delivery.deliver(deps) == 1

    assert account.logged_in_with == [mechanism]
    assert len(server.handler.received) == 1
    assert stored(deps, message_id).state == "sent"


def test_tls_from_the_first_byte(
    sqlite_database: str, clock: FrozenClock, start_mail_server: StartMailServer, tls_files: TlsFiles
) -> None:
    server = start_mail_server(ssl_context=server_context(tls_files))
    deps = smtp_deps(
        sqlite_database, clock, server.port, smtp_security="tls", smtp_ca_file=tls_files.certificate
    )
    queue_code(deps, channel=Channel.EMAIL, to=TO)

    assert delivery.deliver(deps) == 1
    assert len(server.handler.received) == 1


def test_a_certificate_nobody_vouches_for_is_not_trusted(
    sqlite_database: str, clock: FrozenClock, start_mail_server: StartMailServer, tls_files: TlsFiles
) -> None:
    server = start_mail_server(tls_context=server_context(tls_files), require_starttls=True)
    deps = smtp_deps(sqlite_database, clock, server.port, smtp_security="starttls")  # system CAs only
    message_id = queue_code(deps, channel=Channel.EMAIL, to=TO)

    assert delivery.deliver(deps) == 0

    assert server.handler.received == []
    row = stored(deps, message_id)
    assert (row.state, row.attempts) == ("queued", 1)
    assert row.last_error == "the mail server's TLS certificate is not trusted"


def test_a_refused_login_is_retried_and_the_password_is_never_shown(
    sqlite_database: str,
    clock: FrozenClock,
    start_mail_server: StartMailServer,
    tls_files: TlsFiles,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = start_mail_server(
        tls_context=server_context(tls_files),
        authenticator=Account("sparekey", "the right one"),
        auth_required=True,
    )
    deps = smtp_deps(
        sqlite_database,
        clock,
        server.port,
        smtp_security="starttls",
        smtp_username="sparekey",
        smtp_password="a wrong password",
        smtp_ca_file=tls_files.certificate,
    )
    message_id = queue_code(deps, channel=Channel.EMAIL, to=TO)
    caplog.set_level(logging.DEBUG, logger="sparekey")

    assert delivery.deliver(deps) == 0

    row = stored(deps, message_id)
    assert (row.state, row.attempts) == ("queued", 1)
    assert row.last_error == "the mail server refused the login (535)"
    assert "a wrong password" not in caplog.text and CODE not in caplog.text


def test_a_refused_recipient_is_given_up_at_once(
    sqlite_database: str, clock: FrozenClock, start_mail_server: StartMailServer
) -> None:
    server = start_mail_server()
    server.handler.refuse_recipient_with = "550 5.1.1 No such mailbox here"
    deps = smtp_deps(sqlite_database, clock, server.port)
    message_id = queue_code(deps, channel=Channel.EMAIL, to=TO)

    assert delivery.deliver(deps) == 0

    row = stored(deps, message_id)
    assert (row.state, row.attempts) == ("failed", 1)
    assert row.last_error == "the mail server refused the recipient (550)"
    assert row.body_enc is None
    clock.advance(hours=2)
    server.handler.refuse_recipient_with = None
    assert delivery.deliver(deps) == 0  # permanent: never tried again
    assert server.handler.received == []


def test_a_deferred_recipient_is_tried_again_after_the_back_off(
    sqlite_database: str, clock: FrozenClock, start_mail_server: StartMailServer
) -> None:
    server = start_mail_server()
    server.handler.refuse_recipient_with = "450 4.2.1 Mailbox busy, try later"
    deps = smtp_deps(sqlite_database, clock, server.port)
    message_id = queue_code(deps, channel=Channel.EMAIL, to=TO)

    assert delivery.deliver(deps) == 0
    row = stored(deps, message_id)
    assert (row.state, row.attempts) == ("queued", 1)
    assert row.last_error == "the mail server deferred the recipient (450)"

    server.handler.refuse_recipient_with = None
    clock.advance(seconds=30)
    assert delivery.deliver(deps) == 1
    assert len(server.handler.received) == 1


def test_a_server_that_is_down_is_retried_until_it_is_back(
    sqlite_database: str, clock: FrozenClock, start_mail_server: StartMailServer
) -> None:
    port = free_port()
    deps = smtp_deps(sqlite_database, clock, port)
    message_id = queue_code(deps, channel=Channel.EMAIL, to=TO)

    assert delivery.deliver(deps) == 0
    row = stored(deps, message_id)
    assert (row.state, row.attempts) == ("queued", 1)
    assert row.last_error == "could not reach the mail server (ConnectionRefusedError)"
    assert row.next_attempt_at == clock.now() + timedelta(seconds=30)

    server = start_mail_server(port=port)
    assert delivery.deliver(deps) == 0  # not due yet
    clock.advance(seconds=30)
    assert delivery.deliver(deps) == 1
    assert len(server.handler.received) == 1
    assert stored(deps, message_id).attempts == 2


def test_a_server_that_never_answers_is_retried(sqlite_database: str, clock: FrozenClock) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never says a word
        silent.bind((HOST, 0))
        silent.listen()
        sender = SmtpSender(
            SmtpConfig(host=HOST, port=silent.getsockname()[1], security="none", mail_from=FROM, timeout=0.5)
        )
        deps = build_deps(sqlite_database, clock, senders=Senders(mail=sender, phone=OutboxSender()))
        message_id = queue_code(deps, channel=Channel.EMAIL, to=TO)

        assert delivery.deliver(deps) == 0

    row = stored(deps, message_id)
    assert (row.state, row.attempts) == ("queued", 1)
    assert row.last_error == "the mail server did not answer in time"
