"""The embedded deployment in one process: the processors (identity, disputes,
alerts) over the embedded log, the projector into chDB, and — in `justlink serve` —
the API on top. chDB locks its data path to one process, so these share one.
Top layer: imported by the CLI only."""

from __future__ import annotations

import logging
import threading
import time
from functools import cached_property

from hub.settings import Settings
from hub.topics import ALERTS_TOPIC, DISPUTES_TOPIC, IDENTITY_TOPIC, RESOLVED_TOPIC
from hub.wiring import Hub

log = logging.getLogger("justlink.embedded")
PROCESSORS_GROUP = "justlink-processors"


class EmbeddedHub(Hub):
    """Hub plus the stream processors and views of the embedded deployment."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @cached_property
    def pipeline(self):
        from streams.pipeline import Pipeline

        alerts = None
        try:
            from streams.alerts.processor import AlertsProcessor
        except ImportError:  # the alerts processor is optional until its package lands
            AlertsProcessor = None  # noqa: N806
        if AlertsProcessor is not None:
            alerts = AlertsProcessor()
        return Pipeline(alerts=alerts)

    @cached_property
    def runner(self):
        from hub.eventlog.embedded import EmbeddedEventLog
        from streams.runners.embedded import EmbeddedRunner

        if not isinstance(self.log, EmbeddedEventLog):
            raise RuntimeError("the embedded runner needs log_backend = 'embedded'; use `justlink worker` on Kafka")
        return EmbeddedRunner(self.log, self.pipeline.handle, self.pipeline.input_topics,
                              self.settings.data_dir / "state" / "processors.pickle", group=PROCESSORS_GROUP,
                              output_topics=(IDENTITY_TOPIC, DISPUTES_TOPIC, RESOLVED_TOPIC, ALERTS_TOPIC),
                              tick=self.pipeline.tick)

    @cached_property
    def view_store(self):
        from hub.viewstore import open_view_store

        store = open_view_store(self.settings)
        store.migrate()
        return store

    @cached_property
    def projector(self):
        from streams.views.projector import ViewProjector

        return ViewProjector(self.view_store)

    # -- one-shot -------------------------------------------------------------------------------
    def process_until_idle(self):
        return self.runner.run(until_idle=True)

    def project_until_idle(self):
        from streams.views.runner import run_projector

        return run_projector(self.log, self.projector, until_idle=True)

    # -- background loops (serve) ------------------------------------------------------------------
    def start_background(self) -> None:
        from streams.views.runner import run_projector

        def loop(name, fn):
            def body():
                while not self._stop.is_set():
                    try:
                        fn()
                    except Exception:  # keep serving; the error is logged without personal data
                        log.exception("%s loop failed; retrying in 2 s", name)
                        self._stop.wait(2.0)
            thread = threading.Thread(target=body, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

        if self.settings.log_backend == "embedded":
            loop("processors", lambda: self.runner.run(until_idle=False, stop=self._stop))
        # on Kafka the processors run in `justlink worker`; this process projects and serves
        loop("projector", lambda: run_projector(self.log, self.projector, until_idle=False, stop=self._stop))

    def stop_background(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        self.stop_background()
        store = self.__dict__.pop("view_store", None)
        if store is not None:
            store.close()
        super().close()
