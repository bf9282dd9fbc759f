"""Whether a worker is alive, for its /healthz (runtime/metrics_http.py) and so for the liveness probe that
restarts it (infra/k8s/hub-worker.yaml).

The worker's loop beats on every round: after each poll (0.5 s when idle), each batch and each snapshot.
/healthz answers 503 once no beat came for `STALL_AFTER_S` — the loop is stuck (a broker call that never
returns, a deadlock) although the process is still there — and once the loop has ended (stopped, or failed
with an error). A batch or a snapshot longer than that is a stall too: at the default batch size a batch
takes seconds, a snapshot of a county's partition about one; `STALL_AFTER_S` leaves room for a province's.
A restarted worker loses nothing: it resumes from its snapshots and the group's committed offsets.
"""

from __future__ import annotations

import time
from collections.abc import Callable

STALL_AFTER_S = 300.0


class Liveness:
    def __init__(self, stall_after_s: float = STALL_AFTER_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_after_s = stall_after_s
        self._clock = clock
        self._last = clock()     # starting (imports, topics, the group join) counts as alive
        self._ended = False

    def beat(self) -> None:
        self._last = self._clock()

    def ended(self) -> None:
        self._ended = True

    def healthy(self) -> bool:
        return not self._ended and self._clock() - self._last <= self.stall_after_s
