"""Messages in Japanese and English, from the same catalogue as the pages.

Every text states what it is for, the code, how long it works, and what to do when the
person did not ask for it. A voice call reads the code digit by digit, twice.
"""

from __future__ import annotations

from html import escape
from typing import Any

from sparekey.core.delivery import Channel, Message, MessageKind
from sparekey.i18n import translate

SUBJECTS: dict[MessageKind, str] = {
    MessageKind.CONTACT_CODE: "%(issuer)s: your verification code",
    MessageKind.SIGN_IN_CODE: "%(issuer)s: your sign-in code",
}
TEXTS: dict[MessageKind, str] = {
    MessageKind.CONTACT_CODE: "%(issuer)s: %(code)s is your code to confirm this contact point. "
    "It works for %(minutes)s minutes. If you did not ask for it, ignore this message.",
    MessageKind.SIGN_IN_CODE: "%(issuer)s: %(code)s is your sign-in code. It works for %(minutes)s minutes. "
    "Never tell it to anyone. If you are not signing in, someone knows your password: change it.",
}
SPEECH: dict[MessageKind, str] = {
    MessageKind.CONTACT_CODE: "This is %(issuer)s. Your code to confirm this number is: %(digits)s. "
    "Once more: %(digits)s.",
    MessageKind.SIGN_IN_CODE: "This is %(issuer)s. Your sign-in code is: %(digits)s. Once more: %(digits)s.",
}
DIGIT_SEPARATOR = {"en": ", ", "ja": "、"}


class TemplateComposer:
    def __init__(self, *, issuer: str) -> None:
        self.issuer = issuer

    def compose(
        self, kind: MessageKind, *, channel: Channel, to: str, language: str, **params: Any
    ) -> Message:
        values = {"issuer": self.issuer, **params}
        text = translate(language, TEXTS[kind], **values)
        speech = None
        if channel is Channel.VOICE:
            digits = DIGIT_SEPARATOR.get(language, ", ").join(str(params.get("code", "")))
            speech = translate(language, SPEECH[kind], **{**values, "digits": digits})
        html = None
        if channel is Channel.EMAIL:
            html = f'<!doctype html><html lang="{escape(language)}"><body><p>{escape(text)}</p></body></html>'
        return Message(
            channel=channel,
            to=to,
            language=language,
            subject=translate(language, SUBJECTS[kind], **values),
            text=text,
            html=html,
            speech=speech,
        )
