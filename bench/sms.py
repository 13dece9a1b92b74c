"""d) An SMS-code sign-in (password, send, code) against the bare password hash, in the same run.

Aim: the whole sign-in costs at most 1.15 times the bare ``argon2.PasswordHasher.verify``.
The code goes through the real path: sent code stored as a keyed hash, message composed,
sealed, queued, and handed to a sender after the commit (claimed, sent, marked as sent).
The sender is a provider that reaches the phone at once, without a network: reading the code
there costs nothing. The default send caps hold: rounds go to several accounts in turn.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bench.common import PASSWORD, interleaved, line, per_second, same, verdict
from bench.sign_in import bare_verify
from sparekey.core.delivery import Message, Senders
from sparekey.core.deps import Deps
from sparekey.core.flows import accounts, contacts, sent_codes, sessions, sign_in
from sparekey.core.models import Client

SMS_AIM = 1.15
PEOPLE = 10


class Phone:
    """A provider that delivers at once to the person's phone, which keeps the last message:
    the whole sending path (claim, send, mark as sent) runs, without a network."""

    name = "phone"
    last: Message | None = None

    def send(self, message: Message) -> None:
        self.last = message

    def code(self) -> str:
        assert self.last is not None
        found = re.search(r"\b\d{6}\b", self.last.text)
        assert found is not None
        return found.group(0)


def password_and_sms(deps: Deps, rounds: int) -> None:
    """Rounds go to ``PEOPLE`` accounts in turn, each with its own phone and client address,
    so the default caps (10 codes an hour per number, 50 a day per address) hold as they are."""
    phone = Phone()
    deps.senders = Senders(mail=deps.senders.mail, phone=phone)
    people: list[tuple[str, Client, str]] = []  # (username, client, client token)
    for n in range(PEOPLE):
        username, client = f"hanako{n}", Client(ip=f"192.0.2.{100 + n}", user_agent="sparekey-bench")
        accounts.register(deps, username=username, password=PASSWORD)
        first = sign_in.start(deps, username=username, password=PASSWORD, client=client)
        assert isinstance(first, sign_in.Authenticated)
        current = sessions.authenticate(deps, first.session_token)
        added = contacts.add(
            deps,
            current,
            kind="phone",
            address=f"+81901234{n:04d}",
            region=None,
            client=client,
            language="en",
        )
        contacts.verify(deps, current, added.contact.id, code=phone.code(), client=client)
        people.append((username, client, first.client_token))
    turn = 0

    def one_sign_in() -> Callable[[], object]:
        nonlocal turn
        username, client, client_token = people[turn % PEOPLE]
        turn += 1

        def run() -> None:
            started = sign_in.start(
                deps, username=username, password=PASSWORD, client=client, client_tokens=[client_token]
            )
            assert isinstance(started, sign_in.SecondFactorRequired)
            sent_codes.send_for_flow(
                deps, flow_id=started.flow.id, method="sms", destination_id=None, client=client, language="en"
            )
            done = sign_in.submit_code(deps, flow_id=started.flow.id, code=phone.code(), client=client)
            assert done.method_used == "sms"

        return run

    timed = interleaved(one_sign_in, same(bare_verify()), rounds)
    line(
        "d) sign-in password+SMS code (use cases)",
        f"{per_second(timed.a)}  bare verify {per_second(timed.b)}  "
        f"cost ratio {timed.ratio:5.3f} (aim <= {SMS_AIM:.2f}: {verdict(timed.ratio <= SMS_AIM)})",
    )
