"""The e-mail that asks a recovery contact: who is recovering and where to answer, in the
contact's language, with a text and an HTML part that escapes what it is given; never a
code and never a link that acts."""

from __future__ import annotations

import re

import pytest

from sparekey.core.delivery import Channel, MessageKind
from sparekey.delivery.composer import TemplateComposer

PAGE_URL = "https://id.example.com/security/recovery-contacts"


@pytest.mark.parametrize(
    ("language", "subject", "says"),
    [
        ("en", "sparekey: <b>alice</b> is trying to recover their account", "by a way you trust"),
        ("ja", "sparekey: <b>alice</b> さんがアカウントの復旧を試みています", "信頼できる方法"),
    ],
)
def test_the_ask_says_who_and_where_to_answer(language: str, subject: str, says: str) -> None:
    message = TemplateComposer(issuer="sparekey").compose(
        MessageKind.RECOVERY_CONTACT_ASK,
        channel=Channel.EMAIL,
        to="bob@example.org",
        language=language,
        username="<b>alice</b>",
        page_url=PAGE_URL,
    )
    assert message.subject == subject and message.language == language
    assert says in message.text and "<b>alice</b>" in message.text
    assert re.findall(r"https?://[^\s<]+", message.text) == [PAGE_URL]
    assert not re.search(r"\b\d{6}\b", message.text)
    assert message.html is not None and "&lt;b&gt;alice&lt;/b&gt;" in message.html
    assert "<b>alice</b>" not in message.html and f'<html lang="{language}">' in message.html
