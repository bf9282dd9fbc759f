"""`justlink resolve`: batch person resolution of a CSV with the streaming resolver."""

from __future__ import annotations

import time
from pathlib import Path

import click


@click.command()
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="CSV with header record_id,source,name,id_type,id_number,date_of_birth,gender,phone,address.")
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False),
              help="CSV to write: record_id,person_id, one row per input record.")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A trained model (from `justlink identity train` or --write-model): used as it is, no training.")
@click.option("--match-config", type=click.Path(exists=True, dir_okay=False), default=None,
              help="What to train: comparisons, levels, candidate rules (default streams/identity/resolve.toml).")
@click.option("--no-train", is_flag=True, help="Use the --match-config weights as they are instead of training.")
@click.option("--write-model", type=click.Path(dir_okay=False), default=None,
              help="Also write the model used (trained on this input) to this file.")
@click.option("--review", "review_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the possible matches left apart, best first, for clerical review: the two "
                   "record_ids, the score and each comparison's outcome and weight (no input values).")
@click.option("--decisions", "decisions_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Reviewers' decisions to respect: a CSV with record_a, record_b and decision (same | apart) - "
                   "the --review file with a decision column added.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar on stderr.")
def resolve(input_path: str, output_path: str, model_path: str | None, match_config: str | None, no_train: bool,
            write_model: str | None, review_path: str | None, decisions_path: str | None, progress: bool) -> None:
    """Group records that belong to the same person. Values are protected first (blind indexes,
    keyed gram sets) exactly as connectors protect them; matching never sees plaintext. The model's
    weights are learned from the input (expectation-maximisation, no labels) unless --model is given."""
    from streams.identity.batch import InputError, resolve_csv
    from streams.identity.config import RESOLVE_CONFIG, ConfigError, load_config

    started = time.perf_counter()
    if model_path and (match_config or no_train):
        raise click.UsageError("--model is a trained model: it takes neither --match-config nor --no-train")
    try:
        config = load_config(model_path or match_config or RESOLVE_CONFIG)
        summary = resolve_csv(Path(input_path), Path(output_path), config=config, train=not (model_path or no_train),
                              progress=progress, review_path=Path(review_path) if review_path else None,
                              decisions_path=Path(decisions_path) if decisions_path else None)
    except (InputError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    if write_model and summary.model is not None:
        from streams.identity.model import write_model as write

        write(summary.model, Path(write_model), f"model trained by `justlink resolve` on {summary.records} records")
    seconds = time.perf_counter() - started
    trained = ""
    if not (model_path or no_train):
        trained = (", weights trained on the input" if summary.model and summary.model.provenance
                   else ", too few records to train: the configured weights")
    review = f" in {review_path}" if review_path else " (--review FILE lists them)" if summary.possible_matches else ""
    click.echo(f"resolved {summary.records} records into {summary.persons} persons "
               f"({summary.merges} records joined to another, {summary.possible_matches} possible matches for review"
               f"{review}{trained}) in {seconds:.1f} s -> {output_path}", err=True)


@click.command()
@click.option("--follow", is_flag=True, help="Keep running and process new events as they arrive.")
@click.option("--no-views", is_flag=True, help="Only run the processors; do not project into the views.")
@click.pass_obj
def process(settings, follow: bool, no_views: bool) -> None:
    """Run the stream processors (identity, disputes, alerts) over the embedded log, then
    project the views. Resumes from the last snapshot and committed offsets."""
    from hub.bootstrap import Hub

    hub = Hub(settings)
    try:
        if follow:
            hub.start_background()
            click.echo("processing; Ctrl-C to stop")
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
            return
        stats = hub.process_until_idle()
        click.echo(f"processors: {stats.events} events -> {stats.outputs} decisions in {stats.seconds:.1f}s "
                   f"({stats.rate:,.0f} events/s); {stats.dead_lettered} dead-lettered")
        if not no_views:
            p = hub.project_until_idle()
            click.echo(f"views: {p.records} log records -> {p.rows} rows in {p.seconds:.1f}s")
    finally:
        hub.close()


@click.command()
@click.option("--engine", type=click.Choice(["partitioned", "faust"]), default="partitioned", show_default=True,
              help="partitioned: the staged topology on plain consumer groups (persons partitioned by name, "
                   "stories by county; same answers as the embedded runner). faust: the earlier faust-streaming "
                   "worker (one stage, partitioned by county; for single-county deployments).")
@click.option("--partitions", type=click.IntRange(1, 1024), default=None,
              help="Partitions of the stage topics (justlink.identity.in / justlink.stories.in, or faust's "
                   "justlink.pipeline.in) and of the outputs (default: topic_partitions).")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=500, show_default=True,
              help="Input records handled per batch.")
@click.option("--tick-every", "tick_every_s", type=click.FloatRange(0.1, 3600), default=None,
              help="Seconds between runs of the deadline rules on the worker's partitions (default: the "
                   "pipeline's, 60).")
@click.option("--loglevel", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
@click.option("--shuffle-fetches", "shuffle_seed", type=int, default=None, metavar="SEED",
              help="Testing (partitioned engine): interleave the fetched partitions at random by SEED, each "
                   "partition in its own order, as a cluster's fetches may. The answers must not change.")
@click.pass_obj
def worker(settings, engine: str, partitions: int | None, batch_size: int, tick_every_s: float | None,
           loglevel: str, shuffle_seed: int | None) -> None:
    """Run the stream processors as a worker over Kafka (settings.kafka_bootstrap_servers). Start more
    workers with the same settings to share the partitions. Serves /metrics and /healthz on
    metrics_host:worker_metrics_port (default 127.0.0.1:9464; the partitioned engine's /healthz is 503 when
    its loop stalls or has ended). Runs until stopped (Ctrl-C or SIGTERM)."""
    from runtime.kafka_security import KafkaSecurity
    from streams.runners.liveness import Liveness

    security = KafkaSecurity.from_settings(settings)
    liveness = Liveness()   # the partitioned engine's loop beats it; /healthz is 503 when it stalls or ends
    if settings.worker_metrics_port:   # /metrics and /healthz while the worker runs, whichever engine
        from runtime.metrics_http import MetricsServer

        try:
            MetricsServer(settings.metrics_host, settings.worker_metrics_port,
                          healthy=liveness.healthy if engine == "partitioned" else lambda: True).start()
        except OSError as exc:   # a taken port must not stop the processing: say so, and run without it
            click.echo(f"warning: {exc}; the worker runs without /metrics", err=True)
    if engine == "faust":
        if shuffle_seed is not None:
            raise click.UsageError("--shuffle-fetches is an option of the partitioned engine")
        from functools import partial

        from streams.pipeline import Pipeline
        from streams.runners.faust_app import WorkerConfig, run_worker

        config = WorkerConfig(bootstrap_servers=settings.kafka_servers, security=security,
                              partitions=partitions or settings.topic_partitions,
                              agency_partitions=settings.topic_partitions,
                              datadir=settings.data_dir / "faust", batch_size=batch_size, tick_every_s=tick_every_s,
                              pipeline_factory=partial(Pipeline.default, settings.data_dir))
        run_worker(config, loglevel=loglevel)
        return
    import logging
    import signal
    import threading

    from runtime.eventlog.kafka import KafkaEventLog
    from streams.runners.log import run_worker as run_partitioned

    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    event_log = KafkaEventLog(settings.kafka_servers, client_id=settings.kafka_client_id,
                              replication_factor=settings.kafka_replication_factor,
                              default_partitions=settings.topic_partitions, balance_partitions=True,
                              security=security)
    try:
        stats = run_partitioned(event_log, settings.data_dir / "worker", model_dir=settings.data_dir,
                                input_partitions=settings.topic_partitions,
                                stage_partitions=partitions or settings.topic_partitions, batch_size=batch_size,
                                tick_every_s=tick_every_s, stop=stop, shuffle_seed=shuffle_seed, liveness=liveness)
    finally:
        event_log.close()
    click.echo(f"worker stopped: {stats.events:,} records handled, {stats.outputs:,} outputs, "
               f"{stats.dead_lettered} dead-lettered")
