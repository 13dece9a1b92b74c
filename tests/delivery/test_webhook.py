"""The phone webhook against a local receiver that checks the signature the way the docs
tell operators to: HMAC-SHA256 over the raw body, compared with ``hmac.compare_digest``."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import pytest

from sparekey.core.clock import FrozenClock
from sparekey.core.delivery import Channel
from sparekey.core.deps import Deps
from sparekey.core.flows import delivery
from tests.conftest import build_deps
from tests.delivery.conftest import CODE, Answer, Provider, Request, StartProvider, queue_code, stored

SECRET = "webhook secret, shared with the gateway 🔑"
TO = "+819012345678"


class Gateway:
    """An SMS gateway of the operator's: accepts only bodies signed with its secret."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode("utf-8")
        self.accepted: list[dict[str, str]] = []
        self.status = 202

    def __call__(self, request: Request) -> Answer:
        header = request.headers.get("X-Sparekey-Signature", "")
        expected = "sha256=" + hmac.new(self.secret, request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(header.encode(), expected.encode()):
            return Answer.json(401, {"error": "bad signature"})
        if self.status >= 300:
            return Answer(self.status)
        self.accepted.append(json.loads(request.body))
        return Answer(self.status)


def webhook_deps(url: str, clock: FrozenClock, provider: Provider, secret: str = SECRET) -> Deps:
    return build_deps(
        url,
        clock,
        phone_sender="webhook",
        phone_webhook_url=f"{provider.url}/sms",
        phone_webhook_secret=secret,
    )


@pytest.mark.parametrize("language", ["ja", "en"])
def test_a_signed_sms_is_delivered(
    sqlite_database: str, clock: FrozenClock, start_provider: StartProvider, language: str
) -> None:
    gateway = Gateway(SECRET)
    provider = start_provider(gateway)
    deps = webhook_deps(sqlite_database, clock, provider)
    message_id = queue_code(deps, channel=Channel.SMS, to=TO, language=language)

    assert delivery.deliver(deps) == 1

    [request] = provider.requests
    assert request.path == "/sms"
    assert request.headers["Content-Type"].startswith("application/json")
    [body] = gateway.accepted
    assert set(body) == {"channel", "to", "text", "language"}
    assert (body["channel"], body["to"], body["language"]) == ("sms", TO, language)
    assert CODE in body["text"]
    row = stored(deps, message_id)
    assert (row.state, row.sender, row.body_enc) == ("sent", "webhook", None)


def test_a_call_sends_the_words_to_say(
    sqlite_database: str, clock: FrozenClock, start_provider: StartProvider
) -> None:
    gateway = Gateway(SECRET)
    deps = webhook_deps(sqlite_database, clock, start_provider(gateway))
    queue_code(deps, channel=Channel.VOICE, to=TO)

    assert delivery.deliver(deps) == 1

    [body] = gateway.accepted
    assert body["channel"] == "voice"
    assert len(re.findall(r"1\W+2\W+3\W+4\W+5\W+6", body["text"])) == 2


def test_a_wrong_secret_is_a_permanent_failure(
    sqlite_database: str, clock: FrozenClock, start_provider: StartProvider
) -> None:
    gateway = Gateway("the gateway's real secret")
    provider = start_provider(gateway)
    deps = webhook_deps(sqlite_database, clock, provider, secret="a secret the gateway does not know")
    message_id = queue_code(deps, channel=Channel.SMS, to=TO)

    assert delivery.deliver(deps) == 0
    clock.advance(hours=2)
    assert delivery.deliver(deps) == 0

    assert gateway.accepted == [] and len(provider.requests) == 1
    row = stored(deps, message_id)
    assert (row.state, row.attempts, row.last_error) == ("failed", 1, "the phone webhook answered 401")
    assert row.body_enc is None


def test_a_gateway_error_is_retried(
    sqlite_database: str, clock: FrozenClock, start_provider: StartProvider
) -> None:
    gateway = Gateway(SECRET)
    gateway.status = 500
    provider = start_provider(gateway)
    deps = webhook_deps(sqlite_database, clock, provider)
    message_id = queue_code(deps, channel=Channel.SMS, to=TO)

    assert delivery.deliver(deps) == 0
    row = stored(deps, message_id)
    assert (row.state, row.last_error) == ("queued", "the phone webhook answered 500")

    gateway.status = 200
    clock.advance(seconds=30)
    assert delivery.deliver(deps) == 1
    assert len(gateway.accepted) == 1


def test_a_redirect_is_not_followed(
    sqlite_database: str, clock: FrozenClock, start_provider: StartProvider
) -> None:
    elsewhere = start_provider(lambda request: Answer(200))
    redirecting = start_provider(lambda request: Answer(307, headers={"Location": f"{elsewhere.url}/x"}))
    deps = webhook_deps(sqlite_database, clock, redirecting)
    message_id = queue_code(deps, channel=Channel.SMS, to=TO)

    assert delivery.deliver(deps) == 0

    assert elsewhere.requests == []  # the signed code never went where the operator did not say
    row = stored(deps, message_id)
    assert (row.state, row.last_error) == ("queued", "the phone webhook answered 307")
