"""Typed configuration from ``SPAREKEY_*`` environment variables and an optional TOML file.

Checked at start: ``load_settings`` raises ``ConfigError`` with one line per bad value.
The TOML file is ``SPAREKEY_CONFIG_FILE`` if set, else ``<data dir>/sparekey.toml`` if present;
environment variables win over the file.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from sparekey.core.crypto import KeyRingError, new_key_string, parse_keys
from sparekey.core.factors.password import Argon2Parameters, PasswordPolicy
from sparekey.core.factors.webauthn import RelyingParty
from sparekey.core.policy import Policy
from sparekey.store.database import private_directory, sqlite_url

log = logging.getLogger("sparekey.settings")

if TYPE_CHECKING:
    from sparekey.core.flows.forward_auth import Rules


def _origin(value: str, *, allow_path: bool) -> str:
    """``scheme://host[:port]`` of an http(s) URL (a public URL may have a path, which is dropped)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {value!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(f"must be scheme://host[:port] only: {value!r}")
    if parts.path not in ("", "/") and not allow_path:  # a public URL may live under a path
        raise ValueError(f"an origin has no path: {value!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"not a valid port in {value!r}") from None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def _return_host(item: str) -> str:
    """``host`` or ``host:port`` in lower case (IPv6 in brackets); nothing else."""
    item = item.strip().lower()
    parts = urlsplit(f"//{item}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"not a valid port in {item!r}") from None
    host = parts.hostname
    if not host or parts.path or parts.query or parts.fragment or parts.username is not None:
        raise ValueError(f"must be a host name, optionally with :port: {item!r}")
    if ":" in host:
        host = f"[{host}]"
    return host + (f":{port}" if port is not None else "")


class ConfigError(Exception):
    """Bad configuration; ``str()`` is one line per problem, safe to print."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPAREKEY_", extra="forbid", frozen=True)

    environment: Literal["production", "development"] = "production"
    data_dir: Path = Path("sparekey-data")
    database_url: str | None = None
    redis_url: str | None = None
    encryption_keys: SecretStr | None = Field(
        default=None, description="'<id>:<base64 32 bytes>' items, comma-separated, current key first"
    )
    issuer: str = Field(default="sparekey", min_length=1, max_length=64)
    default_language: Literal["en", "ja"] = "en"
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=10 * 1024 * 1024)
    trusted_proxies: Annotated[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...], NoDecode] = Field(
        default=(), description="addresses or CIDR ranges whose X-Forwarded-* headers are believed"
    )
    public_url: str = Field(
        default="http://localhost:8000",
        description="where people reach sparekey; WebAuthn's RP ID is its host",
    )
    webauthn_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="more origins (scheme://host[:port]) whose pages may use the keys"
    )
    trusted_device_days: int = Field(default=30, ge=1, le=400)

    # Applications behind sparekey (OpenID Connect, forward-auth).
    allowed_return_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="host[:port] items the pages may send a browser back to after sign-in"
    )
    cookie_domain: str | None = Field(
        default=None, description="share the session cookie with this domain's subdomains (forward-auth)"
    )
    # Forward-auth: who may enter which host (core/flows/forward_auth.py). In TOML, one
    # [[forward_auth_rules]] table per rule; in the environment, the same as a JSON list.
    forward_auth_rules: Annotated[tuple[dict[str, Any], ...], NoDecode] = Field(
        default=(), description="{host, require, groups} per protected host; none: any signed-in account"
    )
    # The OpenID Connect provider's tokens (docs/oidc.md); a retired signing key stays
    # published for the ID token lifetime.
    oidc_access_token_minutes: int = Field(default=10, ge=1, le=24 * 60)
    oidc_id_token_minutes: int = Field(default=10, ge=1, le=24 * 60)
    oidc_refresh_token_days: int = Field(default=30, ge=1, le=365, description="again from each refresh")
    backup_codes_max_age_days: int = Field(default=365, ge=30, le=3650, description="older sheets: not fresh")
    reminder_days: int = Field(default=182, ge=7, le=3650, description="how often owners are asked to check")
    jobs_interval_seconds: int = Field(default=60, ge=5, le=3600)
    recovery_wait_seconds: int = Field(default=259200, ge=60, le=90 * 86400, description="recovery waits")

    argon2_time_cost: int = Field(default=2, ge=1, le=20)
    argon2_memory_cost: int = Field(default=19456, ge=8, le=4 * 1024 * 1024, description="KiB")
    argon2_parallelism: int = Field(default=1, ge=1, le=16)
    password_min_length: int = Field(default=8, ge=8, le=128)
    password_max_length: int = Field(default=1024, ge=64, le=1024)

    session_idle_minutes: int = Field(default=120, ge=1, le=60 * 24 * 30)
    session_absolute_hours: int = Field(default=24, ge=1, le=24 * 90)
    sudo_minutes: int = Field(default=10, ge=1, le=60)
    login_flow_minutes: int = Field(default=10, ge=1, le=60)
    flow_max_wrong_codes: int = Field(default=5, ge=1, le=100)
    account_failure_limit: int = Field(default=10, ge=3, le=1000)
    backoff_initial_seconds: int = Field(default=60, ge=1, le=86400)
    backoff_max_seconds: int = Field(default=3600, ge=1, le=7 * 86400)
    ip_failure_limit: int = Field(default=100, ge=1, le=1_000_000)
    ip_failure_window_seconds: int = Field(default=900, ge=1, le=86400)
    backup_code_count: int = Field(default=10, ge=5, le=20)

    # Codes sent to contact points (e-mail, SMS, voice call).
    email_codes: bool = True
    sms_codes: bool = True
    voice_codes: bool = True
    sent_code_minutes: int = Field(default=10, ge=1, le=60)
    resend_seconds: int = Field(default=60, ge=10, le=3600)
    sends_per_destination_hour: int = Field(default=10, ge=1, le=1000)
    sends_per_destination_day: int = Field(default=20, ge=1, le=10000)
    sends_per_account_day: int = Field(default=30, ge=1, le=10000)
    sends_per_address_day: int = Field(default=50, ge=1, le=100000)

    # Senders (sparekey/delivery/): how messages leave.
    # The checks below need the fields they depend on to come first (``info.data``).
    mail_sender: Literal["outbox", "smtp"] = "outbox"
    smtp_host: str | None = Field(default=None, validate_default=True)
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_port: int | None = Field(default=None, ge=1, le=65535, description="unset: 25, 587 or 465")
    smtp_username: str | None = Field(default=None, validate_default=True)
    smtp_password: SecretStr | None = Field(default=None, validate_default=True)
    smtp_ca_file: Path | None = Field(default=None, description="trust this CA instead of the system's")
    mail_from: str | None = Field(default=None, validate_default=True)
    phone_sender: Literal["outbox", "twilio", "webhook"] = "outbox"
    twilio_account_sid: str | None = Field(default=None, validate_default=True)
    twilio_auth_token: SecretStr | None = Field(default=None, validate_default=True)
    twilio_from: str | None = Field(default=None, validate_default=True)
    twilio_api_base: str = "https://api.twilio.com"
    phone_webhook_url: str | None = Field(default=None, validate_default=True)
    phone_webhook_secret: SecretStr | None = Field(default=None, validate_default=True)
    delivery_interval_seconds: int = Field(default=5, ge=1, le=300)

    @field_validator(
        "smtp_host",
        "smtp_username",
        "smtp_password",
        "smtp_ca_file",
        "mail_from",
        "twilio_account_sid",
        "twilio_auth_token",
        "twilio_from",
        "phone_webhook_url",
        "phone_webhook_secret",
        mode="before",
    )
    @classmethod
    def _sender_blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @staticmethod
    def _is_loopback(host: str | None) -> bool:
        """Plain text (HTTP, SMTP without TLS) is only allowed to this machine."""
        if host is None:
            return False
        if host.lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(host.strip("[]")).is_loopback
        except ValueError:
            return False

    @field_validator("smtp_host", "mail_from")
    @classmethod
    def _needed_for_smtp(cls, value: str | None, info: Any) -> str | None:
        if value is None and info.data.get("mail_sender") == "smtp":
            raise ValueError("required when SPAREKEY_MAIL_SENDER is smtp")
        return value

    @field_validator("smtp_username")
    @classmethod
    def _login_over_tls(cls, value: str | None, info: Any) -> str | None:
        plain = info.data.get("smtp_security") == "none"
        if value is not None and plain and not cls._is_loopback(info.data.get("smtp_host")):
            raise ValueError(
                "a password is only sent over TLS: set SPAREKEY_SMTP_SECURITY to starttls or tls "
                "(or use a mail server on this machine)"
            )
        return value

    @field_validator("smtp_password")
    @classmethod
    def _password_with_username(cls, value: SecretStr | None, info: Any) -> SecretStr | None:
        username_given = info.data.get("smtp_username") is not None
        if value is None and username_given:
            raise ValueError("required when SPAREKEY_SMTP_USERNAME is set")
        if value is not None and not username_given and "smtp_username" in info.data:
            raise ValueError("set SPAREKEY_SMTP_USERNAME too, or leave this unset")
        return value

    @field_validator("smtp_ca_file")
    @classmethod
    def _ca_file_loads(cls, value: Path | None) -> Path | None:
        import ssl

        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        if value is not None:
            try:
                ssl.create_default_context(cafile=str(value))
            except (ssl.SSLError, OSError):
                raise ValueError(f"not a PEM file of CA certificates: {value}") from None
        return value

    @field_validator("mail_from")
    @classmethod
    def _mail_from_is_an_address(cls, value: str | None) -> str | None:
        from email.utils import parseaddr

        if value is None:
            return None
        _name, address = parseaddr(value)
        local, _, domain = address.rpartition("@")
        if not local or "." not in domain or any(c in value for c in "\r\n"):
            raise ValueError("not an e-mail address, e.g. 'sparekey <no-reply@example.com>'")
        return value

    @field_validator("twilio_account_sid")
    @classmethod
    def _needed_for_twilio(cls, value: str | None, info: Any) -> str | None:
        if value is None:
            if info.data.get("phone_sender") == "twilio":
                raise ValueError("required when SPAREKEY_PHONE_SENDER is twilio")
            return None
        if not (
            len(value) == 34
            and value.startswith("AC")
            and all(c in "0123456789abcdefABCDEF" for c in value[2:])
        ):
            raise ValueError("a Twilio account SID is 'AC' followed by 32 hexadecimal digits")
        return value

    @field_validator("twilio_auth_token", "twilio_from")
    @classmethod
    def _also_needed_for_twilio(cls, value: Any, info: Any) -> Any:
        if value is None and info.data.get("phone_sender") == "twilio":
            raise ValueError("required when SPAREKEY_PHONE_SENDER is twilio")
        return value

    @field_validator("twilio_api_base", "phone_webhook_url")
    @classmethod
    def _https_url(cls, value: str | None, info: Any) -> str | None:
        from urllib.parse import urlsplit

        if value is None:
            if info.data.get("phone_sender") == "webhook" and info.field_name == "phone_webhook_url":
                raise ValueError("required when SPAREKEY_PHONE_SENDER is webhook")
            return None
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError:
            raise ValueError("not a URL") from None
        if parts.scheme not in ("https", "http") or not host:
            raise ValueError("must be an https:// URL")
        if parts.scheme == "http" and not cls._is_loopback(host):
            raise ValueError("must be https:// (plain http:// only to this machine): it carries codes")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not contain a user name or password")
        return value.rstrip("/") if info.field_name == "twilio_api_base" else value

    @field_validator("phone_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None, info: Any) -> SecretStr | None:
        if value is None:
            if info.data.get("phone_sender") == "webhook":
                raise ValueError("required when SPAREKEY_PHONE_SENDER is webhook")
            return None
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("database_url", "redis_url")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            return value
        networks = []
        for item in (str(i).strip() for i in items):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"not an IP address or CIDR range: {item!r}") from None
        return tuple(networks)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        _origin(value.strip(), allow_path=True)
        return value.strip().rstrip("/")

    @field_validator("webauthn_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            return value
        return tuple(_origin(str(item).strip(), allow_path=False) for item in items if str(item).strip())

    @field_validator("allowed_return_hosts", mode="before")
    @classmethod
    def _return_hosts(cls, value: Any) -> Any:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            return value
        return tuple(_return_host(str(item)) for item in items if str(item).strip())

    @field_validator("cookie_domain")
    @classmethod
    def _cookie_domain(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        domain = value.strip().lower().lstrip(".")
        labels = domain.split(".")
        if len(labels) < 2 or not all(label and label.replace("-", "").isalnum() for label in labels):
            raise ValueError(f"not a domain name with a dot, e.g. example.com: {value!r}")
        return domain

    @field_validator("forward_auth_rules", mode="before")
    @classmethod
    def _forward_auth_rules(cls, value: Any) -> Any:
        import json

        from sparekey.core.flows.forward_auth import parse_rules

        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else []
            except ValueError as error:
                raise ValueError(f"not JSON (a list of {{host, require, groups}} objects): {error}") from None
        if isinstance(value, dict) or not isinstance(value, list | tuple):
            raise ValueError("a list of rules, each {host, require, groups}")
        parse_rules(value)  # ValueError naming the rule and what is wrong with it
        return tuple(value)

    def forward_auth(self) -> Rules:
        """The forward-auth rules, checked at start."""
        from sparekey.core.flows.forward_auth import parse_rules

        return parse_rules(self.forward_auth_rules)

    def relying_party(self) -> RelyingParty:
        origin = _origin(self.public_url, allow_path=True)
        host = urlsplit(origin).hostname or "localhost"
        origins = tuple(dict.fromkeys((origin, *self.webauthn_origins)))
        return RelyingParty(id=host, name=self.issuer, origins=origins)

    @field_validator("encryption_keys")
    @classmethod
    def _keys_parse(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            try:
                parse_keys(value.get_secret_value())
            except KeyRingError as error:
                raise ValueError(str(error)) from None
        return value

    @model_validator(mode="after")
    def _limits_consistent(self) -> Settings:
        if self.backoff_max_seconds < self.backoff_initial_seconds:
            raise ValueError("backoff_max_seconds must be at least backoff_initial_seconds")
        if self.password_max_length < self.password_min_length:
            raise ValueError("password_max_length must be at least password_min_length")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = _toml_file()
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    def database(self) -> str:
        return self.database_url or sqlite_url(self.data_dir)

    def policy(self) -> Policy:
        return Policy(
            issuer=self.issuer,
            public_url=self.public_url,
            default_language=self.default_language,
            argon2=Argon2Parameters(
                time_cost=self.argon2_time_cost,
                memory_cost=self.argon2_memory_cost,
                parallelism=self.argon2_parallelism,
            ),
            password=PasswordPolicy(min_length=self.password_min_length, max_length=self.password_max_length),
            session_idle_seconds=self.session_idle_minutes * 60,
            session_absolute_seconds=self.session_absolute_hours * 3600,
            login_flow_seconds=self.login_flow_minutes * 60,
            flow_max_wrong_codes=self.flow_max_wrong_codes,
            sudo_seconds=self.sudo_minutes * 60,
            account_failure_limit=self.account_failure_limit,
            backoff_initial_seconds=self.backoff_initial_seconds,
            backoff_max_seconds=self.backoff_max_seconds,
            ip_failure_limit=self.ip_failure_limit,
            ip_failure_window_seconds=self.ip_failure_window_seconds,
            backup_code_count=self.backup_code_count,
            code_methods=frozenset(
                method
                for method, allowed in {
                    "email": self.email_codes,
                    "sms": self.sms_codes,
                    "voice": self.voice_codes,
                }.items()
                if allowed
            ),
            sent_code_seconds=self.sent_code_minutes * 60,
            resend_seconds=self.resend_seconds,
            sends_per_destination_hour=self.sends_per_destination_hour,
            sends_per_destination_day=self.sends_per_destination_day,
            sends_per_account_day=self.sends_per_account_day,
            sends_per_address_day=self.sends_per_address_day,
            relying_party=self.relying_party(),
            trusted_device_seconds=self.trusted_device_days * 86400,
            backup_codes_max_age_seconds=self.backup_codes_max_age_days * 86400,
            reminder_seconds=self.reminder_days * 86400,
            recovery_wait_seconds=self.recovery_wait_seconds,
        )

    def key_ring(self) -> dict[str, bytes]:
        """The configured keys, or the one generated into the data directory on first start."""
        if self.encryption_keys is not None and self.encryption_keys.get_secret_value():
            return parse_keys(self.encryption_keys.get_secret_value())
        key_file = self.data_dir / "encryption.key"
        if not key_file.exists():
            private_directory(self.data_dir)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(new_key_string() + "\n")
            log.warning(
                "no SPAREKEY_ENCRYPTION_KEYS configured: generated a key into %s; back it up with the "
                "database, or the stored authenticator secrets cannot be read",
                key_file,
            )
        try:
            return parse_keys(key_file.read_text().strip())
        except KeyRingError as error:
            raise ConfigError(f"{key_file}: {error}") from None


def _toml_file() -> Path | None:
    explicit = os.environ.get("SPAREKEY_CONFIG_FILE")
    if explicit:
        return Path(explicit)
    default = Path(os.environ.get("SPAREKEY_DATA_DIR", "sparekey-data")) / "sparekey.toml"
    return default if default.exists() else None


def load_settings(**overrides: object) -> Settings:
    explicit = os.environ.get("SPAREKEY_CONFIG_FILE")
    if explicit and not Path(explicit).is_file():
        raise ConfigError(f"SPAREKEY_CONFIG_FILE: no such file: {explicit}")
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
    except ValueError as error:  # a TOML file that does not parse
        raise ConfigError(f"configuration file: {error}") from None


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        name = ".".join(str(part) for part in problem["loc"]) or "configuration"
        where = f"SPAREKEY_{name.upper()}" if problem["loc"] else name
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown setting"
        lines.append(f"{where}: {message}")
    return "\n".join(lines)
