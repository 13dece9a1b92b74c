"""Where a browser may be sent after sign-in (``/login?rd=...``), and the pages' form targets.

A return address is either a path on sparekey itself (``/oauth/authorize?...``) or an
absolute http(s) URL whose host is sparekey's own or one of ``SPAREKEY_ALLOWED_RETURN_HOSTS``
(an entry without a port allows any port). Anything else is dropped: never an open redirect.

The same list widens the pages' ``Content-Security-Policy: form-action``: browsers apply it
to the redirects that follow a form, so the redirect that ends a sign-in at a protected
application must be allowed there; exactly these hosts and the registered OpenID Connect
redirect URIs (added by the provider), nothing wider.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlsplit

MAX_LENGTH = 2048


def _host_and_port(netloc_host: str | None, port: int | None, scheme: str) -> tuple[str, int]:
    host = (netloc_host or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return host, port if port is not None else {"http": 80, "https": 443}[scheme]


class ReturnTargets:
    def __init__(self, public_url: str, allowed_hosts: Sequence[str]) -> None:
        own = urlsplit(public_url)
        self._own = _host_and_port(own.hostname, own.port, own.scheme)
        self._allowed: list[tuple[str, int | None]] = []
        for entry in allowed_hosts:
            parts = urlsplit(f"//{entry}")
            host, _ = _host_and_port(parts.hostname, 0, "http")
            self._allowed.append((host, parts.port))
        self._sources = [f"{host}:{port if port is not None else '*'}" for host, port in self._allowed]

    def accept(self, target: str | None) -> str | None:
        """``target`` if the browser may be sent there after sign-in, else None."""
        if not target or len(target) > MAX_LENGTH or "\\" in target:
            return None
        if any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
            return None
        if target.startswith("/"):
            return None if target.startswith("//") else target
        try:
            parts = urlsplit(target)
            port = parts.port
        except ValueError:
            return None
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username is not None:
            return None
        host, effective = _host_and_port(parts.hostname, port, parts.scheme)
        if (host, effective) == self._own:
            return target
        for allowed_host, allowed_port in self._allowed:
            if host == allowed_host and (allowed_port is None or allowed_port == effective):
                return target
        return None

    def csp_sources(self) -> list[str]:
        return list(self._sources)


class FormTargets:
    """The sources a page's ``form-action`` allows beside ``'self'``: the allowed return
    hosts, and what providers add (the OpenID Connect clients' redirect URIs). Providers are
    asked for every HTML page, so they keep their own short cache."""

    def __init__(self, static: Iterable[str] = ()) -> None:
        self._static = list(static)
        self._providers: list[Callable[[], Iterable[str]]] = []

    def add(self, provider: Callable[[], Iterable[str]]) -> None:
        self._providers.append(provider)

    def sources(self) -> list[str]:
        found = list(self._static)
        for provider in self._providers:
            found.extend(provider())
        return list(dict.fromkeys(found))
