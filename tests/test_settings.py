"""Configuration: environment, TOML file, one clear line per bad value, secrets hidden."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sparekey.core.crypto import new_key_string, parse_keys
from sparekey.settings import ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SPAREKEY_") and not name.startswith("SPAREKEY_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_need_no_configuration() -> None:
    settings = load_settings()
    assert settings.data_dir == Path("sparekey-data")
    assert settings.database().startswith("sqlite:///") and settings.database().endswith(
        "sparekey-data/sparekey.db"
    )
    policy = settings.policy()
    assert (policy.argon2.time_cost, policy.argon2.memory_cost, policy.argon2.parallelism) == (2, 19456, 1)
    assert (policy.password.min_length, policy.password.max_length) == (8, 1024)
    assert policy.sudo_seconds == 600 and policy.login_flow_seconds == 600
    assert (policy.account_failure_limit, policy.backoff_initial_seconds, policy.backoff_max_seconds) == (
        10,
        60,
        3600,
    )
    assert (policy.ip_failure_limit, policy.ip_failure_window_seconds) == (100, 900)


def test_environment_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAREKEY_DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    monkeypatch.setenv("SPAREKEY_BACKUP_CODE_COUNT", "12")
    settings = load_settings()
    assert settings.database() == "postgresql://postgres@127.0.0.1/test"
    assert settings.policy().backup_code_count == 12


def test_each_bad_value_gets_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAREKEY_BACKUP_CODE_COUNT", "50")
    monkeypatch.setenv("SPAREKEY_PASSWORD_MIN_LENGTH", "six")
    monkeypatch.setenv("SPAREKEY_ENCRYPTION_KEYS", "k1:tooshort")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    lines = str(caught.value).splitlines()
    assert len(lines) == 3
    assert any(line.startswith("SPAREKEY_BACKUP_CODE_COUNT: ") and "20" in line for line in lines)
    assert any(line.startswith("SPAREKEY_PASSWORD_MIN_LENGTH: ") for line in lines)
    assert any(line.startswith("SPAREKEY_ENCRYPTION_KEYS: ") and "32 bytes" in line for line in lines)
    assert "tooshort" not in str(caught.value)


def test_toml_file_and_environment_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "sparekey.toml"
    config.write_text('issuer = "Example Corp"\nsudo_minutes = 5\nbackup_code_count = 8\n')
    monkeypatch.setenv("SPAREKEY_CONFIG_FILE", str(config))
    monkeypatch.setenv("SPAREKEY_BACKUP_CODE_COUNT", "6")
    settings = load_settings()
    assert settings.issuer == "Example Corp" and settings.sudo_minutes == 5
    assert settings.backup_code_count == 6


def test_toml_mistakes_are_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "sparekey.toml"
    config.write_text("sudo_minute = 5\n")
    monkeypatch.setenv("SPAREKEY_CONFIG_FILE", str(config))
    with pytest.raises(ConfigError, match="SPAREKEY_SUDO_MINUTE: unknown setting"):
        load_settings()
    monkeypatch.setenv("SPAREKEY_CONFIG_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="no such file"):
        load_settings()


def test_secret_is_hidden_when_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    key = new_key_string()
    monkeypatch.setenv("SPAREKEY_ENCRYPTION_KEYS", key)
    settings = load_settings()
    assert key not in repr(settings) and key not in str(settings)
    assert settings.key_ring() == parse_keys(key)


def test_key_is_generated_once_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    with caplog.at_level(logging.WARNING, logger="sparekey.settings"):
        first = settings.key_ring()
    assert "generated a key" in caplog.text
    key_file = tmp_path / "data" / "encryption.key"
    assert key_file.stat().st_mode & 0o077 == 0
    caplog.clear()
    assert settings.key_ring() == first and caplog.text == ""


def test_trusted_proxies_from_the_environment_and_from_toml(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import ipaddress

    assert load_settings().trusted_proxies == ()  # nobody's forwarded headers by default
    monkeypatch.setenv("SPAREKEY_TRUSTED_PROXIES", " 127.0.0.1, 10.0.0.0/8 ,::1,192.168.1.7/24")
    assert [str(n) for n in load_settings().trusted_proxies] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1/128",
        "192.168.1.0/24",
    ]
    monkeypatch.delenv("SPAREKEY_TRUSTED_PROXIES")
    config = tmp_path / "sparekey.toml"
    config.write_text('trusted_proxies = ["172.16.0.0/12"]\n')
    monkeypatch.setenv("SPAREKEY_CONFIG_FILE", str(config))
    assert load_settings().trusted_proxies == (ipaddress.ip_network("172.16.0.0/12"),)


def test_a_bad_trusted_proxy_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAREKEY_TRUSTED_PROXIES", "10.0.0.0/8,proxy.example")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == "SPAREKEY_TRUSTED_PROXIES: not an IP address or CIDR range: 'proxy.example'"


def test_the_relying_party_comes_from_the_public_url_and_the_extra_origins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = load_settings().policy().relying_party
    assert (default.id, default.origins) == ("localhost", ("http://localhost:8000",))
    monkeypatch.setenv("SPAREKEY_PUBLIC_URL", "https://Login.Example.com:443/sparekey/")
    monkeypatch.setenv("SPAREKEY_WEBAUTHN_ORIGINS", "https://id.example.com:8443, https://login.example.com")
    monkeypatch.setenv("SPAREKEY_TRUSTED_DEVICE_DAYS", "7")
    settings = load_settings()
    party = settings.policy().relying_party
    assert settings.public_url == "https://Login.Example.com:443/sparekey"
    assert party.id == "login.example.com"
    assert party.origins == ("https://login.example.com", "https://id.example.com:8443")
    assert settings.policy().trusted_device_seconds == 7 * 86400


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SPAREKEY_PUBLIC_URL", "login.example.com"),
        ("SPAREKEY_PUBLIC_URL", "ftp://login.example.com"),
        ("SPAREKEY_PUBLIC_URL", "https://user:pw@login.example.com"),
        ("SPAREKEY_WEBAUTHN_ORIGINS", "https://a.example.com/path"),
        ("SPAREKEY_WEBAUTHN_ORIGINS", "https://a.example.com:99999"),
        ("SPAREKEY_TRUSTED_DEVICE_DAYS", "0"),
    ],
)
def test_a_bad_public_url_or_origin_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    lines = str(caught.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith(name), lines
