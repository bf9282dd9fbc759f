"""`justlink generate`: synthetic exports of the four agencies of one county (or of several counties of
one prefecture, with people who move between them), with ground truth."""

from __future__ import annotations

import time
from pathlib import Path

import click


@click.command()
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output directory (agency exports, truth/, manifest.json; with several counties one "
                   "folder per county, named by its division code).")
@click.option("--persons", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Number of synthetic persons (in all counties together).")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed -> byte-identical output.")
@click.option("--counties", type=click.IntRange(min=1), default=1, show_default=True,
              help="Counties of the prefecture; the first is 清源县 (411730), then 411731, 411732, ...")
@click.option("--movers", type=click.FloatRange(0, 0.5), default=None,
              help="Share of persons who move to another county (several counties only)  [default: 0.06]")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def generate(out: Path, persons: int, seed: int, counties: int, movers: float | None, quiet: bool) -> None:
    """Write realistic synthetic exports of court, police, civil affairs and the justice bureau."""
    from tqdm import tqdm

    from connectors.synthetic.generator import MOVERS
    from connectors.synthetic.generator import generate as run

    started = time.perf_counter()
    try:
        with tqdm(total=persons, unit="persons", disable=quiet, file=click.get_text_stream("stderr")) as bar:
            manifest = run(out, persons, seed, progress=bar.update, counties=counties,
                           movers=MOVERS if movers is None else movers)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    elapsed = time.perf_counter() - started
    rows = sum(c["rows"] for c in manifest["counties"]) if "counties" in manifest else \
        sum(f["rows"] for f in manifest["files"].values())
    where = f"{counties} counties under {out}" if counties > 1 else str(out)
    moved = f", {manifest['movers']['persons']} of them moved between counties" if counties > 1 else ""
    click.echo(f"wrote {rows} export rows for {persons} persons{moved} to {where} "
               f"in {elapsed:.1f} s ({persons / elapsed:,.0f} persons/s)")
