"""`justlink generate`: synthetic exports of the four agencies of one county, with ground truth."""

from __future__ import annotations

import time
from pathlib import Path

import click


@click.command()
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output directory (agency exports, truth/, manifest.json).")
@click.option("--persons", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Number of synthetic persons in the county.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed -> byte-identical output.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def generate(out: Path, persons: int, seed: int, quiet: bool) -> None:
    """Write realistic synthetic exports of court, police, civil affairs and the justice bureau."""
    from tqdm import tqdm

    from connectors.synthetic.generator import generate as run

    started = time.perf_counter()
    with tqdm(total=persons, unit="persons", disable=quiet, file=click.get_text_stream("stderr")) as bar:
        manifest = run(out, persons, seed, progress=bar.update)
    elapsed = time.perf_counter() - started
    rows = sum(f["rows"] for f in manifest["files"].values())
    click.echo(f"wrote {rows} export rows for {persons} persons to {out} "
               f"in {elapsed:.1f} s ({persons / elapsed:,.0f} persons/s)")
