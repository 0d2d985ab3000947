"""``dockyard users ...`` and ``dockyard webserver``."""

from __future__ import annotations

import click

from dockyard.cli.common import friendly, open_store
from dockyard.cli.output import emit, output_option
from dockyard.settings import Settings
from dockyard.users import ROLES, create_user


@click.group()
def users() -> None:
    """People and API clients of the web app (roles: admin, viewer)."""


@users.command("create")
@click.option("-u", "--username", required=True)
@click.option("-p", "--password", help="At least 8 characters; asked for when not given.")
@click.option("-r", "--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("-e", "--email")
@click.option("-f", "--firstname")
@click.option("-l", "--lastname")
@click.option("--use-random-password", is_flag=True, help="Make up a password and print it once.")
@click.pass_obj
@friendly
def users_create(
    settings: Settings,
    username: str,
    password: str | None,
    role: str,
    email: str | None,
    firstname: str | None,
    lastname: str | None,
    use_random_password: bool,
) -> None:
    """Create a user (Airflow's flags are accepted)."""
    from dockyard.users import random_password

    if use_random_password:
        password = random_password()
        click.echo(f"Password for {username}: {password}")
    elif password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    create_user(open_store(settings), username, password, role, email=email, first_name=firstname, last_name=lastname)
    click.echo(f"User {username} created ({role}).")


@users.command("token")
@click.option("-u", "--username", help="The user the new token acts as (or whose tokens --list shows).")
@click.option("-d", "--description", help="What the token is for.")
@click.option(
    "--expires",
    help="Lifetime of the new token: 90d, 12h, 30m or never (default DOCKYARD_API_TOKEN_EXPIRE_DAYS days).",
)
@click.option("--revoke", "revoke", metavar="TOKEN_OR_ID", help="Revoke a token, given as itself or as its id.")
@click.option("--list", "list_tokens", is_flag=True, help="List tokens (ids, users, expiry; never the tokens).")
@output_option
@click.pass_obj
@friendly
def users_token(
    settings: Settings,
    username: str | None,
    description: str | None,
    expires: str | None,
    revoke: str | None,
    list_tokens: bool,
    output: str,
) -> None:
    """Make an API token for a user: send it as `Authorization: Bearer TOKEN`. It is printed only this once.

    With --revoke, delete a token; with --list, show the tokens' ids. Deleting a user deletes its tokens.
    """
    import datetime as dt

    from dockyard.users import create_token, parse_lifetime, revoke_token, token_digest, token_id

    store = open_store(settings)
    if revoke:
        count = revoke_token(store, revoke)
        click.echo(f"Revoked {count} token(s).")
        return
    if list_tokens:
        emit(
            [
                {
                    "id": token_id(t.digest),
                    "username": t.username,
                    "description": t.description,
                    "created_at": t.created_at.isoformat(),
                    "expires_at": t.expires_at.isoformat() if t.expires_at else "never",
                }
                for t in store.list_tokens(username)
            ],
            output,
            empty="No tokens.",
        )
        return
    if not username:
        raise click.UsageError("give -u/--username for the new token (or --list / --revoke)")
    if expires is not None:
        lifetime = parse_lifetime(expires)
    else:
        days = settings.api_token_expire_days
        lifetime = dt.timedelta(days=days) if days else None
    token = create_token(store, username, description, lifetime=lifetime)
    click.echo(token)
    click.echo(f"Token id {token_id(token_digest(token))} (for --revoke).", err=True)


@users.command("list")
@output_option
@click.pass_obj
@friendly
def users_list(settings: Settings, output: str) -> None:
    """Every user with its role (never its password hash)."""
    emit(
        [
            {
                "username": u.username,
                "role": u.role,
                "email": u.email,
                "first_name": u.first_name,
                "last_name": u.last_name,
            }
            for u in open_store(settings).list_users()
        ],
        output,
        empty="No users.",
    )


@users.command("delete")
@click.option("-u", "--username", required=True)
@click.pass_obj
@friendly
def users_delete(settings: Settings, username: str) -> None:
    """Delete a user, with its API tokens and web sessions."""
    open_store(settings).delete_user_and_credentials(username)
    click.echo(f"User {username} deleted.")


@click.command("webserver")
@click.option("-H", "--hostname", help="Where to listen (default DOCKYARD_WEB_HOST, 127.0.0.1).")
@click.option("-p", "--port", type=int, help="Port (default DOCKYARD_WEB_PORT, 8080).")
@click.pass_obj
@friendly
def webserver(settings: Settings, hostname: str | None, port: int | None) -> None:
    """Serve the web UI and the /api/v1 API until Ctrl-C."""
    import uvicorn

    from dockyard.web import create_app

    app = create_app(settings, open_store(settings))
    click.echo(f"Web UI on http://{hostname or settings.web_host}:{port or settings.web_port}", err=True)
    uvicorn.run(app, host=hostname or settings.web_host, port=port or settings.web_port, log_level="warning")
