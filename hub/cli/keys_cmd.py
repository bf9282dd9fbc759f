"""`justlink keys ...` (keystore) and `justlink erase` (crypto-shredding of data subjects)."""

from __future__ import annotations

import click

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


@keys.command("reapply-erasures")
@click.pass_context
def reapply_erasures(ctx: click.Context) -> None:
    """After restoring a keystore backup: destroy again the data keys of every erasure on the log
    (PersonErased), which the backup may still hold. Only re-does what DPOs decided."""
    from consent.privacy.erasure import erase_subjects
    from runtime.eventlog import open_event_log
    from runtime.topics import IDENTITY_TOPIC
    from schemas.wire import default_codec

    codec = default_codec()
    subject_keys: set[str] = set()
    with open_event_log(_settings(ctx)) as log:
        log.create_topic(IDENTITY_TOPIC)
        with log.consumer("justlink.keys.reapply-erasures", [IDENTITY_TOPIC], from_beginning=True) as consumer:
            consumer.seek_to_beginning()
            while batch := consumer.poll(5000, timeout_s=0.0):
                for record in batch:
                    event_type, fields = codec.decode(record.value)
                    if event_type == "PersonErased":
                        subject_keys.update(fields["subject_keys"])
    if not subject_keys:
        click.echo("no erasures on the log")
        return
    store = _open(ctx)
    try:
        receipt = erase_subjects(store, sorted(subject_keys), requested_by="reapply-erasures")
    finally:
        store.close()
    click.echo(f"{len(subject_keys)} subject keys of past erasures: {len(receipt.destroyed)} destroyed again, "
               f"{len(receipt.already_erased)} already erased, {len(receipt.not_found)} not in this keystore")


@click.command()
@click.option("--person", "person_id", required=True, help="The person's id (a retired id names the same person).")
@click.option("--token", envvar="JUSTLINK_TOKEN", required=True, help="A DPO's API token (or JUSTLINK_TOKEN).")
@click.option("--request", "request", required=True,
              help="What the erasure answers: request:<ref> (the data subject's request), complaint:<ref> or "
                   "audit:<ref> — recorded in the audit trail.")
@click.option("--reason", type=click.Choice(["subject_request", "consent_withdrawn", "unlawful_processing",
                                             "retention_expired", "court_order"]), required=True,
              help="Why the person is erased (recorded in the audit trail).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (the person is still named first).")
@click.pass_context
def erase(ctx: click.Context, person_id: str, token: str, request: str, reason: str, yes: bool) -> None:
    """Erase a person (crypto-shredding): destroy the data keys of every record of theirs, in every
    agency. Needs a DPO's token; names the person before asking; records who decided, why and for which
    request in the audit trail; the views then drop the person's rows. IRREVERSIBLE."""
    import json

    from hub.cli.person_cmd import run_refusable
    from hub.cli.remote import RemotePersonAccess, running_server
    from hub.services.access import Caller

    settings = _settings(ctx)
    caller = Caller(token, "dpo", "erasure", request)

    def ask(preview, erase) -> dict:
        who = run_refusable(preview)
        agencies = ", ".join(f"{agency} {count}" for agency, count in who["by_agency"].items()) or "none"
        click.echo(f"person {who['person_id']}: {who['name'] or '(name unreadable)'}, ID number "
                   f"{who['id_number'] or '-'}; {who['records']} records ({agencies}); {who['dead_letters']} "
                   f"dead letters; {who['subject_keys']} data keys; ids {', '.join(who['ids'])}")
        if not yes:
            click.confirm(f"Destroy every data key of {who['person_id']}? Their fields become unreadable "
                          "everywhere, forever", abort=True)
        return run_refusable(erase)

    url = running_server(settings.data_dir)
    if url is not None:  # the server holds the views and the audit trail: ask it
        remote = RemotePersonAccess(url)
        try:
            receipt = ask(lambda: remote.erasure_preview(caller, person_id),
                          lambda: remote.erase(caller, person_id, reason))
        finally:
            remote.close()
        click.echo(json.dumps(receipt, ensure_ascii=False))
        return

    from hub.bootstrap import Hub
    from hub.services import erasure
    from hub.services.access import PersonAccess
    from hub.services.context import AppServices

    hub = Hub(settings)
    try:
        hub.claim("views")
        services = AppServices.build(settings, hub.log, hub.view_store, hub.protector)
        try:
            access = PersonAccess(services)
            receipt = ask(lambda: erasure.preview(access, caller, person_id),
                          lambda: erasure.erase(access, caller, person_id, reason))
        finally:
            services.close()
        hub.project_until_idle()  # the views drop the person's rows now
    finally:
        hub.close()
    click.echo(json.dumps(receipt, ensure_ascii=False))
