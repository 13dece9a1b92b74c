"""The composer: every text in Japanese too, SMS in one segment, voice digit by digit twice,
HTML that escapes what it is given."""

from __future__ import annotations

import re

import pytest

from sparekey.core.delivery import Channel, Message, MessageKind
from sparekey.core.notifications import NotificationType
from sparekey.delivery import composer
from sparekey.delivery.composer import TemplateComposer
from sparekey.i18n import catalogue

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
# The GSM 03.38 basic character set: an SMS of these is 7-bit, 160 characters a segment.
GSM_7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
KINDS = list(composer.WORDINGS)  # the messages that carry a code


def compose(kind: MessageKind, channel: Channel, language: str, issuer: str = "sparekey") -> Message:
    return TemplateComposer(issuer=issuer).compose(
        kind, channel=channel, to="someone", language=language, code="123456", minutes=10
    )


def test_every_kind_has_its_words() -> None:
    no_code = {MessageKind.NOTICE, MessageKind.REMINDER, MessageKind.RECOVERY_CONTACT_ASK}
    assert set(composer.WORDINGS) | no_code == set(MessageKind)
    assert set(composer.NOTICES) == {t.value for t in NotificationType}


@pytest.mark.parametrize("language", ["en", "ja"])
@pytest.mark.parametrize("notice", [t.value for t in NotificationType])
def test_a_notice_says_what_when_where_and_what_to_do_and_never_a_code(language: str, notice: str) -> None:
    message = TemplateComposer(issuer="sparekey").compose(
        MessageKind.NOTICE,
        channel=Channel.EMAIL,
        to="someone",
        language=language,
        notice=notice,
        critical=False,
        username="<b>alice</b>",
        when="WHEN",
        device="Firefox on Linux",
        ip="203.0.113.9",
        seconds=60,
        position=3,
        set_number=2,
        remaining=7,
        factor="totp",
        name="Pixel",
        contact="bob",
        organisation="Acme",
        reason="lost phone",
        secure_url="https://id.example.com/security/secure",
        security_url="https://id.example.com/security",
    )
    assert "WHEN" in message.text and "203.0.113.9" in message.text and "Firefox on Linux" in message.text
    assert "https://id.example.com/security/secure" in message.text
    assert message.html is not None and "&lt;b&gt;alice&lt;/b&gt;" in message.html  # escaped
    assert "<b>alice</b>" not in message.html
    if language == "ja":
        assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", message.subject + message.text)


def test_a_critical_notice_by_sms_is_short_and_points_to_securing_the_account() -> None:
    message = TemplateComposer(issuer="sparekey").compose(
        MessageKind.NOTICE,
        channel=Channel.SMS,
        to="+819012345678",
        language="ja",
        notice="password_changed",
        critical=True,
        username="alice",
        secure_url="https://id.example.com/security/secure",
        security_url="https://id.example.com/security",
    )
    assert message.text.startswith("sparekey: パスワードが変更されました")
    assert message.text.endswith("https://id.example.com/security/secure") and len(message.text) <= 140


def test_every_text_has_japanese_with_the_same_placeholders() -> None:
    japanese = catalogue("ja")
    assert sorted(text for text in composer.texts() if not japanese.get(text)) == []
    for text in composer.texts():
        assert sorted(PLACEHOLDER.findall(japanese[text])) == sorted(PLACEHOLDER.findall(text)), text
        assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", japanese[text]), text


@pytest.mark.parametrize("kind", KINDS)
def test_an_sms_fits_in_one_segment(kind: MessageKind) -> None:
    english = compose(kind, Channel.SMS, "en").text
    assert set(english) <= GSM_7 and len(english) <= 160, english
    japanese = compose(kind, Channel.SMS, "ja").text  # UCS-2: 70 characters a segment
    assert len(japanese.encode("utf-16-le")) // 2 <= 70, japanese
    for text in (english, japanese):
        assert "123456" in text and "10" in text


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("language", "digits"), [("en", "1, 2, 3, 4, 5, 6"), ("ja", "1、2、3、4、5、6")])
def test_a_call_says_the_code_digit_by_digit_twice(kind: MessageKind, language: str, digits: str) -> None:
    message = compose(kind, Channel.VOICE, language)
    assert message.speech is not None
    lines = message.speech.splitlines()
    assert lines.count(digits) == 2 and len(lines) == 4
    assert "123456" not in message.speech
    assert message.text == compose(kind, Channel.SMS, language).text  # what the outbox shows


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("language", ["en", "ja"])
def test_an_email_has_a_text_and_an_html_part_in_its_language(kind: MessageKind, language: str) -> None:
    message = compose(kind, Channel.EMAIL, language)
    assert message.html is not None and message.speech is None
    assert "123456" in message.text and "123456" in message.html
    assert f'<html lang="{language}">' in message.html
    assert f"<title>{message.subject}</title>" in message.html
    if language == "ja":
        assert re.search(r"[\u3040-\u30ff]", message.subject + message.text)


def test_the_html_escapes_what_it_is_given() -> None:
    message = compose(
        MessageKind.SIGN_IN_CODE, Channel.EMAIL, "en", issuer='Acme <script>alert("x")</script>'
    )
    assert message.html is not None
    assert "<script>" not in message.html
    assert "Acme &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in message.html
    assert 'Acme <script>alert("x")</script>' in message.text  # plain text stays as it is
