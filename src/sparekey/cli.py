"""``sparekey serve | migrate | reencrypt | jobs | outbox | version``."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC
from typing import TYPE_CHECKING

import typer

from sparekey import __version__
from sparekey.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from sparekey.delivery.outbox import Kept

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
    workers: int = typer.Option(
        1, min=1, help="server processes on the one port (what they share is kept in the database)"
    ),
) -> None:
    """Apply migrations, then serve the pages and the API."""
    from sparekey.web import server

    server.configure_logging()
    settings = _settings()
    try:
        server.prepare(settings)
    except ConfigError as error:
        typer.echo(f"sparekey: configuration error: {error}", err=True)
        raise typer.Exit(2) from None
    where = settings.database_url and "the configured database" or settings.database()
    processes = f", {workers} processes" if workers > 1 else ""
    typer.echo(f"sparekey {__version__}: serving on http://{host}:{port}/ ({where}{processes})", err=True)
    server.run(host=host, port=port, workers=workers)


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
def jobs(
    every: int = typer.Option(0, "--every", min=0, help="run again every N seconds (0: once, for cron)"),
) -> None:
    """Periodic work: notifications, reminders, forgetting what expired, and sending what is due.
    Safe beside running servers and other runs: nothing is done twice. Prints one JSON object a run."""
    from sparekey.bootstrap import build_deps
    from sparekey.core.flows import delivery
    from sparekey.core.flows import jobs as periodic

    _logging()
    deps = build_deps(_settings())
    while True:
        report = periodic.run(deps).as_dict()
        report["delivered"] = delivery.deliver(deps)
        typer.echo(json.dumps(report))
        if not every:
            return
        time.sleep(every)


@app.command()
def outbox(
    as_json: bool = typer.Option(
        False, "--json", help="one JSON array; with --follow, then one object a line"
    ),
    follow: bool = typer.Option(False, "--follow", help="keep printing new messages until Ctrl-C"),
    limit: int = typer.Option(100, min=1, max=10_000, help="how many of the newest messages to list"),
) -> None:
    """List the messages kept by the outbox sender, newest first (for development and small
    installations, where the operator reads the codes and passes them on)."""
    from sparekey.bootstrap import build_deps
    from sparekey.delivery.outbox import kept
    from sparekey.store.migrate import is_current

    deps = build_deps(_settings())
    if not is_current(deps.store.engine):  # type: ignore[attr-defined]
        typer.echo("sparekey: the database schema is not up to date: run `sparekey migrate`", err=True)
        raise typer.Exit(1)
    try:
        # With --follow, everything in the window counts as seen, shown or not: only messages
        # that arrive later are printed as new.
        window = kept(deps, limit=max(limit, OUTBOX_FOLLOW_WINDOW) if follow else limit)
        shown = window[:limit]
        if as_json:
            _echo_json([entry.as_json() for entry in shown], one_line=follow)
        elif shown:
            typer.echo("\n".join(_readable(entry) for entry in shown))
        elif not follow:
            typer.echo("sparekey: the outbox is empty", err=True)
        if not follow:
            return
        typer.echo("sparekey: waiting for new messages (Ctrl-C to stop)", err=True)
        seen = {entry.id for entry in window}
        while True:
            time.sleep(OUTBOX_POLL_SECONDS)
            for entry in reversed(kept(deps, limit=OUTBOX_FOLLOW_WINDOW, skip=seen)):  # as they came
                seen.add(entry.id)
                if as_json:
                    _echo_json(entry.as_json(), one_line=True)
                else:
                    typer.echo(_readable(entry))
    except KeyboardInterrupt:
        return  # Ctrl-C ends --follow: a normal end, status 0


OUTBOX_POLL_SECONDS = 1
OUTBOX_FOLLOW_WINDOW = 500  # --follow looks for new messages among the newest this many


def _echo_json(value: object, *, one_line: bool) -> None:
    typer.echo(json.dumps(value, separators=(",", ":")) if one_line else json.dumps(value, indent=2))


def _readable(entry: Kept) -> str:
    when = entry.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [f"{when}  {entry.channel}  to {entry.to}"]
    if entry.subject:
        lines.append(f"  Subject: {entry.subject}")
    lines += [f"  | {line}".rstrip() for line in entry.text.splitlines()]
    return "\n".join(lines) + "\n"


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _add_admin() -> None:
    from sparekey.cli_admin import admin

    app.add_typer(admin, name="admin")


_add_admin()


def _add_clients() -> None:
    from sparekey.cli_clients import register

    register(app)  # sparekey client add|list|remove, sparekey keys rotate-signing


_add_clients()


def main() -> None:
    sys.exit(app())


if __name__ == "__main__":
    main()
