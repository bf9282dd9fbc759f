"""`justlink resolve`: batch person resolution of a CSV with the streaming resolver."""

from __future__ import annotations

import time

import click


@click.command()
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="CSV with header record_id,source,name,id_type,id_number,date_of_birth,gender,phone,address.")
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False),
              help="CSV to write: record_id,person_id, one row per input record.")
@click.option("--match-config", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Matching model (default streams/identity/config.toml).")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar on stderr.")
def resolve(input_path: str, output_path: str, match_config: str | None, progress: bool) -> None:
    """Group records that belong to the same person. Values are protected first (blind indexes,
    linkage encodings) exactly as connectors protect them; matching never sees plaintext."""
    from streams.identity.batch import InputError, resolve_csv
    from streams.identity.config import ConfigError, load_config
    from streams.identity.processor import IdentityProcessor

    started = time.perf_counter()
    try:
        processor = IdentityProcessor(load_config(match_config))
        summary = resolve_csv(input_path, output_path, progress=progress, processor=processor)
    except (InputError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    seconds = time.perf_counter() - started
    click.echo(f"resolved {summary.records} records into {summary.persons} persons "
               f"({summary.merges} merges, {summary.possible_matches} possible matches for review) "
               f"in {seconds:.1f} s -> {output_path}", err=True)
