"""`justlink users` — the registry of callers, their roles and API tokens."""

from __future__ import annotations

from datetime import timedelta

import click

from runtime.settings import Settings


def _registry(settings: Settings):
    from consent.access.policy import PolicyError, load_policy
    from consent.access.users import UserRegistry

    try:
        roles = load_policy().roles
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from None
    return UserRegistry.open(settings.data_dir, known_roles=roles)


@click.group()
def users() -> None:
    """Users, their roles, organisation and offices, and their API tokens."""


@users.command()
@click.argument("user_id")
@click.option("--role", "roles", multiple=True, required=True, help="A policy role (repeatable).")
@click.option("--org", "organisation", required=True, help="Organisation, e.g. court:xx-basic-court.")
@click.option("--office", "offices", multiple=True, help="Office code (repeatable); supervision is by office.")
@click.option("--name", "display_name", default="", help="Display name.")
@click.pass_obj
def add(settings: Settings, user_id: str, roles: tuple[str, ...], organisation: str, offices: tuple[str, ...],
        display_name: str) -> None:
    """Add a user."""
    from consent.access.users import UserError

    with _registry(settings) as registry:
        try:
            user = registry.create_user(user_id, roles=roles, organisation=organisation, offices=offices,
                                        display_name=display_name)
        except UserError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"added {user.user_id} ({', '.join(user.roles)}) of {user.organisation}")


@users.command("list")
@click.pass_obj
def list_users(settings: Settings) -> None:
    """List users."""
    with _registry(settings) as registry:
        for user in registry.list_users():
            state = " (disabled)" if user.disabled else ""
            click.echo(f"{user.user_id}\t{','.join(user.roles)}\t{user.organisation}\t"
                       f"{','.join(user.offices) or '-'}\t{registry.active_tokens(user.user_id)} tokens{state}")


@users.command()
@click.argument("user_id")
@click.option("--days", type=click.IntRange(1, 365), default=30, show_default=True, help="Validity.")
@click.pass_obj
def token(settings: Settings, user_id: str, days: int) -> None:
    """Issue an API token (shown once; only its hash is stored)."""
    from consent.access.users import UserError

    with _registry(settings) as registry:
        try:
            issued = registry.issue_token(user_id, ttl=timedelta(days=days))
        except UserError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(issued.token)
    click.echo(f"expires {issued.expires_at:%Y-%m-%d %H:%M} UTC", err=True)


@users.command()
@click.option("--token", "token_value", default=None, help="Revoke this token.")
@click.option("--user", "user_id", default=None, help="Revoke every token of this user.")
@click.pass_obj
def revoke(settings: Settings, token_value: str | None, user_id: str | None) -> None:
    """Revoke one token, or all tokens of a user."""
    if bool(token_value) == bool(user_id):
        raise click.UsageError("give exactly one of --token or --user")
    with _registry(settings) as registry:
        if token_value:
            if not registry.revoke_token(token_value):
                raise click.ClickException("no such active token")
            click.echo("token revoked")
        else:
            click.echo(f"{registry.revoke_user_tokens(user_id)} tokens of {user_id} revoked")
