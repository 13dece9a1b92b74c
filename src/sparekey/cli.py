"""``sparekey serve | migrate | version``."""

from __future__ import annotations

import logging
import sys

import typer

from sparekey import __version__
from sparekey.settings import ConfigError, Settings, load_settings

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="sparekey: two-factor authentication and recovery"
)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        for line in str(error).splitlines():
            typer.echo(f"sparekey: configuration error: {line}", err=True)
        raise typer.Exit(2) from None


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
) -> None:
    """Apply migrations, then serve the pages and the API."""
    import uvicorn

    from sparekey.web.app import create_app

    _logging()
    settings = _settings()
    try:
        application = create_app(settings, migrate=True)
    except ConfigError as error:
        typer.echo(f"sparekey: configuration error: {error}", err=True)
        raise typer.Exit(2) from None
    logging.getLogger("alembic").setLevel(logging.WARNING)  # readiness checks would log each probe
    where = settings.database_url and "the configured database" or settings.database()
    typer.echo(f"sparekey {__version__}: serving on http://{host}:{port}/ ({where})", err=True)
    # Forwarded headers are read by sparekey itself, only from SPAREKEY_TRUSTED_PROXIES.
    uvicorn.run(
        application, host=host, port=port, proxy_headers=False, server_header=False, log_level="warning"
    )


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from sparekey.store.database import make_engine
    from sparekey.store.migrate import upgrade

    _logging()
    settings = _settings()
    upgrade(make_engine(settings.database()))
    typer.echo("sparekey: database is up to date", err=True)


@app.command("reencrypt")
def reencrypt() -> None:
    """Re-encrypt stored secrets with the current (first) encryption key, after a key rotation."""
    from sparekey.bootstrap import build_deps
    from sparekey.core.flows.keys import reencrypt_secrets

    _logging()
    moved = reencrypt_secrets(build_deps(_settings()))
    typer.echo(f"sparekey: {moved} secret(s) re-encrypted with the current key", err=True)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    sys.exit(app())


if __name__ == "__main__":
    main()
