"""Notifications through a real SMTP server (aiosmtpd, STARTTLS, a login): the message that
arrives, in the account's language, with a plain-text and an HTML part; a muted
informational type does not arrive, a critical one always does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyotp
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from sparekey.core.flows import jobs
from tests.delivery.conftest import HOST, Account, TlsFiles
from tests.delivery.test_round_trips import MAILBOX, PASSWORD, app_client, code_in


def smtp_settings(server: Any, account: Account, tls_files: TlsFiles) -> dict[str, Any]:
    return {
        "mail_sender": "smtp",
        "smtp_host": HOST,
        "smtp_port": server.port,
        "smtp_security": "starttls",
        "smtp_username": account.username,
        "smtp_password": account.password,
        "smtp_ca_file": tls_files.certificate,
        "mail_from": "sparekey@example.org",
    }


def test_notifications_arrive_by_mail_in_the_accounts_language(
    tmp_path: Path, clock: FrozenClock, mail: tuple[Any, Account], tls_files: TlsFiles
) -> None:
    server, account = mail
    with app_client(tmp_path, clock, **smtp_settings(server, account, tls_files)) as http:  # Japanese
        http.post("/api/v1/accounts", json={"username": "taro", "password": PASSWORD})
        token = http.post("/api/v1/login", json={"username": "taro", "password": PASSWORD}).json()[
            "session_token"
        ]
        auth = {"Authorization": f"Bearer {token}"}
        contact = http.post("/api/v1/me/contacts", json={"kind": "email", "address": MAILBOX}, headers=auth)
        text = server.handler.mails()[-1].get_body(preferencelist=("plain",)).get_content()
        http.post(
            f"/api/v1/me/contacts/{contact.json()['id']}/verify", json={"code": code_in(text)}, headers=auth
        )
        muted = http.put("/api/v1/me/notifications", json={"muted": ["factor_added"]}, headers=auth)
        assert muted.status_code == 200, muted.text

        enrolment = http.post("/api/v1/me/totp", json={"name": "phone"}, headers=auth).json()
        http.post(
            f"/api/v1/me/totp/{enrolment['authenticator_id']}/confirm",
            json={"code": pyotp.TOTP(enrolment["secret"]).at(clock.now())},
            headers=auth,
        )
        run_jobs(http)
        subjects = [m["Subject"] for m in server.handler.mails()]
        assert "sparekey: 新しいバックアップコードが作られました" in subjects  # critical
        assert "sparekey: サインイン方法が追加されました" not in subjects  # muted

        notice = next(m for m in server.handler.mails() if "バックアップコード" in m["Subject"])
        assert notice["To"] == MAILBOX
        plain = notice.get_body(preferencelist=("plain",)).get_content()
        html = notice.get_body(preferencelist=("html",)).get_content()
        assert "アカウント taro のバックアップコードの新しいシート（セット #1）" in plain
        assert "日時:" in plain and "UTC" in plain and "/security/secure" in plain
        assert "<p" in html and "taro" in html
        assert not re.search(r"\b\d{6}\b", plain) and "K7QX2" not in plain  # never a code


def run_jobs(http: TestClient) -> None:
    jobs.run(http.app.state.deps)  # type: ignore[attr-defined]
