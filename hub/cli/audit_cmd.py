"""`justlink audit` — verify the hash-chained audit trail and export its public key."""

from __future__ import annotations

from pathlib import Path

import click

from hub.cli.person_cmd import local_time_option
from runtime.settings import Settings


def _public_key(settings: Settings, public_key_file: str | None):
    from consent.access.audit import SIGNING_KEY_FILE, AuditError, load_or_create_signing_key, load_public_key

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
    from consent.access.audit import read_trail
    from consent.access.audit import verify as verify_trail
    from runtime.eventlog import open_event_log

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
    from consent.access.audit import key_id, public_key_pem

    key = _public_key(settings, None)
    pem = public_key_pem(key)
    if out:
        Path(out).write_bytes(pem)
        click.echo(f"public key {key_id(key)} written to {out}", err=True)
    else:
        click.echo(pem.decode("ascii"), nl=False)


@audit.command()
@click.option("--token", envvar="JUSTLINK_TOKEN", required=True, help="A DPO's API token (or JUSTLINK_TOKEN).")
@local_time_option("--since", "Only accesses from this time on")
@local_time_option("--until", "Only accesses before this time")
@click.option("--user", default=None, help="Only this user's accesses.")
@click.option("--subject", default=None, help="Only accesses to this person (who looked at them, when, why).")
@click.option("--purpose", default=None, help="Only this purpose.")
@click.option("--section", type=click.Choice(["summary", "accesses", "by_user", "by_subject", "by_purpose",
                                              "denials", "break_glass", "anomalies"]), default="summary",
              show_default=True, help="Which part of the report to print.")
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Write the section as CSV to FILE ('-' for stdout).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@click.pass_obj
def report(settings: Settings, token: str, since, until, user: str | None, subject: str | None,
           purpose: str | None, section: str, csv_out: str | None, as_json: bool) -> None:
    """The DPO's report: accesses by user, by subject and by purpose; denials; break-glass uses;
    anomalies (bursts of lookups, off-hours access, no open case, repeated denials). Needs the dpo
    role; this look at the trail is itself audited."""
    import json

    from hub.cli.person_cmd import in_zone, person_access, run_refusable, zone_note
    from hub.services import dpo
    from hub.services.access import Caller

    with person_access(settings) as access:   # through the running server when one holds the views
        data = run_refusable(lambda: access.audit_report(
            Caller(token, "dpo", "audit"), since=in_zone(settings, since), until=in_zone(settings, until), user=user,
            subject=subject, purpose=purpose))
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        return
    if csv_out:
        if section == "summary":
            raise click.ClickException("--csv needs a --section other than summary")
        text = dpo.to_csv(section, data[section])
        if csv_out == "-":
            click.echo(text, nl=False)
        else:
            Path(csv_out).write_text(text, encoding="utf-8")
            click.echo(f"{len(data[section])} rows of {section} written to {csv_out}", err=True)
        return
    if section == "summary":
        s = data["summary"]
        click.echo(f"accesses{zone_note(settings, since, until)} {s['accesses']}  allowed {s['allowed']}  denied {s['denied']}  "
                   f"unauthenticated {s['unauthenticated']}  break-glass {s['break_glass']}  users {s['users']}  "
                   f"subjects {s['subjects']}  anomalies {len(data['anomalies'])}")
        for anomaly in data["anomalies"][:20]:
            click.echo(f"  {anomaly['kind']:<17} {anomaly['user']:<18} {anomaly['subject'] or '-':<20} "
                       f"{anomaly['from_local']}  {anomaly['detail']}")
        return
    columns = dpo.CSV_COLUMNS[section]
    click.echo("\t".join(columns))
    for row in data[section]:
        click.echo("\t".join(dpo.cell(row.get(c)) for c in columns))
