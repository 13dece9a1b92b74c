"""SMS and voice calls through Twilio's REST API (2010-04-01), with the standard library.

An SMS is ``POST {base}/2010-04-01/Accounts/{sid}/Messages.json`` with the form fields
``To``, ``From``, ``Body``; a call is ``POST .../Calls.json`` with ``To``, ``From`` and
``Twiml``: the words to say, built here so no web hook has to serve them. Both use HTTP
basic authentication with the account SID and the auth token.

A call is for people who cannot read an SMS, often on a landline: each line of the
message's ``speech`` (the code digit by digit, said twice) is its own ``<Say>``, slowly,
in the message's language (an Amazon Polly voice, which reads Japanese and takes SSML), with
a ``<Pause>`` between the lines. Everything in the TwiML is XML-escaped by ElementTree.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from xml.etree.ElementTree import Element, SubElement, tostring

from pydantic import SecretStr

from sparekey.core.delivery import Channel, DeliveryFailed, Message
from sparekey.delivery.http_post import post

# language -> (Twilio's language code, a voice that speaks it)
VOICES = {"ja": ("ja-JP", "Polly.Mizuki"), "en": ("en-US", "Polly.Joanna")}
PAUSE_SECONDS = 1


def twiml(message: Message) -> str:
    """The TwiML of a call that reads ``message``: one slow ``<Say>`` per line of its speech
    (its text when it has none), a ``<Pause>`` between them."""
    language, voice = VOICES.get(message.language, VOICES["en"])
    lines = [line.strip() for line in (message.speech or message.text).splitlines() if line.strip()]
    response = Element("Response")
    for index, line in enumerate(lines):
        if index:
            SubElement(response, "Pause", length=str(PAUSE_SECONDS))
        say = SubElement(response, "Say", language=language, voice=voice)
        SubElement(say, "prosody", rate="slow").text = line
    return '<?xml version="1.0" encoding="UTF-8"?>' + tostring(response, encoding="unicode")


def _twilio_error(answer: bytes) -> str | None:
    """Twilio's error number (``{"code": 21211, ...}``), never its text, which may quote
    the number."""
    try:
        code = json.loads(answer).get("code")
    except (ValueError, AttributeError):
        return None
    return f"Twilio error {code}" if isinstance(code, int) else None


class TwilioSender:
    name = "twilio"

    def __init__(self, *, account_sid: str, auth_token: SecretStr, from_: str, api_base: str) -> None:
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.from_ = from_
        self.account_url = f"{api_base.rstrip('/')}/2010-04-01/Accounts/{account_sid}"

    def send(self, message: Message) -> None:
        if message.channel is Channel.VOICE:
            url, fields = f"{self.account_url}/Calls.json", {"Twiml": twiml(message)}
        elif message.channel is Channel.SMS:
            url, fields = f"{self.account_url}/Messages.json", {"Body": message.text}
        else:
            raise DeliveryFailed(f"Twilio does not send {message.channel.value}", permanent=True)
        body = urllib.parse.urlencode({"To": message.to, "From": self.from_, **fields}).encode()
        credentials = f"{self.account_sid}:{self._auth_token.get_secret_value()}".encode()
        headers = {
            "Authorization": "Basic " + base64.b64encode(credentials).decode("ascii"),
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        post(url, body, headers, provider="Twilio", explain=_twilio_error)
