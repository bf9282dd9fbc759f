"""`justlink audit` — verify the signed, hash-chained audit trail against a pinned key; export the key
and the latest signed head; the DPO's report."""

from __future__ import annotations

from pathlib import Path

import click

from hub.cli.person_cmd import local_time_option
from runtime.settings import Settings


def _anchor(settings: Settings, public_key_file: str | None, fingerprint: str | None):
    """The trust anchor the DPO pinned: --public-key FILE, --fingerprint HEX, or the setting
    audit_key_fingerprint. Never the key in the data directory: whoever can write there could replace it."""
    from consent.access.audit import AuditError, TrustAnchor, load_public_key

    try:
        if public_key_file:
            return TrustAnchor.of_key(load_public_key(Path(public_key_file).read_bytes()), f"--public-key {public_key_file}")
        if fingerprint:
            return TrustAnchor.of_fingerprint(fingerprint, "--fingerprint")
        if settings.audit_key_fingerprint:
            return TrustAnchor.of_fingerprint(settings.audit_key_fingerprint, "setting audit_key_fingerprint")
    except (AuditError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    return None


def _read(settings: Settings):
    from consent.access.audit import read_trail
    from runtime.eventlog import open_event_log

    with open_event_log(settings) as log:
        return read_trail(log)


@click.group()
def audit() -> None:
    """The audit trail of every access: verify it, export its key and its signed head, report on it."""


@audit.command()
@click.option("--public-key", "public_key_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Trust this exported public key (`audit export-key`), kept outside the data directory.")
@click.option("--fingerprint", default=None, help="Trust the key with this fingerprint (64 hex); default: the "
              "setting audit_key_fingerprint.")
@click.option("--against", "against_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="A head kept earlier (`audit export-head`): the trail must still extend it.")
@click.pass_obj
def verify(settings: Settings, public_key_file: str | None, fingerprint: str | None,
           against_file: str | None) -> None:
    """Check every record (chain, hash, signature) and every signed head against the pinned key, and
    the trail against a kept head. Exits 1 naming the first bad record if anything was altered,
    forged, removed, reordered or truncated, or if the key is not the pinned one."""
    from consent.access.audit import AuditError, SignedHead
    from consent.access.audit import verify as verify_trail

    records, heads = _read(settings)
    anchor = _anchor(settings, public_key_file, fingerprint)
    if anchor is None:
        if not records and not heads:
            click.echo("OK: no accesses recorded yet: nothing to verify")
            return
        raise click.ClickException(
            "no trust anchor: verifying against the key in the data directory proves nothing (whoever can write "
            "there can replace it). Export the key once with `justlink audit export-key --out FILE`, keep FILE "
            "outside the data directory, then pass --public-key FILE, or pin its fingerprint with --fingerprint "
            "or the setting audit_key_fingerprint")
    against = None
    if against_file:
        try:
            against = SignedHead.from_json(Path(against_file).read_text(encoding="utf-8"), against_file)
        except (AuditError, OSError, UnicodeDecodeError) as exc:
            raise click.ClickException(str(exc)) from None
    result = verify_trail(records, heads, anchor, against=against)
    if result.ok:
        click.echo(f"OK: {result.reason}")
        return
    click.echo(f"FAILED: first bad record is seq {result.first_bad_seq}: {result.reason}", err=True)
    raise SystemExit(1)


@audit.command("export-key")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write to FILE instead of stdout.")
@click.pass_obj
def export_key(settings: Settings, out: str | None) -> None:
    """Print the audit key's Ed25519 public key (PEM) and, on stderr, its fingerprint: keep either
    outside the data directory and verify against it."""
    from consent.access.audit import AuditError, fingerprint, load_or_create_signing_key, public_key_pem

    try:
        key = load_or_create_signing_key(settings.data_dir).public_key()
    except (AuditError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    pem = public_key_pem(key)
    if out:
        Path(out).write_bytes(pem)
        click.echo(f"public key written to {out}", err=True)
    else:
        click.echo(pem.decode("ascii"), nl=False)
    click.echo(f"fingerprint {fingerprint(key)} (pin it: audit_key_fingerprint in justlink.toml)", err=True)


@audit.command("export-head")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write to FILE instead of stdout.")
@click.pass_obj
def export_head(settings: Settings, out: str | None) -> None:
    """Print the trail's latest signed head (size, head hash, signature) as JSON. Keep it (a DPO's
    copy, a witness): `audit verify --against FILE` later proves that nothing it covers was cut off
    or rewritten."""
    from consent.access.audit import read_head

    _, heads = _read(settings)
    latest = None
    for raw in heads:
        head = read_head(raw)
        if head is not None and (latest is None or head.size >= latest.size):
            latest = head
    if latest is None:
        raise click.ClickException("no signed head yet: the trail has no records (or its heads were deleted: "
                                   "run `justlink audit verify`)")
    text = latest.to_json()
    if out:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"head of {latest.size} records (key {latest.key_id}) written to {out}", err=True)
    else:
        click.echo(text, nl=False)


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
