"""`justlink serve`: the embedded deployment in one process — processors, views, API, web."""

from __future__ import annotations

import click


def serve_hub(hub, host: str, port: int, services=None) -> None:
    """Start the background loops and the HTTP server on an already opened Hub (and its services, when
    the caller built them already; closed here either way)."""
    import uvicorn

    from hub.api.app import create_app
    from hub.cli.remote import advertise, withdraw
    from hub.services.context import AppServices

    hub.claim_writers()  # refuse at once if another process writes this data directory
    services = services or AppServices.for_embedded(hub)
    app = create_app(services)
    hub.start_background()
    advertise(hub.settings.data_dir, f"http://{host}:{port}")  # CLI commands go through this server
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        withdraw(hub.settings.data_dir)
        hub.stop_background()
        services.close()


@click.command()
@click.option("--host", default=None, help="Bind address (default settings.api_host, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default settings.api_port, 8000).")
@click.pass_obj
def serve(settings, host: str | None, port: int | None) -> None:
    """Run processors, views and the API + web page in one process (chDB allows one per data dir)."""
    from hub.bootstrap import Hub

    hub = Hub(settings)
    try:
        click.echo(f"JustLink on http://{host or settings.api_host}:{port or settings.api_port}/ "
                   f"(API docs at /docs); Ctrl-C to stop")
        serve_hub(hub, host or settings.api_host, port or settings.api_port)
    finally:
        hub.close()
