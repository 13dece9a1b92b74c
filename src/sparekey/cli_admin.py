"""``sparekey admin ...``: the operator's commands on accounts (staff roles, 2FA resets).

Each prints one JSON object on stdout; errors go to stderr with exit status 1 (unknown
account, bad input) or 2 (configuration)."""

from __future__ import annotations

import typer

admin = typer.Typer(no_args_is_help=True, help="the operator's commands on accounts")
