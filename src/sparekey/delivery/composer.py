"""Messages in Japanese and English, from the same catalogue as the pages.

Every message says what the code is for, the code, how long it works, and what to do when
the person did not ask for it, in the words each channel needs:

- an **e-mail** has a subject, a plain-text part and an HTML part (a Jinja2 template with
  autoescaping, so nothing in a value can become markup);
- an **SMS** fits in one segment where possible (160 GSM characters in English, 70 in
  Japanese), so it arrives whole and costs one message, with the code first;
- a **call** reads the code digit by digit, twice, one sentence per line (the Twilio sender
  pauses between lines); its ``text`` is the SMS wording, for the outbox.

The English texts are the catalogue ids (``sparekey/locale/ja/LC_MESSAGES/messages.po``);
``texts()`` lists every one of them for the translation test.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from sparekey.core.delivery import Channel, Message, MessageKind
from sparekey.i18n import translate


@dataclass(frozen=True)
class Wording:
    """The English texts of one kind of message, one for each place it appears."""

    subject: str  # e-mail subject
    lead: str  # e-mail: what the code below is for
    caution: str  # e-mail: what to do when the person did not ask for it
    sms: str  # the whole SMS (one segment), also the text of a call
    speech: str  # a call: said before the digits


WORDINGS: dict[MessageKind, Wording] = {
    MessageKind.CONTACT_CODE: Wording(
        subject="%(issuer)s: your verification code",
        lead="Enter this code to confirm that this e-mail address is yours:",
        caution="If you did not ask for this code, ignore this message: nothing changes without it.",
        sms="%(code)s is your %(issuer)s code to confirm this number. It works for %(minutes)s minutes.",
        speech="This is %(issuer)s. Your code to confirm this phone number is:",
    ),
    MessageKind.SIGN_IN_CODE: Wording(
        subject="%(issuer)s: your sign-in code",
        lead="Enter this code to finish signing in to %(issuer)s:",
        caution="Never tell this code to anyone, not even someone who says they are from %(issuer)s. "
        "If you are not signing in right now, someone knows your password: change it.",
        sms="%(code)s is your %(issuer)s sign-in code. It works for %(minutes)s minutes. Never share it.",
        speech="This is %(issuer)s. Your sign-in code is:",
    ),
}
VALIDITY = "The code works for %(minutes)s minutes, and only once."
FOOTER = "This message was sent automatically by %(issuer)s."
ONCE_MORE = "Once more, the code is:"
DIGIT_SEPARATOR = {"en": ", ", "ja": "、"}

TEMPLATES = Path(__file__).with_name("templates")
_jinja = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined)


def texts() -> set[str]:
    """Every English text a message can contain: each needs a Japanese translation."""
    found = {VALIDITY, FOOTER, ONCE_MORE}
    for wording in WORDINGS.values():
        found.update(astuple(wording))
    return found


def spoken_digits(code: str, language: str) -> str:
    """``123456`` as a voice should read it: one digit at a time, with a pause between."""
    return DIGIT_SEPARATOR.get(language, DIGIT_SEPARATOR["en"]).join(code)


class TemplateComposer:
    def __init__(self, *, issuer: str) -> None:
        self.issuer = issuer

    def compose(
        self, kind: MessageKind, *, channel: Channel, to: str, language: str, **params: Any
    ) -> Message:
        wording = WORDINGS[kind]
        values = {"issuer": self.issuer, **params}

        def say(text: str) -> str:
            return translate(language, text, **values)

        subject = say(wording.subject)
        if channel is Channel.EMAIL:
            parts = {
                "lead": say(wording.lead),
                "code": str(params["code"]),
                "validity": say(VALIDITY),
                "caution": say(wording.caution),
                "footer": say(FOOTER),
            }
            text = "{lead}\n\n    {code}\n\n{validity}\n{caution}\n\n-- \n{footer}\n".format(**parts)
            html = _jinja.get_template("code_email.html").render(language=language, subject=subject, **parts)
            return Message(channel, to, language, subject, text, html=html)
        text = say(wording.sms)
        speech = None
        if channel is Channel.VOICE:
            digits = spoken_digits(str(params["code"]), language)
            speech = "\n".join((say(wording.speech), digits, say(ONCE_MORE), digits))
        return Message(channel, to, language, subject, text, speech=speech)
