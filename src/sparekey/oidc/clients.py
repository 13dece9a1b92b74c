"""Relying parties: registering (``sparekey client add``), listing, removing; the rule for
redirect URIs; and the pages' ``form-action`` sources they need.

A redirect URI is matched exactly, as a string, never by prefix. It must be absolute,
``https``, or ``http`` on this machine (``localhost`` or a loopback address, RFC 8252 §7.3),
without a fragment or user information. A public client (``--public``: a native or
in-browser app) gets no secret and must use PKCE with S256; a confidential one gets a secret
that is shown once and kept as its SHA-256 digest.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from sparekey.core.crypto import new_id, new_token, plausible_id, token_hash
from sparekey.core.deps import Deps
from sparekey.core.errors import ValidationFailed
from sparekey.core.names import required_name
from sparekey.oidc.records import Client

MAX_URI_LENGTH = 1000
MAX_REDIRECT_URIS = 20


class BadClient(ValueError):
    """A registration that cannot be made; the message is safe to print."""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_redirect_uri(uri: str) -> str:
    """``uri`` if it may be registered (unchanged: it is matched exactly), else ``BadClient``."""
    if not uri or len(uri) > MAX_URI_LENGTH or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in uri):
        raise BadClient(f"not a URL without spaces or control characters: {uri!r}")
    if "\\" in uri or not uri.isascii():
        raise BadClient(f"write the URL in ASCII (percent-encoded), without backslashes: {uri!r}")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise BadClient(f"not a valid URL: {uri!r}") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise BadClient(f"must be an absolute https:// URL: {uri!r}")
    if parts.scheme == "http" and not _loopback(host):
        raise BadClient(f"must be https:// (plain http:// only on this machine, e.g. 127.0.0.1): {uri!r}")
    if parts.fragment or "#" in uri:
        raise BadClient(f"a redirect URI has no fragment (#...): {uri!r}")
    if parts.username is not None or parts.password is not None:
        raise BadClient(f"a redirect URI has no user name or password: {uri!r}")
    return uri


def csp_source(uri: str) -> str:
    """The ``form-action`` source of a redirect URI: scheme, host, port and path, no query."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path or '/'}"


@dataclass(frozen=True)
class Registered:
    client: Client
    secret: str | None  # shown once; None for a public client


def add(deps: Deps, *, name: str, redirect_uris: Iterable[str], public: bool) -> Registered:
    try:
        clean = required_name(name)
    except ValidationFailed:
        raise BadClient(
            "give the client a name of at most 64 characters, without control characters"
        ) from None
    uris = tuple(dict.fromkeys(checked_redirect_uri(uri) for uri in redirect_uris))
    if not uris:
        raise BadClient("give at least one --redirect-uri")
    if len(uris) > MAX_REDIRECT_URIS:
        raise BadClient(f"at most {MAX_REDIRECT_URIS} redirect URIs")
    secret = None if public else new_token()
    client = Client(
        id=new_id(),
        name=clean,
        redirect_uris=uris,
        created_at=deps.clock.now(),
        secret_hash=None if secret is None else token_hash(secret),
    )
    with deps.store.transaction() as tx:
        tx.oidc.add_client(client)
    return Registered(client=client, secret=secret)


def listing(deps: Deps) -> list[Client]:
    with deps.store.transaction() as tx:
        return tx.oidc.clients()


def get(deps: Deps, client_id: str | None) -> Client | None:
    if not client_id or not plausible_id(client_id):
        return None
    with deps.store.transaction() as tx:
        return tx.oidc.get_client(client_id)


def remove(deps: Deps, client_id: str) -> bool:
    """Remove the client, and with it every code, token and consent it had."""
    if not plausible_id(client_id):
        return False
    with deps.store.transaction() as tx:
        return tx.oidc.remove_client(client_id)


class RedirectSources:
    """The registered redirect URIs as ``form-action`` sources, for ``FormTargets``: asked for
    every page, so kept for about a second (a client added by the CLI counts within a second,
    or at once when an authorization request names it: see ``refresh``)."""

    def __init__(
        self, deps: Deps, *, seconds: float = 1.0, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._deps = deps
        self._seconds = seconds
        self._now = now
        self._sources: list[str] = []
        self._until = float("-inf")

    def __call__(self) -> list[str]:
        if self._now() >= self._until:
            self.refresh()
        return self._sources

    def refresh(self) -> None:
        found = [csp_source(uri) for client in listing(self._deps) for uri in client.redirect_uris]
        self._sources = list(dict.fromkeys(found))
        self._until = self._now() + self._seconds

    def covers(self, uris: Iterable[str]) -> bool:
        return all(csp_source(uri) in self._sources for uri in uris)
