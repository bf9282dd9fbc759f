"""`justlink keys ...` (keystore) and `justlink erase` (crypto-shredding of data subjects)."""

from __future__ import annotations

import os

import click

from consent.privacy.erasure import erase_subjects, validate_subject_keys
from consent.privacy.keys import KeystoreError, init_keystore, load_master_key, open_keystore


def _settings(ctx: click.Context):
    if ctx.obj is None:
        from runtime.settings import get_settings

        ctx.obj = get_settings()
    return ctx.obj


def _open(ctx: click.Context):
    settings = _settings(ctx)
    try:
        return open_keystore(settings.data_dir, settings.master_key_file)
    except KeystoreError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def keys() -> None:
    """Keystore: master key, agency KEKs, data keys, matching key."""


@keys.command("init")
@click.pass_context
def init_cmd(ctx: click.Context) -> None:
    """Create the master key file (unless JUSTLINK_MASTER_KEY is set) and the keystore. Idempotent."""
    settings = _settings(ctx)
    try:
        report = init_keystore(settings.data_dir, settings.master_key_file)
    except KeystoreError as exc:
        raise click.ClickException(str(exc)) from None
    if report.created_master_key:
        click.echo(f"created master key {report.master_key_source.removeprefix('file ')} (mode 0600; never commit it)")
    click.echo(f"master key: {report.master_key_source}")
    state = "created" if report.created_keystore else "already initialised"
    click.echo(f"keystore {report.keystore}: {state}")


@keys.command("rotate")
@click.option("--agency", required=True, help="Agency whose KEK gets a new version, e.g. court.")
@click.pass_context
def rotate_cmd(ctx: click.Context, agency: str) -> None:
    """Add a KEK version for an agency and re-wrap its data keys. Old events stay readable."""
    store = _open(ctx)
    try:
        result = store.rotate_kek(agency)
    except KeystoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(
        f"agency {result.agency}: KEK v{result.old_version or 0} -> v{result.new_version}, "
        f"{result.deks_rewrapped} data keys re-wrapped"
    )


@keys.command("status")
@click.pass_context
def status_cmd(ctx: click.Context) -> None:
    """Versions and counts (never key material)."""
    settings = _settings(ctx)
    store = _open(ctx)
    try:
        status = store.status()
    finally:
        store.close()
    source = load_master_key(settings.data_dir, settings.master_key_file).source
    click.echo(f"keystore: {status.location}")
    click.echo(f"master key: {source}")
    click.echo(f"matching key: v{status.matching_key_version} (not rotated with KEKs)")
    click.echo(f"erasure epoch: {status.erasure_epoch}")
    click.echo(f"{'agency':<14} {'KEK':>4} {'versions':>8} {'DEKs live':>10} {'DEKs erased':>12}")
    for agency in status.agencies:
        click.echo(
            f"{agency.agency:<14} {'v' + str(agency.kek_version):>4} {agency.kek_versions:>8} "
            f"{agency.deks_live:>10} {agency.deks_erased:>12}"
        )


keys.add_command(status_cmd, "list")


def subject_keys_of_person(settings, person_id: str) -> list[str]:
    """Every subject key of a resolved person: the keys of all their records, under their
    live id and every id merged into it (the views' person_records and person_aliases)."""
    from runtime.viewstore import open_view_store
    from runtime.viewstore.store import ViewStoreError

    try:
        store = open_view_store(settings)
    except ViewStoreError as exc:
        raise click.ClickException(f"{exc} — stop `justlink serve` first (chDB allows one process), "
                                   "or erase by --subject") from None
    try:
        rows = store.query_rows(
            "SELECT DISTINCT subject_key FROM person_records FINAL WHERE person_id = {p:String} OR person_id IN "
            "(SELECT retired_id FROM person_aliases FINAL WHERE person_id = {p:String}) "
            "OR person_id IN (SELECT person_id FROM person_redirects FINAL WHERE retired_id = {p:String})",
            {"p": person_id})
    finally:
        store.close()
    return sorted(k for (k,) in rows if k)


@click.command()
@click.option("--subject", "subjects", multiple=True,
              help="Subject key (32 hex) to erase; repeat for every key of a person.")
@click.option("--person", "person_id", default=None,
              help="A resolved person id: erase every subject key of all their records, in every agency.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def erase(ctx: click.Context, subjects: tuple[str, ...], person_id: str | None, yes: bool) -> None:
    """Crypto-shred data subjects: destroy their data keys. IRREVERSIBLE; audited."""
    if person_id:
        found = subject_keys_of_person(ctx.obj, person_id)
        if not found:
            raise click.ClickException(f"no records of person {person_id} in the views")
        subjects = (*subjects, *found)
    if not subjects:
        raise click.UsageError("give --subject KEY (repeatable) or --person ID")
    try:
        keys_to_erase = validate_subject_keys(subjects)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--subject") from None
    if not yes:
        click.confirm(
            f"Destroy the data keys of {len(keys_to_erase)} subject key(s)? Their fields become unreadable "
            "forever",
            abort=True,
        )
    store = _open(ctx)
    try:
        receipt = erase_subjects(store, keys_to_erase, requested_by=_operator())
    finally:
        store.close()
    click.echo(receipt.to_json())


def _operator() -> str:
    return os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown"
