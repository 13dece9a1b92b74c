"""Choosing a sender: what each one needs is checked at start, one line per problem, and no
secret is ever printed; ``build_senders`` builds what was chosen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sparekey.delivery import build_senders
from sparekey.delivery.outbox import OutboxSender
from sparekey.delivery.smtp import SmtpSender
from sparekey.delivery.twilio import TwilioSender
from sparekey.delivery.webhook import WebhookSender
from sparekey.settings import ConfigError, load_settings

SID = "AC" + "0123456789abcdef" * 2


@pytest.fixture(autouse=True)
def no_outside_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what a test gives counts: no SPAREKEY_* variables, no sparekey.toml nearby."""
    for name in list(os.environ):
        if name.startswith("SPAREKEY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def problems(**settings: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(**settings)
    return str(caught.value).splitlines()


def test_the_outbox_is_the_default_for_both() -> None:
    senders = build_senders(load_settings())
    assert isinstance(senders.mail, OutboxSender) and isinstance(senders.phone, OutboxSender)
    assert senders.mail.name == senders.phone.name == "outbox"


def test_smtp_needs_a_host_and_a_from_address() -> None:
    assert problems(mail_sender="smtp") == [
        "SPAREKEY_SMTP_HOST: required when SPAREKEY_MAIL_SENDER is smtp",
        "SPAREKEY_MAIL_FROM: required when SPAREKEY_MAIL_SENDER is smtp",
    ]
    assert problems(mail_sender="smtp", smtp_host="mail.example", mail_from="nobody") == [
        "SPAREKEY_MAIL_FROM: not an e-mail address, e.g. 'sparekey <no-reply@example.com>'"
    ]


def test_a_password_only_travels_over_tls() -> None:
    assert problems(
        mail_sender="smtp",
        smtp_host="mail.example",
        mail_from="no-reply@example.com",
        smtp_security="none",
        smtp_username="sparekey",
        smtp_password="hunter2-secret",
    ) == [
        "SPAREKEY_SMTP_USERNAME: a password is only sent over TLS: set SPAREKEY_SMTP_SECURITY to "
        "starttls or tls (or use a mail server on this machine)"
    ]
    assert problems(smtp_username="sparekey") == [
        "SPAREKEY_SMTP_PASSWORD: required when SPAREKEY_SMTP_USERNAME is set"
    ]


def test_twilio_needs_its_account_token_and_number() -> None:
    assert problems(phone_sender="twilio") == [
        "SPAREKEY_TWILIO_ACCOUNT_SID: required when SPAREKEY_PHONE_SENDER is twilio",
        "SPAREKEY_TWILIO_AUTH_TOKEN: required when SPAREKEY_PHONE_SENDER is twilio",
        "SPAREKEY_TWILIO_FROM: required when SPAREKEY_PHONE_SENDER is twilio",
    ]
    assert problems(
        phone_sender="twilio", twilio_account_sid="AC../../x", twilio_auth_token="t", twilio_from="+1"
    ) == ["SPAREKEY_TWILIO_ACCOUNT_SID: a Twilio account SID is 'AC' followed by 32 hexadecimal digits"]


def test_the_webhook_needs_a_url_and_a_secret() -> None:
    assert problems(phone_sender="webhook") == [
        "SPAREKEY_PHONE_WEBHOOK_URL: required when SPAREKEY_PHONE_SENDER is webhook",
        "SPAREKEY_PHONE_WEBHOOK_SECRET: required when SPAREKEY_PHONE_SENDER is webhook",
    ]
    assert problems(
        phone_sender="webhook", phone_webhook_url="http://sms.example/send", phone_webhook_secret="short"
    ) == [
        "SPAREKEY_PHONE_WEBHOOK_URL: must be https:// (plain http:// only to this machine): it carries codes",
        "SPAREKEY_PHONE_WEBHOOK_SECRET: must be at least 16 characters",
    ]
    assert problems(phone_webhook_url="file:///etc/passwd") == [
        "SPAREKEY_PHONE_WEBHOOK_URL: must be an https:// URL"
    ]


def test_a_ca_file_must_exist_and_hold_certificates(tmp_path: Path) -> None:
    assert problems(smtp_ca_file=tmp_path / "missing.pem") == [
        f"SPAREKEY_SMTP_CA_FILE: no such file: {tmp_path / 'missing.pem'}"
    ]
    (tmp_path / "empty.pem").write_text("")
    assert problems(smtp_ca_file=tmp_path / "empty.pem") == [
        f"SPAREKEY_SMTP_CA_FILE: not a PEM file of CA certificates: {tmp_path / 'empty.pem'}"
    ]


def test_each_sender_is_built_as_configured() -> None:
    for security, port in (("none", 25), ("starttls", 587), ("tls", 465)):
        settings = load_settings(
            mail_sender="smtp", smtp_host="mail.example", mail_from="a@example.com", smtp_security=security
        )
        mail = build_senders(settings).mail
        assert isinstance(mail, SmtpSender) and mail.name == "smtp" and mail.port == port
    settings = load_settings(
        mail_sender="smtp", smtp_host="mail.example", mail_from="a@b.example", smtp_port=2525
    )
    assert build_senders(settings).mail.port == 2525  # type: ignore[attr-defined]

    twilio = build_senders(
        load_settings(phone_sender="twilio", twilio_account_sid=SID, twilio_auth_token="t", twilio_from="+1")
    ).phone
    assert isinstance(twilio, TwilioSender) and twilio.name == "twilio"
    assert twilio.account_url == f"https://api.twilio.com/2010-04-01/Accounts/{SID}"

    webhook = build_senders(
        load_settings(
            phone_sender="webhook",
            phone_webhook_url="https://sms.example/send",
            phone_webhook_secret="0123456789abcdef",
        )
    ).phone
    assert isinstance(webhook, WebhookSender) and webhook.name == "webhook"


def test_secrets_are_never_printed(tmp_path: Path) -> None:
    secrets = {
        "SPAREKEY_SMTP_PASSWORD": "smtp-secret-1234",
        "SPAREKEY_TWILIO_AUTH_TOKEN": "twilio-secret-5678",
        "SPAREKEY_PHONE_WEBHOOK_SECRET": "webhook-secret-90ab",
    }
    settings = load_settings(
        smtp_username="u",
        smtp_password=secrets["SPAREKEY_SMTP_PASSWORD"],
        twilio_auth_token=secrets["SPAREKEY_TWILIO_AUTH_TOKEN"],
        phone_webhook_secret=secrets["SPAREKEY_PHONE_WEBHOOK_SECRET"],
    )
    shown = repr(settings) + str(settings) + repr(build_senders(settings))
    assert not any(secret in shown for secret in secrets.values())

    # A start that fails on other settings does not print them either.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPAREKEY_")}
    environment.update(
        secrets,
        SPAREKEY_DATA_DIR=str(tmp_path / "data"),
        SPAREKEY_MAIL_SENDER="smtp",
        SPAREKEY_SMTP_SECURITY="none",
        SPAREKEY_SMTP_HOST="mail.example",
        SPAREKEY_SMTP_USERNAME="sparekey",
        SPAREKEY_PHONE_SENDER="twilio",
    )
    result = subprocess.run(
        [sys.executable, "-m", "sparekey", "migrate"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    prefix = "sparekey: configuration error: "
    assert result.stderr.splitlines() == [
        prefix + "SPAREKEY_SMTP_USERNAME: a password is only sent over TLS: set SPAREKEY_SMTP_SECURITY "
        "to starttls or tls (or use a mail server on this machine)",
        prefix + "SPAREKEY_MAIL_FROM: required when SPAREKEY_MAIL_SENDER is smtp",
        prefix + "SPAREKEY_TWILIO_ACCOUNT_SID: required when SPAREKEY_PHONE_SENDER is twilio",
        prefix + "SPAREKEY_TWILIO_FROM: required when SPAREKEY_PHONE_SENDER is twilio",
    ]
    assert not any(secret in result.stderr + result.stdout for secret in secrets.values())
