"""`justlink` — the command line. Each command group lives in its own module and is
imported only when used, so `justlink --help` stays fast and modules stay small."""

from __future__ import annotations

import importlib
import os
import signal
import sys

import click

# command name -> "module:attribute"
COMMANDS: dict[str, str] = {
    "schemas": "hub.cli.schemas_cmd:schemas",
    "keys": "hub.cli.keys_cmd:keys",
    "erase": "hub.cli.keys_cmd:erase",
    "generate": "hub.cli.generate_cmd:generate",
    "connector": "hub.cli.connector_cmd:connector",
    "resolve": "hub.cli.streams_cmd:resolve",
    "identity": "hub.cli.identity_cmd:identity",
    "process": "hub.cli.streams_cmd:process",
    "worker": "hub.cli.streams_cmd:worker",
    "views": "hub.cli.views_cmd:views",
    "person": "hub.cli.person_cmd:person",
    "alerts": "hub.cli.alerts_cmd:alerts",
    "case": "hub.cli.case_cmd:case",
    "consent": "hub.cli.consent_cmd:consent",
    "audit": "hub.cli.audit_cmd:audit",
    "dashboard": "hub.cli.bureau_cmd:dashboard",
    "handovers": "hub.cli.bureau_cmd:handovers",
    "party": "hub.cli.party_cmd:party",
    "similar": "hub.cli.similar_cmd:similar",
    "intake-check": "hub.cli.similar_cmd:intake_check",
    "users": "hub.cli.users_cmd:users",
    "serve": "hub.cli.serve_cmd:serve",
    "demo": "hub.cli.demo_cmd:demo",
}
# Commands that read no settings and no data directory: they start without loading them (`justlink
# resolve` is timed against other linkage tools including its start-up, bench_febrl).
WITHOUT_SETTINGS = frozenset({"resolve"})


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module_name, attr = COMMANDS[cmd_name].split(":")
            command: click.Command = getattr(importlib.import_module(module_name), attr)
            return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        """A part of the hub that cannot be used is an error message naming it, not a traceback."""
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if _operational(exc):
                raise click.ClickException(str(exc)) from None
            raise


def _operational(exc: Exception) -> bool:
    """An event log, view store, keystore or data directory that cannot be used (errors that name what
    and say what to do) — printed as such, never as a traceback."""
    from runtime.datadir import DataDirBusy
    from runtime.eventlog.base import EventLogError

    named: tuple[type[Exception], ...] = (EventLogError, DataDirBusy)
    for module, name in (("runtime.viewstore.store", "ViewStoreError"), ("consent.privacy.keys.base", "KeystoreError"),
                         ("consent.access.audit.keys", "AuditError"), ("runtime.statecodec", "StateCodecError")):
        loaded = sys.modules.get(module)  # not imported: the error cannot be one of its
        if loaded is not None:
            named += (getattr(loaded, name),)
    return isinstance(exc, named)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="justlink", prog_name="justlink")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Data directory (default ./.justlink, or JUSTLINK_DATA_DIR).")
@click.option("--config", type=click.Path(dir_okay=False), default=None,
              help="Settings file (default ./justlink.toml, or JUSTLINK_CONFIG).")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None, config: str | None) -> None:
    """JustLink: share records of people and disputes across courts, police,
    civil affairs and the justice bureau — encrypted, purpose-bound, audited."""
    if config:
        os.environ["JUSTLINK_CONFIG"] = config
    if data_dir:
        os.environ["JUSTLINK_DATA_DIR"] = data_dir
    if ctx.invoked_subcommand in WITHOUT_SETTINGS:
        return
    from runtime.settings import SettingsError, get_settings

    get_settings.cache_clear()
    try:
        ctx.obj = get_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if ctx.obj.schema_registry_url:
        # producers take schema ids from the registry instead of schemas/registry.json
        from hub.bootstrap import schema_registry
        from schemas.wire import use_registry

        use_registry(schema_registry(ctx.obj))


def _stop_gracefully(signum: int, _frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C: every `finally` runs, so a writer closes what it holds (the
    audit trail signs its head, the processors snapshot). uvicorn hands SIGTERM back to this handler
    once the server has shut down."""
    raise SystemExit(128 + signum)


def main() -> None:
    os.umask(0o077)  # everything the hub writes in its data directory holds data or keys: 0600 / 0700
    signal.signal(signal.SIGTERM, _stop_gracefully)
    cli(prog_name="justlink")


if __name__ == "__main__":
    main()
