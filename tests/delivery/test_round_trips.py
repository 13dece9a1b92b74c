"""Whole round trips through the application: a code leaves by a real sender, arrives where a
person reads it (a real SMTP server over STARTTLS with a login; a local server that speaks
Twilio's API), and the code read there signs the person in."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from sparekey.web.app import create_app
from tests.conftest import test_settings
from tests.delivery.conftest import HOST, Account, Provider, TlsFiles
from tests.delivery.test_twilio import FROM, SID, TOKEN, FakeTwilio

PASSWORD = "correct horse battery staple"
MAILBOX = "taro@example.com"


def app_client(tmp_path: Path, clock: FrozenClock, **settings: Any) -> TestClient:
    app = create_app(test_settings(tmp_path, **settings), clock=clock, migrate=True)
    return TestClient(app, headers={"Accept-Language": "ja"})


def code_in(text: str) -> str:
    found = re.search(r"\b(\d{6})\b", text)
    assert found, text
    return found.group(1)


def signed_up(http: TestClient) -> dict[str, str]:
    http.post("/api/v1/accounts", json={"username": "taro", "password": PASSWORD})
    token = http.post("/api/v1/login", json={"username": "taro", "password": PASSWORD}).json()[
        "session_token"
    ]
    return {"Authorization": f"Bearer {token}"}


def test_codes_by_mail_over_starttls_with_a_login(
    tmp_path: Path, clock: FrozenClock, mail: tuple[Any, Account], tls_files: TlsFiles
) -> None:
    server, account = mail
    settings = {
        "mail_sender": "smtp",
        "smtp_host": HOST,
        "smtp_port": server.port,
        "smtp_security": "starttls",
        "smtp_username": account.username,
        "smtp_password": account.password,
        "smtp_ca_file": tls_files.certificate,
        "mail_from": "sparekey@example.org",
    }
    with app_client(tmp_path, clock, **settings) as http:
        auth = signed_up(http)
        contact = http.post("/api/v1/me/contacts", json={"kind": "email", "address": MAILBOX}, headers=auth)
        assert contact.status_code == 201, contact.text
        [verification] = server.handler.mails()
        assert verification["To"] == MAILBOX and account.logged_in_with
        text = verification.get_body(preferencelist=("plain",)).get_content()
        assert "確認" in verification["Subject"] or "コード" in verification["Subject"]
        verified = http.post(
            f"/api/v1/me/contacts/{contact.json()['id']}/verify", json={"code": code_in(text)}, headers=auth
        )
        assert verified.status_code == 200 and verified.json()["contact"]["verified"], verified.text

        # An e-mail address never turns 2FA on: an authenticator app does, then mail is a way in.
        enrolment = http.post("/api/v1/me/totp", json={"name": "phone"}, headers=auth).json()
        confirmed = http.post(
            f"/api/v1/me/totp/{enrolment['authenticator_id']}/confirm",
            json={"code": pyotp.TOTP(enrolment["secret"]).at(clock.now())},
            headers=auth,
        )
        assert confirmed.status_code == 200
        clock.advance(61)
        started = http.post("/api/v1/login", json={"username": "taro", "password": PASSWORD}).json()
        email = next(m for m in started["methods"] if m["type"] == "email")
        assert email["destinations"][0]["masked"] == "t***@example.com"
        sent = http.post(f"/api/v1/login/{started['flow_id']}/send", json={"method": "email"})
        assert sent.status_code == 202 and sent.json()["sent_to"] == "t***@example.com"
        sign_in_mail = server.handler.mails()[-1]
        code = code_in(sign_in_mail.get_body(preferencelist=("plain",)).get_content())
        done = http.post(f"/api/v1/login/{started['flow_id']}/code", json={"code": code})
        assert done.status_code == 200 and done.json()["method_used"] == "email", done.text


@pytest.fixture
def twilio(start_provider: Any) -> tuple[FakeTwilio, Provider]:
    fake = FakeTwilio()
    return fake, start_provider(fake)


def twilio_settings(provider: Provider) -> dict[str, Any]:
    return {
        "phone_sender": "twilio",
        "twilio_account_sid": SID,
        "twilio_auth_token": TOKEN,
        "twilio_from": FROM,
        "twilio_api_base": provider.url,
    }


def test_a_phone_by_sms_then_a_sign_in_by_voice_call(
    tmp_path: Path, clock: FrozenClock, twilio: tuple[FakeTwilio, Provider]
) -> None:
    fake, provider = twilio
    with app_client(tmp_path, clock, **twilio_settings(provider)) as http:
        auth = signed_up(http)
        contact = http.post(
            "/api/v1/me/contacts",
            json={"kind": "phone", "address": "090-1234-5678", "region": "JP"},
            headers=auth,
        ).json()
        [sms] = fake.accepted
        assert (sms["resource"], sms["To"], sms["From"]) == ("Messages", "+819012345678", FROM)
        verified = http.post(
            f"/api/v1/me/contacts/{contact['id']}/verify", json={"code": code_in(sms["Body"])}, headers=auth
        )
        assert verified.json()["backup_codes"]["set_number"] == 1  # the first phone turned 2FA on

        clock.advance(61)
        started = http.post("/api/v1/login", json={"username": "taro", "password": PASSWORD}).json()
        assert [m["type"] for m in started["methods"]] == ["sms", "voice", "backup_code"]
        sent = http.post(f"/api/v1/login/{started['flow_id']}/send", json={"method": "voice"})
        assert sent.status_code == 202, sent.text
        call = fake.accepted[-1]
        assert call["resource"] == "Calls" and call["To"] == "+819012345678"
        twiml = ET.fromstring(call["Twiml"])  # noqa: S314 - our own TwiML, as the provider received it
        said = [element.text or "" for element in twiml.iter() if element.text]
        digits = [re.sub(r"\D", "", line) for line in said if re.fullmatch(r"[\d、, ]+", line.strip())]
        assert len(digits) == 2 and digits[0] == digits[1] and len(digits[0]) == 6  # read twice
        done = http.post(f"/api/v1/login/{started['flow_id']}/code", json={"code": digits[0]})
        assert done.status_code == 200 and done.json()["method_used"] == "voice", done.text
