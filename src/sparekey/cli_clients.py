"""``sparekey client add | list | remove`` and ``sparekey keys rotate-signing``: the OpenID
Connect provider's relying parties and signing keys.

Each prints one JSON value on stdout; errors go to stderr with exit status 1 (bad input, an
unknown client) or 2 (configuration). What they change is read by running servers on their
next request: a client added here works at once, without a restart.
"""

from __future__ import annotations

import json
from typing import Any

import typer

client = typer.Typer(
    no_args_is_help=True, help="the applications that sign people in with sparekey (OpenID Connect)"
)
signing = typer.Typer(no_args_is_help=True, help="the keys that sign ID tokens")


def register(app: typer.Typer) -> None:
    app.add_typer(client, name="client")
    app.add_typer(signing, name="keys")


def _deps() -> Any:
    from sparekey.cli_admin import _deps_with_current_schema

    return _deps_with_current_schema()


def _shown(record: Any) -> dict[str, Any]:
    return {
        "client_id": record.id,
        "name": record.name,
        "redirect_uris": list(record.redirect_uris),
        "public": record.public,
        "created_at": record.created_at.isoformat(),
    }


@client.command("add")
def add(
    name: str = typer.Option(..., "--name", help="what people see on the consent page"),
    redirect_uris: list[str] = typer.Option(
        ..., "--redirect-uri", help="where codes go, matched exactly (repeat for more than one)"
    ),
    public: bool = typer.Option(
        False, "--public", help="a native or in-browser app: no secret, PKCE (S256) required"
    ),
) -> None:
    """Register a relying party. Prints {"client_id", "client_secret" (not for --public), "name",
    "redirect_uris", "public", "created_at"}; the secret is shown only here."""
    from sparekey.oidc import clients

    try:
        made = clients.add(_deps(), name=name, redirect_uris=redirect_uris, public=public)
    except clients.BadClient as error:
        typer.echo(f"sparekey: {error}", err=True)
        raise typer.Exit(1) from None
    shown = _shown(made.client)
    if made.secret is not None:
        shown = {"client_id": made.client.id, "client_secret": made.secret, **shown}
    typer.echo(json.dumps(shown))


@client.command("list")
def list_clients() -> None:
    """Print every relying party as one JSON array (secrets are never shown again)."""
    from sparekey.oidc import clients

    typer.echo(json.dumps([_shown(record) for record in clients.listing(_deps())]))


@client.command("remove")
def remove(client_id: str = typer.Argument(..., help="the client_id")) -> None:
    """Remove a relying party with every code, token and consent it had. Prints {"removed"}."""
    from sparekey.oidc import clients

    if not clients.remove(_deps(), client_id):
        typer.echo(f"sparekey: no client {client_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps({"removed": client_id}))


@signing.command("rotate-signing")
def rotate_signing() -> None:
    """Sign ID tokens with a new key from now on. The old key stays in the JWKS until the ID
    tokens it signed have expired (SPAREKEY_OIDC_ID_TOKEN_MINUTES). Prints {"kid", "retired":
    [{"kid", "published_until"}]}."""
    from sparekey.cli import _settings
    from sparekey.oidc import keys
    from sparekey.oidc.policy import OidcPolicy

    deps = _deps()
    done = keys.rotate(deps, OidcPolicy.from_settings(_settings()))
    retired = [
        {"kid": key.kid, "published_until": key.publish_until.isoformat() if key.publish_until else None}
        for key in done.retired
    ]
    typer.echo(json.dumps({"kid": done.new.kid, "retired": retired}))
