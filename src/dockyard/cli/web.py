"""``dockyard webserver``: the web UI and the /api/v1 API."""

from __future__ import annotations

import click

from dockyard.cli.common import friendly, open_store
from dockyard.defaults import DEFAULT_WEB_SHUTDOWN_SECONDS
from dockyard.settings import Settings


@click.command("webserver")
@click.option("-H", "--hostname", help="Where to listen (default DOCKYARD_WEB_HOST, 127.0.0.1).")
@click.option("-p", "--port", type=int, help="Port (default DOCKYARD_WEB_PORT, 8080).")
@click.option("--ssl-cert", type=click.Path(exists=True, dir_okay=False), help="Serve HTTPS with this certificate.")
@click.option("--ssl-key", type=click.Path(exists=True, dir_okay=False), help="The certificate's private key.")
@click.pass_obj
@friendly
def webserver(
    settings: Settings, hostname: str | None, port: int | None, ssl_cert: str | None, ssl_key: str | None
) -> None:
    """Start the web server: the web UI and the /api/v1 API, until Ctrl-C."""
    import uvicorn

    from dockyard.web import create_app

    app = create_app(settings, open_store(settings))
    if bool(ssl_cert) != bool(ssl_key):
        raise click.UsageError("give both --ssl-cert and --ssl-key to serve HTTPS")
    scheme = "https" if ssl_cert else "http"
    click.echo(f"Web UI on {scheme}://{hostname or settings.web_host}:{port or settings.web_port}", err=True)
    uvicorn.run(
        app,
        host=hostname or settings.web_host,
        port=port or settings.web_port,
        log_level="warning",
        ssl_certfile=ssl_cert,
        ssl_keyfile=ssl_key,
        timeout_graceful_shutdown=DEFAULT_WEB_SHUTDOWN_SECONDS,
    )
