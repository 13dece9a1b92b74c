"""The knobs of the core, as plain values (the web layer builds them from settings)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sparekey.core.factors.password import Argon2Parameters, PasswordPolicy
from sparekey.core.factors.webauthn import RelyingParty


@dataclass(frozen=True)
class Policy:
    issuer: str = "sparekey"
    public_url: str = "http://localhost:8000"  # links in messages (never one that signs anyone in)
    default_language: str = "en"  # for messages to an account that never said which it reads
    argon2: Argon2Parameters = field(default_factory=Argon2Parameters)
    password: PasswordPolicy = field(default_factory=PasswordPolicy)
    session_idle_seconds: int = 2 * 3600
    session_absolute_seconds: int = 24 * 3600
    login_flow_seconds: int = 600
    flow_max_wrong_codes: int = 5
    sudo_seconds: int = 600
    account_failure_limit: int = 10
    backoff_initial_seconds: int = 60
    backoff_max_seconds: int = 3600
    ip_failure_limit: int = 100
    ip_failure_window_seconds: int = 900
    backup_code_count: int = 10
    backup_code_sets_recognised: int = 3
    backup_codes_low_at: int = 3
    known_client_seconds: int = 400 * 86400  # a client unseen this long is a stranger again
    known_clients_per_account: int = 20
    code_methods: frozenset[str] = frozenset({"email", "sms", "voice"})  # what the operator allows
    sent_code_seconds: int = 600
    resend_seconds: int = 60
    sends_per_destination_hour: int = 10
    sends_per_destination_day: int = 20
    sends_per_account_day: int = 30
    sends_per_address_day: int = 50

    def url(self, path: str) -> str:
        """An address under the public URL, for links in messages and pages."""
        return self.public_url.rstrip("/") + path

    relying_party: RelyingParty = RelyingParty(
        id="localhost", name="sparekey", origins=("http://localhost:8000",)
    )
    trusted_device_seconds: int = 30 * 86400
    key_ceremony_seconds: int = 600  # a registration or a sudo by key must be answered within this
    backup_codes_enough_at: int = 4  # readiness: at least this many codes left
    backup_codes_max_age_seconds: int = 365 * 86400  # readiness: a sheet older than this is not fresh
    reminder_seconds: int = 182 * 86400  # the periodic "is your sheet still there?" reminder
    recovery_wait_seconds: int = 3 * 86400  # a proved recovery waits this long (core/flows/recovery.py)
