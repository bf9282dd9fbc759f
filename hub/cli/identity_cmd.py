"""`justlink identity train | explain | review`: the identity model of a data dir — learned from the
protected parties in the event log (no plaintext is read), explained link by link, reviewed by a
clerk whose decisions travel as events the resolver respects."""

from __future__ import annotations

from typing import Any

import click

from runtime.settings import Settings


@click.group()
def identity() -> None:
    """The person-resolution model: train it, explain a link, review possible matches."""


def _rows(settings: Settings) -> list[Any]:
    """Every natural-person party of the agency events in the log, as protected rows (record keys
    ``<event id>#<party index>``, as the streaming resolver names its occurrences)."""
    from hub.bootstrap import Hub
    from streams.identity.batch import rows_from_events
    from streams.identity.log import agency_events

    hub = Hub(settings)
    try:
        return rows_from_events(agency_events(hub.log))
    finally:
        hub.close()


@identity.command()
@click.option("--match-config", type=click.Path(exists=True, dir_okay=False), default=None,
              help="What to train (default: the data dir's model, else streams/identity/config.toml).")
@click.option("--accept", is_flag=True, help="Make the trained model the one the processors use.")
@click.pass_obj
def train(settings: Settings, match_config: str | None, accept: bool) -> None:
    """Estimate the model's weights from the records in the log (EM, no labels). Writes
    <data dir>/identity/model.proposed.toml and prints what changes; --accept (or
    `justlink identity accept`) makes it the model. Never replaces the model silently."""
    from streams.identity.batch import build_batch
    from streams.identity.config import load_config
    from streams.identity.model import accept_proposed, changes, load_model, proposed_path, write_model
    from streams.identity.training import estimate

    current = load_model(settings.data_dir)
    structure = load_config(match_config) if match_config else current
    rows = _rows(settings)
    if not rows:
        raise click.ClickException("no party records in the log: publish some with `justlink connector run` first")
    batch, _ = build_batch(rows, structure)
    model, report = estimate(structure, batch)
    path = write_model(model, proposed_path(settings.data_dir),
                       f"proposed by `justlink identity train` from {len(rows)} party records")
    click.echo(f"trained on {report.profiles:,} distinct profiles, {report.candidate_pairs:,} candidate pairs "
               f"({'converged' if report.converged else 'not converged'} after {report.iterations} EM steps); "
               f"expected matches {report.expected_matches:,.0f}")
    diff = changes(current, model)
    click.echo("changes against the current model:" if diff else "no change against the current model")
    for line in diff:
        click.echo(f"  {line}")
    if accept:
        click.echo(f"accepted: {accept_proposed(settings.data_dir)} (applies to records resolved from now on)")
    else:
        click.echo(f"proposed: {path} — review it, then `justlink identity accept`")


@identity.command()
@click.pass_obj
def accept(settings: Settings) -> None:
    """Make the proposed model (from `justlink identity train`) the processors' model."""
    from streams.identity.model import accept_proposed

    try:
        target = accept_proposed(settings.data_dir)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"accepted: {target} (applies to records resolved from now on; rebuild the processors' "
               "state to apply it to the past)")


def waterfall(explanation: Any, config: Any) -> list[str]:
    """Splink's waterfall as text: each comparison's level, weight and the running total."""
    rows = [f"{'comparison':<16} {'outcome':<9} {'similarity':>10} {'weight':>8} {'total':>8}"]
    total = 0.0
    for e in explanation.evidence:
        if e["weight"] == 0.0 and e["outcome"] != "missing" and e["attribute"] not in {c.attribute for c in
                                                                                      config.comparisons}:
            continue  # a secondary similarity, shown by its comparison
        total += e["weight"]
        similarity = "" if e["similarity"] is None else f"{e['similarity']:.2f}"
        bar = ("+" if e["weight"] > 0 else "-") * min(int(abs(e["weight"]) // 2), 20)
        rows.append(f"{e['attribute']:<16} {e['outcome']:<9} {similarity:>10} {e['weight']:>+8.2f} "
                    f"{total:>+8.2f}  {bar}")
    verdict = ("conflict: two different valid ID numbers, never one person" if explanation.conflict
               else "match" if explanation.score >= config.match_threshold
               else "possible match (for review)" if explanation.score >= config.possible_threshold else "no match")
    rows.append(f"{'score':<16} {'':<9} {'':>10} {explanation.score:>+8.2f}  -> {verdict} "
                f"(match >= {config.match_threshold:g}, possible >= {config.possible_threshold:g})")
    return rows


@identity.command()
@click.argument("record_a")
@click.argument("record_b")
@click.pass_obj
def explain(settings: Settings, record_a: str, record_b: str) -> None:
    """Why two party records (``<event id>#<party index>``) are or are not one person: the weight of
    each comparison under the current model, as a waterfall. Shows no personal data."""
    from streams.identity.compare import Scorer
    from streams.identity.model import load_model

    rows = {row.record_key: row for row in _rows(settings)}
    missing = [key for key in (record_a, record_b) if key not in rows]
    if missing:
        raise click.ClickException(f"no party record {', '.join(missing)} in the log "
                                   "(record keys look like <event id>#<party index>)")
    model = load_model(settings.data_dir)
    explanation = Scorer(model).explain(rows[record_a].profile(), rows[record_b].profile())
    for line in waterfall(explanation, model):
        click.echo(line)


@identity.command()
@click.option("--decide", nargs=3, type=(str, str, click.Choice(["same", "apart"])), default=None,
              metavar="RECORD_A RECORD_B same|apart", help="Record a reviewer's decision about two records.")
@click.option("--reviewer", default=None, help="Who decides (with --decide); default: your login name.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.pass_obj
def review(settings: Settings, decide: tuple[str, str, str] | None, reviewer: str | None, limit: int) -> None:
    """List the possible matches left apart (scores between the possible and the match threshold),
    best first; or, with --decide, publish a reviewer's decision (IdentityReviewDecided on
    justlink.identity.reviews) that the resolver applies and respects whatever arrives later."""
    if decide is not None:
        _publish_decision(settings, *decide, reviewer)
        return
    from streams.identity.batch import possible_matches
    from streams.identity.model import load_model

    model = load_model(settings.data_dir)
    pairs = possible_matches(_rows(settings), model)
    if not pairs:
        click.echo("no possible matches to review")
        return
    click.echo(f"{len(pairs)} possible matches (score between {model.possible_threshold:g} and "
               f"{model.match_threshold:g}); `justlink identity explain A B` shows why")
    for key_a, key_b, score in pairs[:limit]:
        click.echo(f"{score:>+8.2f}  {key_a}  {key_b}")


def _publish_decision(settings: Settings, key_a: str, key_b: str, decision: str, reviewer: str | None) -> None:
    import getpass

    from hub.bootstrap import Hub
    from schemas.wire import default_codec
    from streams.identity.events import review_decided

    who = reviewer or getpass.getuser()
    output = review_decided(key_a, key_b, decision, who)
    hub = Hub(settings)
    try:
        hub.log.create_topic(output.topic)  # as the processors' runners do; an existing topic is kept
        hub.log.append(output.topic, default_codec().encode(output.event_type, output.record), output.key.encode())
    finally:
        hub.close()
    click.echo(f"recorded: {key_a} and {key_b} are {'the same person' if decision == 'same' else 'kept apart'} "
               f"(by {who}); the resolver applies it when it processes the log")



