"""``sparekey admin ...``: the operator's commands on accounts (staff roles, 2FA resets).

Each prints one JSON object on stdout; errors go to stderr with exit status 1 (unknown
account, bad input) or 2 (configuration)."""

from __future__ import annotations

from typing import Any

import typer

admin = typer.Typer(no_args_is_help=True, help="the operator's commands on accounts")


def _roles_command(username: str, role: str, *, grant: bool) -> None:
    """grant-role / revoke-role: ``{"username", "roles"}`` on stdout."""
    import json

    from sparekey.bootstrap import build_deps
    from sparekey.cli import _settings
    from sparekey.core.errors import NotFound, ValidationFailed
    from sparekey.core.flows import support
    from sparekey.store.migrate import is_current

    deps = build_deps(_settings())
    if not is_current(deps.store.engine):  # type: ignore[attr-defined]
        typer.echo("sparekey: the database schema is not up to date: run `sparekey migrate`", err=True)
        raise typer.Exit(1)
    try:
        change = support.grant_role if grant else support.revoke_role
        account, roles = change(deps, username, role)
    except NotFound:
        typer.echo(f"sparekey: no account named {username!r}", err=True)
        raise typer.Exit(1) from None
    except ValidationFailed as error:
        known = ", ".join(error.details.get("known", []))
        typer.echo(f"sparekey: unknown role {role!r}; the roles are: {known}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps({"username": account.username, "roles": roles}))


@admin.command("grant-role")
def grant_role(
    username: str = typer.Argument(..., help="the account"),
    role: str = typer.Argument(..., help="the role: support (the support console)"),
) -> None:
    """Give an account a staff role (support: the support console, used with two-step verification)."""
    _roles_command(username, role, grant=True)


@admin.command("revoke-role")
def revoke_role(
    username: str = typer.Argument(..., help="the account"),
    role: str = typer.Argument(..., help="the role: support"),
) -> None:
    """Take a staff role away from an account."""
    _roles_command(username, role, grant=False)


def _deps_with_current_schema() -> Any:
    """The ``Deps`` of the configured database, once its schema is current (else exit 1)."""
    from sparekey.bootstrap import build_deps
    from sparekey.cli import _settings
    from sparekey.store.migrate import is_current

    deps = build_deps(_settings())
    if not is_current(deps.store.engine):  # type: ignore[attr-defined]
        typer.echo("sparekey: the database schema is not up to date: run `sparekey migrate`", err=True)
        raise typer.Exit(1)
    return deps


@admin.command("reset-2fa")
def reset_two_factor(
    username: str = typer.Argument(..., help="the account"),
    reason: str = typer.Option(..., "--reason", help="why (1 to 500 characters); the owner is told it"),
) -> None:
    """Reset an account's two-step verification: every second factor is removed, every session
    ends, the owner is told at once on every e-mail address and phone with the reason, and the
    reset is recorded (by "operator"). Prints {"username", "reset": true}."""
    import json

    from sparekey.core.errors import ValidationFailed
    from sparekey.core.flows import organisations

    deps = _deps_with_current_schema()
    try:
        done = organisations.operator_reset(deps, username, reason=reason)
    except ValidationFailed:
        typer.echo("sparekey: give a reason of 1 to 500 characters with --reason", err=True)
        raise typer.Exit(1) from None
    if not done:
        typer.echo(f"sparekey: no account named {username!r}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps({"username": username, "reset": True}))


@admin.command("org-create")
def create_organisation(
    name: str = typer.Argument(..., help="the organisation's name"),
    owner: str = typer.Option(..., "--owner", help="the account that becomes its owner"),
) -> None:
    """Create an organisation with an existing account as its owner. Prints {"id", "name", "owner"}."""
    import json

    from sparekey.core.errors import ValidationFailed
    from sparekey.core.flows import organisations

    deps = _deps_with_current_schema()
    try:
        made = organisations.operator_create(deps, name, owner=owner)
    except ValidationFailed:
        typer.echo("sparekey: give a name of 1 to 64 characters", err=True)
        raise typer.Exit(1) from None
    if made is None:
        typer.echo(f"sparekey: no account named {owner!r}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps({"id": made.id, "name": made.name, "owner": owner}))


def _groups_command(username: str, group: str | None = None, *, add: bool = False) -> None:
    """groups (no ``group``), group-add, group-remove: ``{"username", "groups", "forward_auth_groups"}``."""
    import json

    from sparekey.core.errors import NotFound, ValidationFailed
    from sparekey.core.flows import forward_auth

    deps = _deps_with_current_schema()
    try:
        if group is None:
            view = forward_auth.account_groups(deps, username)
        elif add:
            view = forward_auth.add_group(deps, username, group)
        else:
            view = forward_auth.remove_group(deps, username, group)
    except NotFound:
        typer.echo(f"sparekey: no account named {username!r}", err=True)
        raise typer.Exit(1) from None
    except ValidationFailed:
        typer.echo(
            f"sparekey: {group!r} is not a group name: 1 to 64 lower-case letters, digits, '.', '_' "
            "or '-', starting with a letter or digit",
            err=True,
        )
        raise typer.Exit(1) from None
    if view.organisation_ids and group is not None:
        typer.echo(
            f"sparekey: note: {view.username} belongs to organisations, so forward-auth names their "
            "groups (org:<id>) instead of this list while that lasts",
            err=True,
        )
    groups = {"groups": list(view.groups), "forward_auth_groups": list(view.effective)}
    typer.echo(json.dumps({"username": view.username, **groups}))


@admin.command("group-add")
def add_group(
    username: str = typer.Argument(..., help="the account"),
    group: str = typer.Argument(..., help="the group: lower-case letters, digits, '.', '_', '-'"),
) -> None:
    """Put an account in a group that forward-auth rules can name (used while the account belongs
    to no organisation). Prints {"username", "groups", "forward_auth_groups"}."""
    _groups_command(username, group, add=True)


@admin.command("group-remove")
def remove_group(
    username: str = typer.Argument(..., help="the account"),
    group: str = typer.Argument(..., help="the group"),
) -> None:
    """Take an account out of a group. Prints {"username", "groups", "forward_auth_groups"}."""
    _groups_command(username, group)


@admin.command("groups")
def show_groups(username: str = typer.Argument(..., help="the account")) -> None:
    """An account's groups, and those forward-auth sends in Remote-Groups (its organisations' when
    it belongs to any). Prints {"username", "groups", "forward_auth_groups"}."""
    _groups_command(username)
