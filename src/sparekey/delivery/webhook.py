"""SMS and voice calls through a gateway of the operator's own: a signed JSON POST.

The body is ``{"channel": "sms" | "voice", "to": "+81...", "text": "...", "language":
"ja" | "en"}`` (for a call, ``text`` is the words to say: the code digit by digit, said
twice, one sentence per line). The header ``X-Sparekey-Signature: sha256=<hex>`` is the
HMAC-SHA256 of the exact body bytes, keyed with the secret's UTF-8 bytes, so the gateway
can refuse anything sparekey did not send. The receiver must compute it over the raw bytes
it read, before parsing the JSON (docs/configuration.md shows how).
"""

from __future__ import annotations

import hashlib
import hmac
import json

from pydantic import SecretStr

from sparekey.core.delivery import Channel, DeliveryFailed, Message
from sparekey.delivery.http_post import post

SIGNATURE_HEADER = "X-Sparekey-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def payload(message: Message) -> bytes:
    text = (message.speech or message.text) if message.channel is Channel.VOICE else message.text
    fields = {"channel": message.channel.value, "to": message.to, "text": text, "language": message.language}
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class WebhookSender:
    name = "webhook"

    def __init__(self, *, url: str, secret: SecretStr) -> None:
        self.url = url
        self._secret = secret

    def send(self, message: Message) -> None:
        if message.channel not in (Channel.SMS, Channel.VOICE):
            raise DeliveryFailed(f"the phone webhook does not send {message.channel.value}", permanent=True)
        body = payload(message)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: signature(self._secret.get_secret_value(), body),
        }
        post(self.url, body, headers, provider="the phone webhook")
