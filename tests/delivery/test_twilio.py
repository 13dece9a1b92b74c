"""The Twilio sender against a local server that speaks Twilio's Messages and Calls API:
basic auth, form fields, TwiML that reads the code twice; retries after 503s and after the
provider was down, also across a restart."""

from __future__ import annotations

import base64
import re
import urllib.parse
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest

from sparekey.core.clock import FrozenClock
from sparekey.core.delivery import Channel
from sparekey.core.deps import Deps
from sparekey.core.flows import delivery
from tests.conftest import build_deps
from tests.delivery.conftest import CODE, Answer, Provider, Request, StartProvider, queue_code, stored

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio auth token 9f8e7d"
FROM = "+15005550006"
TO = "+819012345678"


class FakeTwilio:
    """Answers like Twilio: 401 without the right basic auth, 404 for another account or
    resource, else 201 with a resource JSON (or the statuses queued in ``fail_with``)."""

    def __init__(self) -> None:
        self.fail_with: list[int] = []
        self.accepted: list[dict[str, str]] = []  # the form of each request answered 201

    def __call__(self, request: Request) -> Answer:
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return Answer.json(401, {"code": 20003, "message": "Authenticate", "status": 401})
        match = re.fullmatch(rf"/2010-04-01/Accounts/{SID}/(Messages|Calls)\.json", request.path)
        if match is None:
            return Answer.json(404, {"code": 20404, "message": "not found", "status": 404})
        if self.fail_with:
            status = self.fail_with.pop(0)
            return Answer.json(status, {"code": 20500 if status >= 500 else 21211, "status": status})
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        form = {k: v for k, [v] in urllib.parse.parse_qs(request.body.decode(), strict_parsing=True).items()}
        form["resource"] = match.group(1)
        self.accepted.append(form)
        prefix = "SM" if match.group(1) == "Messages" else "CA"
        return Answer.json(201, {"sid": prefix + "f" * 32, "status": "queued", "to": form["To"]})


def twilio_deps(url: str, clock: FrozenClock, provider_url: str, **settings: Any) -> Deps:
    return build_deps(
        url,
        clock,
        phone_sender="twilio",
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_from=FROM,
        twilio_api_base=provider_url,
        **settings,
    )


@pytest.fixture
def twilio(start_provider: StartProvider) -> tuple[FakeTwilio, Provider]:
    fake = FakeTwilio()
    return fake, start_provider(fake)


def test_an_sms_goes_through_the_messages_api(
    sqlite_database: str, clock: FrozenClock, twilio: tuple[FakeTwilio, Provider]
) -> None:
    fake, provider = twilio
    deps = twilio_deps(sqlite_database, clock, provider.url)
    message_id = queue_code(deps, channel=Channel.SMS, to=TO)

    assert delivery.deliver(deps) == 1

    [form] = fake.accepted
    assert form["resource"] == "Messages"
    assert (form["To"], form["From"]) == (TO, FROM)
    assert form["Body"].startswith(CODE) and "sign-in code" in form["Body"]
    row = stored(deps, message_id)
    assert (row.state, row.sender, row.attempts) == ("sent", "twilio", 1)
    assert row.body_enc is None


@pytest.mark.parametrize(("language", "voice_language"), [("ja", "ja-JP"), ("en", "en-US")])
def test_a_call_reads_the_code_digit_by_digit_twice(
    sqlite_database: str,
    clock: FrozenClock,
    twilio: tuple[FakeTwilio, Provider],
    language: str,
    voice_language: str,
) -> None:
    fake, provider = twilio
    deps = twilio_deps(sqlite_database, clock, provider.url)
    queue_code(deps, channel=Channel.VOICE, to=TO, language=language)

    assert delivery.deliver(deps) == 1

    [form] = fake.accepted
    assert form["resource"] == "Calls"
    assert (form["To"], form["From"]) == (TO, FROM)
    response = ET.fromstring(form["Twiml"])  # noqa: S314 - our own TwiML
    assert response.tag == "Response"
    says = response.findall("Say")
    assert says and all(say.get("language") == voice_language for say in says)
    spoken = ["".join(say.itertext()) for say in says]
    digit_by_digit = re.compile(r"1\W+2\W+3\W+4\W+5\W+6")
    assert sum(1 for words in spoken if digit_by_digit.fullmatch(words.strip())) == 2
    assert CODE not in "".join(spoken)  # never as one number ("one hundred twenty-three thousand")
    kinds = [element.tag for element in response]
    assert kinds == ["Say", "Pause", "Say", "Pause", "Say", "Pause", "Say"]  # a pause between lines
    if language == "ja":
        assert re.search(r"[\u3040-\u30ff]", spoken[0])


def test_twiml_escapes_what_it_says() -> None:
    from sparekey.core.delivery import Message
    from sparekey.delivery.twilio import twiml

    message = Message(Channel.VOICE, TO, "en", "", "text", speech='</Say><Dial>+1900</Dial> & "more"\n1, 2')
    response = ET.fromstring(twiml(message))  # noqa: S314 - our own TwiML
    assert response.find(".//Dial") is None
    assert "".join(response.find("Say").itertext()) == '</Say><Dial>+1900</Dial> & "more"'  # type: ignore[union-attr]


def test_a_provider_that_fails_twice_delivers_exactly_once(
    sqlite_database: str, clock: FrozenClock, twilio: tuple[FakeTwilio, Provider]
) -> None:
    fake, provider = twilio
    fake.fail_with = [503, 503]
    deps = twilio_deps(sqlite_database, clock, provider.url)
    message_id = queue_code(deps, channel=Channel.SMS, to=TO)

    assert delivery.deliver(deps) == 0
    row = stored(deps, message_id)
    assert (row.state, row.attempts, row.last_error) == (
        "queued",
        1,
        "Twilio answered 503 (Twilio error 20500)",
    )

    assert delivery.deliver(deps) == 0  # not due before the back-off has passed
    assert len(provider.requests) == 1
    clock.advance(seconds=30)
    assert delivery.deliver(deps) == 0
    row = stored(deps, message_id)
    assert (row.state, row.attempts) == ("queued", 2)
    assert row.next_attempt_at == clock.now() + timedelta(seconds=60)  # the back-off doubles

    clock.advance(seconds=60)
    assert delivery.deliver(deps) == 1
    clock.advance(hours=2)
    assert delivery.deliver(deps) == 0

    assert len(provider.requests) == 3 and len(fake.accepted) == 1
    row = stored(deps, message_id)
    assert (row.state, row.attempts, row.last_error) == ("sent", 3, None)


@pytest.mark.parametrize(
    ("status", "reason"),
    [(400, "Twilio answered 400 (Twilio error 21211)"), (404, "Twilio answered 404 (Twilio error 21211)")],
)
def test_a_refused_request_is_given_up_at_once(
    sqlite_database: str,
    clock: FrozenClock,
    twilio: tuple[FakeTwilio, Provider],
    status: int,
    reason: str,
) -> None:
    fake, provider = twilio
    fake.fail_with = [status]
    deps = twilio_deps(sqlite_database, clock, provider.url)
    message_id = queue_code(deps, channel=Channel.SMS, to=TO)

    assert delivery.deliver(deps) == 0
    clock.advance(hours=2)
    assert delivery.deliver(deps) == 0

    row = stored(deps, message_id)
    assert (row.state, row.attempts, row.last_error) == ("failed", 1, reason)
    assert row.body_enc is None
    assert len(provider.requests) == 1


def test_wrong_credentials_are_a_permanent_failure_that_shows_no_token(
    sqlite_database: str, clock: FrozenClock, twilio: tuple[FakeTwilio, Provider]
) -> None:
    _fake, provider = twilio
    deps = build_deps(
        sqlite_database,
        clock,
        phone_sender="twilio",
        twilio_account_sid=SID,
        twilio_auth_token="not the token",
        twilio_from=FROM,
        twilio_api_base=provider.url,
    )
    message_id = queue_code(deps, channel=Channel.SMS, to=TO)

    assert delivery.deliver(deps) == 0

    row = stored(deps, message_id)
    assert (row.state, row.last_error) == ("failed", "Twilio answered 401 (Twilio error 20003)")
    assert "not the token" not in str(row.last_error) and SID not in str(row.last_error)


def test_too_many_requests_is_retried(
    sqlite_database: str, clock: FrozenClock, twilio: tuple[FakeTwilio, Provider]
) -> None:
    fake, provider = twilio
    fake.fail_with = [429]
    deps = twilio_deps(sqlite_database, clock, provider.url)
    message_id = queue_code(deps, channel=Channel.SMS, to=TO)

    assert delivery.deliver(deps) == 0
    assert stored(deps, message_id).state == "queued"
    clock.advance(seconds=30)
    assert delivery.deliver(deps) == 1


def test_a_provider_that_is_down_loses_nothing_across_a_restart(
    database_url: str, clock: FrozenClock, start_provider: StartProvider
) -> None:
    fake = FakeTwilio()
    provider = start_provider(fake)
    port = provider.port
    provider.stop()  # down: nothing listens on its port
    deps = twilio_deps(database_url, clock, provider.url)
    message_id = queue_code(deps, channel=Channel.SMS, to=TO)

    assert delivery.deliver(deps) == 0
    row = stored(deps, message_id)
    assert (row.state, row.attempts) == ("queued", 1)
    assert row.last_error == "could not reach Twilio (ConnectionRefusedError)"
    assert row.body_enc is not None  # kept, sealed, until it is delivered

    # The server stops; the provider comes back; a new process starts on the same database.
    deps.store.engine.dispose()  # type: ignore[attr-defined]
    start_provider(fake, port=port)
    clock.advance(seconds=30)
    restarted = twilio_deps(database_url, clock, provider.url)
    assert delivery.deliver(restarted) == 1
    assert delivery.deliver(restarted) == 0

    [form] = fake.accepted
    assert form["To"] == TO and CODE in form["Body"]
    row = stored(restarted, message_id)
    assert (row.state, row.attempts, row.body_enc) == ("sent", 2, None)
