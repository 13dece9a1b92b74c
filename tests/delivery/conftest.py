"""Real counterparts for the senders: an SMTP server (aiosmtpd), a local HTTP server that
plays a provider, a throwaway certificate authority; and helpers to queue a code and read
back what became of it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from sparekey.core.delivery import Channel, MessageKind
from sparekey.core.deps import Deps
from sparekey.core.flows import delivery
from sparekey.core.models import QueuedMessage
from sparekey.store import tables

HOST = "127.0.0.1"
CODE = "123456"


def free_port() -> int:
    """A port nobody listens on right now (the kernel's choice for a socket bound to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def queue_code(deps: Deps, *, channel: Channel, to: str, language: str = "en") -> str:
    """A sign-in code queued as a flow queues it: inside a transaction, sent after. Returns the
    message's id (also when the outbox kept it at once, and ``queue`` had nothing to hand on)."""
    with deps.store.transaction() as tx:
        message_id = delivery.queue(
            tx,
            deps,
            MessageKind.SIGN_IN_CODE,
            channel=channel,
            to=to,
            language=language,
            account_id=None,
            code=CODE,
            minutes=10,
        )
        return message_id or tx.messages.kept_by_outbox(limit=1)[0].id


def stored(deps: Deps, message_id: str) -> QueuedMessage:
    """The message's row as the database holds it."""
    engine = deps.store.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        row = conn.execute(select(tables.messages).where(tables.messages.c.id == message_id)).one()
    return QueuedMessage(**dict(row._mapping))


# A throwaway certificate authority ---------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    certificate: Path  # self-signed for 127.0.0.1 and localhost: also the CA file to trust
    key: Path


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    directory = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sparekey test mail server")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(certificate=directory / "cert.pem", key=directory / "key.pem")
    files.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


def server_context(files: TlsFiles) -> Any:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.certificate, files.key)
    return context


# A real SMTP server -------------------------------------------------------------------------


@dataclass
class MailHandler:
    """What the SMTP server does with a message: keeps it, or refuses its recipient."""

    received: list[Envelope] = field(default_factory=list)
    refuse_recipient_with: str | None = None  # e.g. "550 5.1.1 no such mailbox"

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SmtpServer, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse_recipient_with:
            return self.refuse_recipient_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SmtpServer, session: Session, envelope: Envelope
    ) -> str:
        self.received.append(envelope)
        return "250 Message accepted for delivery"

    def mails(self) -> list[EmailMessage]:
        return [message_from_bytes(e.original_content or b"", policy=policy.default) for e in self.received]


@dataclass
class Account:
    """The one login the SMTP server accepts (aiosmtpd's ``authenticator``)."""

    username: str
    password: str
    logged_in_with: list[str] = field(default_factory=list)  # the mechanisms that succeeded

    def __call__(
        self, server: SmtpServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == self.username.encode()
            and data.password == self.password.encode()
        )
        if ok:
            self.logged_in_with.append(mechanism)
        return AuthResult(success=ok, handled=False)


@dataclass
class MailServer:
    handler: MailHandler
    port: int
    controller: Controller
    stopped: bool = False

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.controller.stop()


StartMailServer = Callable[..., MailServer]


@pytest.fixture
def start_mail_server() -> Iterator[StartMailServer]:
    """Starts aiosmtpd on 127.0.0.1; keyword arguments go to its SMTP class (tls_context,
    require_starttls, authenticator, auth_required ...) or to the Controller (ssl_context)."""
    running: list[MailServer] = []

    def start(*, port: int | None = None, ssl_context: Any = None, **smtp: Any) -> MailServer:
        handler = MailHandler()
        port = port or free_port()
        controller = Controller(handler, hostname=HOST, port=port, ssl_context=ssl_context, **smtp)
        controller.start()
        server = MailServer(handler=handler, port=port, controller=controller)
        running.append(server)
        return server

    yield start
    for server in running:
        server.stop()


# A local HTTP server that plays a provider --------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, value: Any) -> Answer:
        return cls(status, json.dumps(value).encode(), {"Content-Type": "application/json"})


Respond = Callable[[Request], Answer]


class Provider:
    """An HTTP server on 127.0.0.1 and a free port, in a thread: it records every request and
    answers with ``respond`` (which tests may replace between calls)."""

    def __init__(self, respond: Respond, port: int = 0) -> None:
        self.respond = respond
        self.requests: list[Request] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
                length = int(self.headers.get("Content-Length") or 0)
                request = Request("POST", self.path, dict(self.headers.items()), self.rfile.read(length))
                provider.requests.append(request)
                answer = provider.respond(request)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # quiet

        self.server = ThreadingHTTPServer((HOST, port), Handler)
        self.port = int(self.server.server_address[1])
        self.url = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


StartProvider = Callable[..., Provider]


@pytest.fixture
def start_provider() -> Iterator[StartProvider]:
    running: list[Provider] = []

    def start(respond: Respond, port: int = 0) -> Provider:
        provider = Provider(respond, port)
        running.append(provider)
        return provider

    yield start
    for provider in running:
        if provider._thread.is_alive():
            provider.stop()


@pytest.fixture
def mail(start_mail_server: StartMailServer, tls_files: TlsFiles) -> Iterator[tuple[Any, Account]]:
    """A mail server that wants STARTTLS and a login, and that login."""
    account = Account("sparekey", "app password 42")
    server = start_mail_server(
        tls_context=server_context(tls_files),
        require_starttls=True,
        authenticator=account,
        auth_required=True,
    )
    yield server, account
