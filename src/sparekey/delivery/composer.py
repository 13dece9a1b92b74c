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
    MessageKind.RECOVERY: Wording(
        subject="%(issuer)s: someone asked to recover your account",
        lead="Someone asked to recover your %(issuer)s account. "
        "If it was you, enter this code where you asked:",
        caution="If it was not you, never tell anyone this code, and cancel the recovery.",
        sms="%(code)s is your %(issuer)s account recovery code. "
        "It works for %(minutes)s minutes. Never share it.",
        speech="This is %(issuer)s. Your account recovery code is:",
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
# Notifications (core/notifications.py): a subject, and what happened in one sentence.
NOTICES: dict[str, tuple[str, str]] = {
    "new_device_sign_in": (
        "%(issuer)s: a sign-in from a new device",
        "Someone signed in to your account %(username)s from a device it had not seen before.",
    ),
    "backup_code_used": (
        "%(issuer)s: a backup code was used",
        "Backup code #%(position)s of sheet #%(set_number)s was used for your account %(username)s. "
        "%(remaining)s codes are left on that sheet.",
    ),
    "backup_codes_generated": (
        "%(issuer)s: new backup codes were made",
        "A new sheet of backup codes (set #%(set_number)s) was made for your account %(username)s. "
        "The codes of every older sheet no longer work.",
    ),
    "factor_added": (
        "%(issuer)s: a way to sign in was added",
        "A way to sign in was added to your account %(username)s: %(factor)s (%(name)s).",
    ),
    "factor_removed": (
        "%(issuer)s: a way to sign in was removed",
        "A way to sign in was removed from your account %(username)s: %(factor)s (%(name)s).",
    ),
    "two_factor_disabled": (
        "%(issuer)s: two-step verification was turned off",
        "Two-step verification was turned off for your account %(username)s. "
        "Only the password protects it now.",
    ),
    "password_changed": (
        "%(issuer)s: your password was changed",
        "The password of your account %(username)s was changed, and its other sessions were signed out.",
    ),
    "rate_limited": (
        "%(issuer)s: too many wrong attempts",
        "There were too many wrong attempts to sign in to your account %(username)s: "
        "signing in is paused for %(seconds)s seconds.",
    ),
    "recovery_requested": (
        "%(issuer)s: someone asked to recover your account",
        "Someone asked to recover your account %(username)s.",
    ),
    "recovery_approved": (
        "%(issuer)s: support approved a recovery of your account",
        "Our support team approved a request to recover your account %(username)s. Unless it is "
        "cancelled, the person who asked can set up a new way to sign in when the wait ends. "
        "If it was not you, cancel it with the link in the first message, or just sign in.",
    ),
    "recovery_contact_asked": (
        "%(issuer)s: a recovery contact was asked about your account",
        "Your recovery contact %(contact)s was asked to confirm that the person recovering "
        "your account %(username)s is you.",
    ),
    "recovery_contact_answered": (
        "%(issuer)s: a recovery contact answered",
        "Your recovery contact %(contact)s answered whether the person recovering "
        "your account %(username)s is you.",
    ),
    "recovery_completed": (
        "%(issuer)s: your account was recovered",
        "Your account %(username)s was recovered: a new way to sign in and a new sheet of backup codes "
        "replace every old one, and every session and trusted device was signed out.",
    ),
    "two_factor_reset": (
        "%(issuer)s: your two-step verification was reset",
        "An administrator of %(organisation)s reset the two-step verification of your account "
        "%(username)s. Reason given: %(reason)s. Set up a new way to sign in at your next sign-in.",
    ),
}
FACTORS = {
    "totp": "an authenticator app",
    "webauthn": "a security key or passkey",
    "phone": "a phone number",
    "email": "an e-mail address",
}
NOTICE_LINES = (
    "When: %(when)s",
    "Device: %(device)s",
    "Address: %(ip)s",
    "If it was you, there is nothing to do.",
    "If it was not you, secure your account now (sign in first): %(secure_url)s",
    "Choose which of these messages you receive on your security page: %(security_url)s",
    "Not you? Secure your account: %(secure_url)s",
)
REMINDER_LINES = (
    "%(issuer)s: could you still get in if you lost your phone?",
    "Please check these, for your account %(username)s:",
    "Your backup-code sheet #%(set_number)s, made %(set_date)s, is still where you keep it "
    "(%(remaining)s codes left).",
    "These phone numbers are still yours: %(phones)s",
    "Your security page shows what else to check: %(security_url)s",
)
# A recovery request (core/flows/recovery.py) writes to every verified contact point of the
# account: the proof for the one who asked (a code as above; by e-mail, a link instead) and
# the one-click cancel link (``cancel_url``) for the owner who did not ask.
RECOVERY_LINES = (
    "Someone asked to recover your account %(username)s, saying they lost every way to sign in. "
    "Unless it is cancelled, they can set up a new way to sign in after a waiting period.",
    "If it was you, open this link to prove that this e-mail address is yours:",
    "If it was not you, cancel the recovery with one click:",
    "Signing in to your account normally also cancels it.",
    "Not you? Cancel: %(cancel_url)s",
)
# A recovery contact is asked (core/flows/recovery_contacts.py): who is recovering, and where
# to answer after signing in. No link that acts, no code, nothing else of the owner's account.
CONTACT_ASK_LINES = (
    "%(issuer)s: %(username)s is trying to recover their account",
    "%(username)s named you as a recovery contact, and someone is now trying to recover their "
    "account, saying they lost every way to sign in.",
    "If %(username)s asked you themselves, by a way you trust (in person, a call on a number you "
    "know), sign in and answer on your security page: %(page_url)s",
    "If they did not ask you, or you are not sure, answer that you do not know. "
    "Never confirm because of a message or a call you did not expect.",
)
VALIDITY = "The code works for %(minutes)s minutes, and only once."
FOOTER = "This message was sent automatically by %(issuer)s."
ONCE_MORE = "Once more, the code is:"
DIGIT_SEPARATOR = {"en": ", ", "ja": "、"}

TEMPLATES = Path(__file__).with_name("templates")
_jinja = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined)


def texts() -> set[str]:
    """Every English text a message can contain: each needs a Japanese translation."""
    found = {VALIDITY, FOOTER, ONCE_MORE, *NOTICE_LINES, *REMINDER_LINES, *RECOVERY_LINES, *FACTORS.values()}
    found.update(CONTACT_ASK_LINES)
    for wording in WORDINGS.values():
        found.update(astuple(wording))
    for subject, what in NOTICES.values():
        found.update((subject, what))
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
        values = {"issuer": self.issuer, **params}

        def say(text: str) -> str:
            return translate(language, text, **values)

        if kind is MessageKind.NOTICE:
            return self._notice(channel, to, language, values)
        if kind is MessageKind.REMINDER:
            return self._reminder(channel, to, language, values)
        if kind is MessageKind.RECOVERY and "link" in params:
            return self._recovery_link(channel, to, language, values)
        if kind is MessageKind.RECOVERY_CONTACT_ASK:
            return self._contact_ask(channel, to, language, values)
        wording = WORDINGS[kind]

        subject = say(wording.subject)
        if channel is Channel.EMAIL:
            parts = {
                "lead": say(wording.lead),
                "code": str(params["code"]),
                "validity": say(VALIDITY),
                "caution": say(wording.caution),
                "footer": say(FOOTER),
            }
            if "cancel_url" in params:  # a recovery's one-click cancel link
                parts["caution"] += "\n" + say(RECOVERY_LINES[2]) + " " + str(params["cancel_url"])
            text = "{lead}\n\n    {code}\n\n{validity}\n{caution}\n\n-- \n{footer}\n".format(**parts)
            html = _jinja.get_template("code_email.html").render(language=language, subject=subject, **parts)
            return Message(channel, to, language, subject, text, html=html)
        text = say(wording.sms)
        if "cancel_url" in params:
            text += " " + say(RECOVERY_LINES[4])
        speech = None
        if channel is Channel.VOICE:
            digits = spoken_digits(str(params["code"]), language)
            speech = "\n".join((say(wording.speech), digits, say(ONCE_MORE), digits))
        return Message(channel, to, language, subject, text, speech=speech)

    def _notice(self, channel: Channel, to: str, language: str, values: dict[str, Any]) -> Message:
        """What happened, when, from where, and what to do if it was not the owner; no code,
        no link that signs anyone in."""
        if "factor" in values:
            values["factor"] = translate(language, FACTORS.get(values["factor"], values["factor"]))

        def say(text: str) -> str:
            return translate(language, text, **values)

        subject_id, what_id = NOTICES[values["notice"]]
        subject, what = say(subject_id), say(what_id)
        if channel is not Channel.EMAIL:  # critical ones only, when no e-mail address is verified
            return Message(channel, to, language, subject, f"{subject}. {say(NOTICE_LINES[6])}")
        when, device, where, fine, not_you, choose, _sms = (say(line) for line in NOTICE_LINES)
        lines = [what, "", when, device, where, "", fine, not_you]
        if not values.get("critical"):
            lines.append(choose)
        text = "\n".join([*lines, "", "-- ", say(FOOTER)]) + "\n"
        html = _jinja.get_template("notice_email.html").render(
            language=language, subject=subject, lines=lines, footer=say(FOOTER)
        )
        return Message(channel, to, language, subject, text, html=html)

    def _reminder(self, channel: Channel, to: str, language: str, values: dict[str, Any]) -> Message:
        def say(text: str) -> str:
            return translate(language, text, **values)

        subject, ask, sheet, phones, page = (say(line) for line in REMINDER_LINES)
        lines = [ask, ""]
        if values.get("set_number"):
            lines.append("- " + sheet)
        if values.get("phones"):
            lines.append("- " + phones)
        lines += ["", page]
        text = "\n".join([*lines, "", "-- ", say(FOOTER)]) + "\n"
        html = _jinja.get_template("notice_email.html").render(
            language=language, subject=subject, lines=lines, footer=say(FOOTER)
        )
        return Message(channel, to, language, subject, text, html=html)

    def _recovery_link(self, channel: Channel, to: str, language: str, values: dict[str, Any]) -> Message:
        """A recovery's e-mail: what happened, the proof link, the cancel link; no code."""

        def say(text: str) -> str:
            return translate(language, text, **values)

        subject = say(WORDINGS[MessageKind.RECOVERY].subject)
        what, prove, not_you, sign_in, _sms = (say(line) for line in RECOVERY_LINES)
        lines = [what, "", prove, str(values["link"]), "", not_you, str(values["cancel_url"]), sign_in]
        text = "\n".join([*lines, "", "-- ", say(FOOTER)]) + "\n"
        html = _jinja.get_template("notice_email.html").render(
            language=language, subject=subject, lines=lines, footer=say(FOOTER)
        )
        return Message(channel, to, language, subject, text, html=html)

    def _contact_ask(self, channel: Channel, to: str, language: str, values: dict[str, Any]) -> Message:
        """To a recovery contact: who is recovering and where to answer; nothing that acts."""

        def say(text: str) -> str:
            return translate(language, text, **values)

        subject, what, answer, unsure = (say(line) for line in CONTACT_ASK_LINES)
        lines = [what, "", answer, "", unsure]
        text = "\n".join([*lines, "", "-- ", say(FOOTER)]) + "\n"
        html = _jinja.get_template("notice_email.html").render(
            language=language, subject=subject, lines=lines, footer=say(FOOTER)
        )
        return Message(channel, to, language, subject, text, html=html)
