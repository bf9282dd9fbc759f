"""`justlink audit` — verify the hash-chained audit trail and export its public key."""

from __future__ import annotations

from pathlib import Path

import click

from hub.settings import Settings


def _public_key(settings: Settings, public_key_file: str | None):
    from consent.audit import SIGNING_KEY_FILE, AuditError, load_or_create_signing_key, load_public_key

    try:
        if public_key_file:
            return load_public_key(Path(public_key_file).read_bytes())
        if not (Path(settings.data_dir) / SIGNING_KEY_FILE).exists():
            raise click.ClickException(f"no audit signing key in {settings.data_dir}; pass --public-key FILE")
        return load_or_create_signing_key(settings.data_dir).public_key()
    except (AuditError, OSError) as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def audit() -> None:
    """The audit trail of every access: verify it, export its verification key."""


@audit.command()
@click.option("--public-key", "public_key_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Verify against this exported public key (default: the key in the data directory).")
@click.pass_obj
def verify(settings: Settings, public_key_file: str | None) -> None:
    """Recompute the hash chain and check every signed checkpoint. Exits 1 naming the first
    bad record if anything was altered, removed, reordered or truncated."""
    from consent.audit import read_trail
    from consent.audit import verify as verify_trail
    from hub.eventlog import open_event_log

    key = _public_key(settings, public_key_file)
    with open_event_log(settings) as log:
        records, checkpoints = read_trail(log)
    result = verify_trail(records, checkpoints, key)
    if result.ok:
        click.echo(f"OK: {result.reason}")
        return
    click.echo(f"FAILED: first bad record is seq {result.first_bad_seq}: {result.reason}", err=True)
    raise SystemExit(1)


@audit.command("export-key")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write to FILE instead of stdout.")
@click.pass_obj
def export_key(settings: Settings, out: str | None) -> None:
    """Print the audit trail's Ed25519 public key (PEM), so anyone can verify it."""
    from consent.audit import key_id, public_key_pem

    key = _public_key(settings, None)
    pem = public_key_pem(key)
    if out:
        Path(out).write_bytes(pem)
        click.echo(f"public key {key_id(key)} written to {out}", err=True)
    else:
        click.echo(pem.decode("ascii"), nl=False)
