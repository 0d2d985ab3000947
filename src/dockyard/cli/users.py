"""``dockyard users ...``: people and API clients of the web app, with Airflow's commands, flags and roles.

Airflow's five roles are accepted in any case (``--role admin`` or ``--role Admin``) and keep Airflow's
meaning (:mod:`dockyard.roles`). A dockyard user has one role: ``add-role``
replaces it, and ``remove-role`` of a user's only role is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from argon2 import PasswordHasher

from dockyard import users as accounts
from dockyard.cli.common import fail, friendly, open_store
from dockyard.cli.output import emit, output_option
from dockyard.errors import ConfigError, NotFoundError
from dockyard.roles import Role, role_of
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.store.models import UserModel

AIRFLOW_ROLES = tuple(role.airflow_name for role in Role)
"""Airflow's built-in roles, in the order of the rights they grant."""


def stored_role(name: str) -> str:
    """The role the store keeps for Airflow's role ``name`` (any case); a clear error for anything else."""
    try:
        return role_of(name).value
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--role") from None


def airflow_role(stored: str) -> str:
    """The stored role under Airflow's spelling (``admin`` -> ``Admin``)."""
    return next((r for r in AIRFLOW_ROLES if r.lower() == stored.lower()), stored)


def _user(store: Store, username: str | None, email: str | None) -> UserModel:
    """The user named by ``-u`` or ``-e`` (exactly one of them, as in Airflow)."""
    if bool(username) == bool(email):
        raise click.UsageError("give exactly one of -u/--username or -e/--email")
    found = [u for u in store.list_users() if (u.username == username if username else u.email == email)]
    if not found:
        what = f"username {username!r}" if username else f"email {email!r}"
        raise NotFoundError(f"no user with {what}; `dockyard users list` shows the users")
    return found[0]


def _password(password: str | None, use_random_password: bool, username: str) -> str:
    if use_random_password:
        password = accounts.random_password()
        click.echo(f"Password for {username}: {password}")
    elif password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@click.group()
def users() -> None:
    """Manage users (roles: Admin, Op, User, Viewer, Public, in any case)."""


@users.command("create")
@click.option("-u", "--username", required=True)
@click.option("-p", "--password", help="At least 8 characters; asked for when not given.")
@click.option("-r", "--role", default="Viewer", show_default=True, help=f"One of {', '.join(AIRFLOW_ROLES)}.")
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
    """Create a user."""
    stored = stored_role(role)
    password = _password(password, use_random_password, username)
    store = open_store(settings)
    accounts.create_user(store, username, password, stored, email=email, first_name=firstname, last_name=lastname)
    click.echo(f"User {username} created with role {airflow_role(stored)}.")


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
    """List users with their roles (never a password hash)."""
    emit(
        [
            {
                "username": u.username,
                "email": u.email,
                "first_name": u.first_name,
                "last_name": u.last_name,
                "roles": [airflow_role(u.role)],
            }
            for u in open_store(settings).list_users()
        ],
        output,
        empty="No users.",
    )


@users.command("delete")
@click.option("-u", "--username")
@click.option("-e", "--email")
@click.pass_obj
@friendly
def users_delete(settings: Settings, username: str | None, email: str | None) -> None:
    """Delete a user, with its API tokens and web sessions."""
    store = open_store(settings)
    user = _user(store, username, email)
    store.delete_user_and_credentials(user.username)
    click.echo(f"User {user.username} deleted.")


@users.command("reset-password")
@click.option("-u", "--username")
@click.option("-e", "--email")
@click.option("-p", "--password", help="At least 8 characters; asked for when not given.")
@click.option("--use-random-password", is_flag=True, help="Make up a password and print it once.")
@click.pass_obj
@friendly
def users_reset_password(
    settings: Settings, username: str | None, email: str | None, password: str | None, use_random_password: bool
) -> None:
    """Reset a user's password."""
    store = open_store(settings)
    user = _user(store, username, email)
    password = _password(password, use_random_password, user.username)
    if len(password) < 8:
        raise ConfigError("the password must have at least 8 characters")
    user.password_hash = PasswordHasher().hash(password)
    store.put_user(user, replace=True)
    click.echo(f"{user.username} password reset.")


def _change_role(settings: Settings, username: str | None, email: str | None, role: str, *, remove: bool) -> None:
    store = open_store(settings)
    user = _user(store, username, email)
    stored = stored_role(role)
    has = user.role.lower() == stored.lower()
    if remove:
        if not has:
            fail(f'User "{user.username}" does not have role "{airflow_role(stored)}"')
        fail(
            f'"{airflow_role(stored)}" is the only role of user "{user.username}" (a dockyard user has one role): '
            "give it another with `dockyard users add-role`, or delete the user"
        )
    if has:
        fail(f'User "{user.username}" is already a member of role "{airflow_role(stored)}"')
    before = airflow_role(user.role)
    user.role = stored
    store.put_user(user, replace=True)
    click.echo(
        f'User "{user.username}" added to role "{airflow_role(stored)}" (it replaces "{before}": one role each).'
    )


def _role_command(name: str, help_text: str, *, remove: bool) -> click.Command:
    """``users add-role`` and ``users remove-role``: Airflow's same options, one change each way."""

    @click.option("-u", "--username")
    @click.option("-e", "--email")
    @click.option("-r", "--role", required=True, help=f"One of {', '.join(AIRFLOW_ROLES)}.")
    @click.pass_obj
    @friendly
    def change(settings: Settings, username: str | None, email: str | None, role: str) -> None:
        _change_role(settings, username, email, role, remove=remove)

    return users.command(name, help=help_text)(change)


users_add_role = _role_command(
    "add-role", "Add role to a user (a dockyard user has one role: this one replaces the old).", remove=False
)
users_remove_role = _role_command(
    "remove-role", "Remove role from a user (refused for the user's only role).", remove=True
)


@users.command("export")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
@friendly
def users_export(settings: Settings, path: Path) -> None:
    """Export all users to a JSON file in Airflow's format (no passwords)."""
    rows = open_store(settings).list_users()
    data = [
        {
            "username": u.username,
            "email": u.email,
            "firstname": u.first_name,
            "lastname": u.last_name,
            "roles": [airflow_role(u.role)],
        }
        for u in rows
    ]
    path.write_text(json.dumps(data, sort_keys=True, indent=4))
    click.echo(f"{len(rows)} users successfully exported to {path}")


@users.command("import")
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
@friendly
def users_import(settings: Settings, path: Path) -> None:
    """Import users from a JSON file as `airflow users export` writes it.

    Existing users (by username) get the file's role and names; new users get a random password nobody is
    told: set one with `dockyard users reset-password`.
    """
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        fail(f"{path} is not JSON ({exc}); write a list of users as `dockyard users export` does")
    if not isinstance(data, list):
        fail(f'{path} must hold a JSON list like [{{"username": "ada", "email": ..., "roles": ["Viewer"]}}]')
    wanted = [_imported(item, number) for number, item in enumerate(data)]
    store = open_store(settings)
    existing = {u.username: u for u in store.list_users()}
    created, updated = [], []
    for item in wanted:
        user = existing.get(item["username"])
        if user is None:
            accounts.create_user(
                store,
                item["username"],
                accounts.random_password(),
                item["role"],
                email=item["email"],
                first_name=item["firstname"],
                last_name=item["lastname"],
            )
            created.append(item["username"])
            continue
        user.role, user.email = item["role"], item["email"]
        user.first_name, user.last_name = item["firstname"], item["lastname"]
        store.put_user(user, replace=True)
        updated.append(item["username"])
    if created:
        click.echo(f"Created the following users:\n\t{chr(10).join(created)}")
    if updated:
        click.echo(f"Updated the following users:\n\t{chr(10).join(updated)}")


def _imported(item: Any, number: int) -> dict[str, Any]:
    """One user of an import file, checked: every field Airflow's file has, and one role dockyard keeps."""
    missing = [
        k
        for k in ("username", "email", "firstname", "lastname", "roles")
        if not isinstance(item, dict) or k not in item
    ]
    if missing:
        fail(f"[Item {number}] lacks {', '.join(missing)}; each user needs username, email, firstname, lastname, roles")
    roles = item["roles"]
    if not isinstance(roles, list) or not roles:
        fail(f'[Item {number}] roles must be a list of one role, e.g. ["Viewer"]')
    if len(roles) > 1:
        fail(f"[Item {number}] has roles {roles}: a dockyard user has one role; keep the one it needs")
    return {**item, "role": stored_role(str(roles[0]))}
