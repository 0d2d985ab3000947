"""``dockyard connections ...`` and ``dockyard rotate-fernet-key``. Passwords are never printed."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click
import yaml

from dockyard.cli.common import fail, friendly, open_store
from dockyard.cli.output import emit, output_option
from dockyard.connections import Connection, Connections
from dockyard.settings import Settings


def _connections(settings: Settings) -> Connections:
    return Connections(settings, open_store(settings))


@click.group()
def connections() -> None:
    """Manage connections: registries and engines (passwords and extras are encrypted at rest)."""


@connections.command("add")
@click.argument("conn_id")
@click.option("--conn-uri", help="The whole connection as a URI: docker://login:password@registry:5000?email=...")
@click.option("--conn-json", help="The whole connection as Airflow's JSON form.")
@click.option("--conn-type", help="The connection type, e.g. docker.")
@click.option("--conn-host", help="Host; for a docker connection, the registry.")
@click.option("--conn-login", help="Login.")
@click.option("--conn-password", help="Password (stored encrypted, never printed).")
@click.option("--conn-schema", help="Schema.")
@click.option("--conn-port", type=int, help="Port.")
@click.option("--conn-extra", help='Extra fields as a JSON object, e.g. \'{"email": "ci@example.com"}\'.')
@click.option("--conn-description", help="What the connection is for.")
@click.option("--replace", is_flag=True, help="Replace a connection with the same id.")
@click.pass_obj
@friendly
def connections_add(
    settings: Settings,
    conn_id: str,
    conn_uri: str | None,
    conn_json: str | None,
    conn_type: str | None,
    conn_host: str | None,
    conn_login: str | None,
    conn_password: str | None,
    conn_schema: str | None,
    conn_port: int | None,
    conn_extra: str | None,
    conn_description: str | None,
    replace: bool,
) -> None:
    """Add connection CONN_ID from a URI, Airflow's JSON form, or --conn-* fields."""
    fields = [conn_type, conn_host, conn_login, conn_password, conn_schema, conn_port, conn_extra]
    if sum(x is not None for x in (conn_uri, conn_json)) + (any(f is not None for f in fields)) > 1:
        raise click.UsageError("give one of --conn-uri, --conn-json or --conn-* fields")
    if conn_uri:
        conn = Connection.from_uri(conn_id, conn_uri)
    elif conn_json:
        conn = Connection.from_json(conn_id, conn_json)
    else:
        if conn_type is None:
            raise click.UsageError("give --conn-uri, --conn-json, or at least --conn-type")
        conn = Connection.from_json(
            conn_id,
            {
                "conn_type": conn_type,
                "host": conn_host,
                "login": conn_login,
                "password": conn_password,
                "schema": conn_schema,
                "port": conn_port,
                "extra": conn_extra,
            },
        )
    if conn_description:
        conn = dataclasses.replace(conn, description=conn_description)
    _connections(settings).add(conn, replace=replace)
    click.echo(f"Connection {conn_id} added ({conn.conn_type}, host {conn.host or '-'}).")


@connections.command("get")
@click.argument("conn_id")
@output_option
@click.option("--color", type=click.Choice(["auto", "on", "off"]), default="auto", help="Accepted: output is plain.")
@click.pass_obj
@friendly
def connections_get(settings: Settings, conn_id: str, output: str, color: str) -> None:
    """Show connection CONN_ID (the password as ***)."""
    emit([_connections(settings).get(conn_id).shown()], output)


@connections.command("list")
@click.option("--conn-id", help="Only this connection.")
@output_option
@click.pass_obj
@friendly
def connections_list(settings: Settings, conn_id: str | None, output: str) -> None:
    """List connections (passwords as ***)."""
    found = [c.shown() for c in _connections(settings).list() if conn_id is None or c.conn_id == conn_id]
    emit(found, output, empty="No connections.")


@connections.command("delete")
@click.argument("conn_id")
@click.option("--color", type=click.Choice(["auto", "on", "off"]), default="auto", help="Accepted: output is plain.")
@click.pass_obj
@friendly
def connections_delete(settings: Settings, conn_id: str, color: str) -> None:
    """Delete connection CONN_ID."""
    _connections(settings).delete(conn_id)
    click.echo(f"Connection {conn_id} deleted.")


@connections.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format", "file_format", type=click.Choice(["json", "yaml", "env"]), help="Default: from the file ending."
)
@click.option("--file-format", "old_format", type=click.Choice(["json", "yaml", "env"]), help="Deprecated: --format.")
@click.option(
    "--serialization-format",
    type=click.Choice(["uri", "json"]),
    default="uri",
    show_default=True,
    help="How a .env file writes each connection.",
)
@click.pass_obj
@friendly
def connections_export(
    settings: Settings, path: Path, file_format: str | None, old_format: str | None, serialization_format: str
) -> None:
    """Export all connections, secrets included, to a file readable only by you (mode 0600)."""
    given = file_format or old_format
    kind = given or {".yaml": "yaml", ".yml": "yaml", ".env": "env"}.get(path.suffix, "json")
    conns = _connections(settings).list()
    if kind == "env":
        text = "".join(f"{c.conn_id}={_env_value(c, serialization_format)}\n" for c in conns)
    else:
        data = {c.conn_id: {k: v for k, v in dataclasses.asdict(c).items() if k != "conn_id"} for c in conns}
        text = json.dumps(data, indent=2) if kind == "json" else yaml.safe_dump(data, sort_keys=False)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)
    click.echo(f"{len(conns)} connection(s) exported to {path} (mode 0600: it holds their secrets).")


def _env_value(conn: Connection, serialization_format: str) -> str:
    if serialization_format == "uri":
        return conn.get_uri()
    return json.dumps({k: v for k, v in dataclasses.asdict(conn).items() if k != "conn_id"})


@connections.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace connections that exist already.")
@click.pass_obj
@friendly
def connections_import(settings: Settings, path: Path, overwrite: bool) -> None:
    """Add every connection of a JSON, YAML or .env file (as written by export)."""
    text = path.read_text()
    if path.suffix == ".env":
        items = {}
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip() and not line.lstrip().startswith("#"):
                key, sep, value = line.partition("=")
                if not sep:
                    fail(f"{path}:{number}: expected CONN_ID=URI")
                items[key.strip()] = Connection.parse(key.strip(), value.strip())
    else:
        try:
            data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
        except (ValueError, yaml.YAMLError) as exc:
            fail(f"{path} cannot be read: {exc}")
        if not isinstance(data, dict):
            fail(f"{path} must map connection ids to connections")
        items = {
            k: Connection.parse(k, v) if isinstance(v, str) else Connection.from_json(k, v) for k, v in data.items()
        }
    store = _connections(settings)
    for conn in items.values():
        store.add(conn, replace=overwrite)
    click.echo(f"{len(items)} connection(s) imported.")


@click.command("rotate-fernet-key")
@click.pass_obj
@friendly
def rotate_fernet_key(settings: Settings) -> None:
    """Re-encrypt every stored secret (connections, variables) with the first key of DOCKYARD_FERNET_KEY="new,old"."""
    from dockyard.variables import Variables

    store = open_store(settings)
    count = Connections(settings, store).rotate()
    variables = Variables(settings, store).rotate()
    click.echo(
        f"Re-encrypted {count} connection secret(s) and {variables} variable(s) with the new key; "
        "the old key can be dropped from DOCKYARD_FERNET_KEY."
    )


@connections.command("test")
@click.argument("conn_id")
@click.pass_obj
@friendly
def connections_test(settings: Settings, conn_id: str) -> None:
    """Test a docker connection: the engine its tasks use logs in to its registry, as before a pull.

    Exits 1 when the test fails, saying what failed (the engine, the registry's host, the login) and what
    would be right; the password never appears in the message.
    """
    from dockyard.container.engine import EngineClients
    from dockyard.registry_login import check_docker_login

    conn = _connections(settings).get(conn_id)
    clients = EngineClients(docker_host=settings.docker_host)
    try:
        result = check_docker_login(conn, clients, settings.default_docker_url)
    finally:
        clients.close()
    if not result.ok:
        fail(f"Connection failed!\n{result.message}")
    click.echo(f"Connection success!\n{result.message}")
